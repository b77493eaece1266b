/**
 * Tools of `@modelcontextprotocol/server-everything` that exercise the protocol beyond a plain call: progress,
 * structured output, images, resource links and embedded resources, and the server-to-client requests (sampling,
 * elicitation, roots) that only a client declaring the matching capability is offered.
 *
 * Every test runs against server-everything directly (proving the expectation) and through the proxy (proving
 * the proxy), over Streamable HTTP and over legacy SSE.
 */
import type {
  ClientCapabilities,
  CreateMessageRequest,
  ElicitRequest,
  ElicitResult,
  Root,
} from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { startEverything } from '../fixtures/everything.js';
import { connectDirect } from '../helpers/direct.js';
import { HTTP_TRANSPORTS, openTestSession, upstreamForSuite, VIAS, waitUntil } from '../helpers/session.js';

/** Every capability whose tools server-everything registers only for a client that declares it. */
const ALL_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};
const CAPABILITY_TOOLS = [
  'get-roots-list',
  'trigger-elicitation-request',
  'trigger-sampling-request',
  'trigger-url-elicitation',
];

function texts(content: ReadonlyArray<{ type: string }>): string {
  return content.map((block) => ('text' in block && typeof block.text === 'string' ? block.text : '')).join('\n');
}

describe.each(HTTP_TRANSPORTS)('server-everything tools over $kind', ({ kind, transport }) => {
  const upstream = upstreamForSuite(transport, () => startEverything(kind));

  describe.each(VIAS)('%s', (via) => {
    it('offers the capability-dependent tools exactly when the client declares the capabilities', async () => {
      const plain = await openTestSession(via, upstream);
      const plainNames = (await plain.client.listTools()).tools.map((tool) => tool.name);
      expect(plainNames).toContain('echo');
      for (const name of CAPABILITY_TOOLS) expect(plainNames).not.toContain(name);

      const capable = await openTestSession(via, upstream, { capabilities: ALL_CAPABILITIES });
      const { tools } = await capable.client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(CAPABILITY_TOOLS));
      // ...and the same definitions a direct client with the same capabilities is given.
      const reference = await connectDirect(upstream.url, transport, { capabilities: ALL_CAPABILITIES });
      try {
        const expected = (await reference.listTools()).tools;
        // A 2026-07-28 tool definition has no `execution` (that era's tasks are an extension the server decides on).
        const offered = via === 'proxy-2026' ? expected.map(({ execution: _tasks, ...tool }) => tool) : expected;
        expect(tools).toEqual(offered);
      } finally {
        await reference.close();
      }
    });

    it('relays the progress of a long-running operation, then its result', async () => {
      const { client } = await openTestSession(via, upstream);
      const progress: { progress: number; total?: number }[] = [];
      const result = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.8, steps: 4 } },
        { onprogress: ({ progress: value, total }) => progress.push({ progress: value, total }), timeout: 15_000 },
      );
      expect(result.content).toEqual([
        { type: 'text', text: 'Long running operation completed. Duration: 0.8 seconds, Steps: 4.' },
      ]);
      // The last notification may race the result and be dropped by the client SDK; the first three cannot.
      expect(progress.slice(0, 3)).toEqual([
        { progress: 1, total: 4 },
        { progress: 2, total: 4 },
        { progress: 3, total: 4 },
      ]);
      expect(progress.length).toBeLessThanOrEqual(4);
    });

    it('passes structured content and the output schema through', async () => {
      const { client } = await openTestSession(via, upstream);
      const tool = (await client.listTools()).tools.find((candidate) => candidate.name === 'get-structured-content');
      expect(tool?.outputSchema).toMatchObject({
        type: 'object',
        properties: { temperature: { type: 'number' }, conditions: { type: 'string' }, humidity: { type: 'number' } },
      });
      const result = await client.callTool({ name: 'get-structured-content', arguments: { location: 'Chicago' } });
      const weather = { temperature: 36, conditions: 'Light rain / drizzle', humidity: 82 };
      expect(result.structuredContent).toEqual(weather);
      expect(result.content).toEqual([{ type: 'text', text: JSON.stringify(weather) }]);
    });

    it('passes an image block through byte for byte', async () => {
      const { client } = await openTestSession(via, upstream);
      const result = await client.callTool({ name: 'get-tiny-image', arguments: {} });
      expect(result.content.map((block) => block.type)).toEqual(['text', 'image', 'text']);
      const image = result.content[1];
      expect(image).toMatchObject({ type: 'image', mimeType: 'image/png' });
      const bytes = Buffer.from(image?.type === 'image' ? image.data : '', 'base64');
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(bytes.length).toBeGreaterThan(1000);
    });

    it('passes resource links through, and a linked resource can be read', async () => {
      const { client } = await openTestSession(via, upstream);
      const result = await client.callTool({ name: 'get-resource-links', arguments: { count: 4 } });
      expect(result.content[0]).toEqual({
        type: 'text',
        text: 'Here are 4 resource links to resources available in this server:',
      });
      expect(result.content.slice(1)).toEqual(
        ['blob/1', 'text/2', 'blob/3', 'text/4'].map((path) =>
          expect.objectContaining({
            type: 'resource_link',
            uri: `demo://resource/dynamic/${path}`,
            mimeType: 'text/plain',
          }),
        ),
      );
      const read = await client.readResource({ uri: 'demo://resource/dynamic/text/2' });
      expect(read.contents).toEqual([
        expect.objectContaining({
          uri: 'demo://resource/dynamic/text/2',
          text: expect.stringMatching(/^Resource 2: /),
        }),
      ]);
    });

    it('passes an embedded resource through', async () => {
      const { client } = await openTestSession(via, upstream);
      const result = await client.callTool({
        name: 'get-resource-reference',
        arguments: { resourceType: 'Blob', resourceId: 9 },
      });
      expect(result.content).toHaveLength(3);
      const embedded = result.content[1];
      expect(embedded).toMatchObject({
        type: 'resource',
        resource: { uri: 'demo://resource/dynamic/blob/9', mimeType: 'text/plain' },
      });
      const blob = embedded?.type === 'resource' && 'blob' in embedded.resource ? embedded.resource.blob : '';
      expect(Buffer.from(blob, 'base64').toString('utf8')).toMatch(/^Resource 9: This is a base64 blob created at /);
    });

    it("sends the upstream's sampling request to the client and its answer back", async () => {
      const requests: CreateMessageRequest['params'][] = [];
      const { client } = await openTestSession(via, upstream, {
        capabilities: { sampling: {} },
        setup: (client) =>
          client.setRequestHandler('sampling/createMessage', (request) => {
            requests.push(request.params);
            return {
              model: 'test-model-7',
              role: 'assistant',
              content: { type: 'text', text: 'sampled: forty-two' },
              stopReason: 'endTurn',
            };
          }),
      });
      const result = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'what is six times seven?', maxTokens: 33 },
      });
      expect(requests).toEqual([
        expect.objectContaining({
          messages: [
            {
              role: 'user',
              content: { type: 'text', text: 'Resource trigger-sampling-request context: what is six times seven?' },
            },
          ],
          systemPrompt: 'You are a helpful test server.',
          maxTokens: 33,
          temperature: 0.7,
        }),
      ]);
      const answer = texts(result.content);
      expect(answer).toMatch(/^LLM sampling result: /);
      expect(answer).toContain('"model": "test-model-7"');
      expect(answer).toContain('"text": "sampled: forty-two"');
    });

    it('sends a form elicitation to the client and the accepted content back', async () => {
      const requests: ElicitRequest['params'][] = [];
      const { client } = await openTestSession(via, upstream, {
        capabilities: { elicitation: { form: {} } },
        setup: (client) =>
          client.setRequestHandler('elicitation/create', (request): ElicitResult => {
            requests.push(request.params);
            return {
              action: 'accept',
              content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com', integer: 7 },
            };
          }),
      });
      const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({
        message: 'Please provide inputs for the following fields:',
        requestedSchema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      });
      const answer = texts(result.content);
      expect(answer).toContain('✅ User provided the requested information!');
      expect(answer).toContain('- Name: Ada Lovelace');
      expect(answer).toContain('- Agreed to terms: true');
      expect(answer).toContain('- Email: ada@example.com');
      expect(answer).toContain('- Favorite Integer: 7');
    });

    it('sends a form elicitation to the client and its decline back', async () => {
      let asked = 0;
      const { client } = await openTestSession(via, upstream, {
        capabilities: { elicitation: { form: {} } },
        setup: (client) =>
          client.setRequestHandler('elicitation/create', () => {
            asked++;
            return { action: 'decline' };
          }),
      });
      const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(asked).toBe(1);
      const answer = texts(result.content);
      expect(answer).toContain('❌ User declined to provide the requested information.');
      expect(answer).not.toContain('User inputs:');
    });

    it('sends a URL elicitation to the client and its answer back', async () => {
      const requests: ElicitRequest['params'][] = [];
      const { client } = await openTestSession(via, upstream, {
        capabilities: { elicitation: { form: {}, url: {} } },
        setup: (client) =>
          client.setRequestHandler('elicitation/create', (request) => {
            requests.push(request.params);
            return { action: 'accept' };
          }),
      });
      const result = await client.callTool({
        name: 'trigger-url-elicitation',
        arguments: { url: 'https://example.com/consent', elicitationId: 'elicitation-17', message: 'Open it' },
      });
      // The 2026-07-28 revision dropped `elicitationId` from URL elicitation (with the completion notification it
      // keyed): a client of that era is asked without it, and the upstream still gets its own id back.
      const id = via === 'proxy-2026' ? {} : { elicitationId: 'elicitation-17' };
      expect(requests).toEqual([{ mode: 'url', url: 'https://example.com/consent', ...id, message: 'Open it' }]);
      const answer = texts(result.content);
      expect(answer).toContain('✅ User completed the URL elicitation flow.');
      expect(answer).toContain('Elicitation ID: elicitation-17');
    });

    // A 2025-era upstream asks for roots outside any call (after initialize, after roots/list_changed): a
    // 2026-07-28 client can only be asked within a request of its own, and sends no roots/list_changed.
    it.skipIf(via === 'proxy-2026')("shows the upstream the client's roots, and their changes", async () => {
      let roots: Root[] = [{ uri: 'file:///work/project-a', name: 'Project A' }];
      let asked = 0;
      const { client } = await openTestSession(via, upstream, {
        capabilities: { roots: { listChanged: true } },
        setup: (client) =>
          client.setRequestHandler('roots/list', () => {
            asked++;
            return { roots };
          }),
      });
      const first = texts((await client.callTool({ name: 'get-roots-list', arguments: {} })).content);
      expect(asked).toBeGreaterThanOrEqual(1);
      expect(first).toContain('Current MCP Roots (1 total)');
      expect(first).toContain('1. Project A\n   URI: file:///work/project-a');

      // Told the roots changed, the upstream asks again; its tool shows them once it has the answer.
      roots = [...roots, { uri: 'file:///work/project-b', name: 'Project B' }];
      await client.sendRootsListChanged();
      let second = '';
      await waitUntil(
        'the upstream to show 2 roots',
        () => second.includes('Current MCP Roots (2 total)'),
        5_000,
        async () => {
          second = texts((await client.callTool({ name: 'get-roots-list', arguments: {} })).content);
        },
      );
      expect(asked).toBeGreaterThanOrEqual(2);
      expect(second).toContain('2. Project B\n   URI: file:///work/project-b');
    });

    // The 2026-07-28 revision has no ping (its SDK client refuses to send one).
    it.skipIf(via === 'proxy-2026')('answers a ping', async () => {
      const { client } = await openTestSession(via, upstream);
      await expect(client.ping()).resolves.toEqual({});
    });
  });
});
