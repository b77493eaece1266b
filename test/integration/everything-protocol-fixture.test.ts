/**
 * The part of the protocol coverage that `@modelcontextprotocol/server-everything` cannot show, against our own
 * fixture upstream (an SDK server on 127.0.0.1, `test/fixtures/upstreams.ts`) instead:
 * - cancellation: server-everything's long-running tool ignores its abort signal and records nothing, so whether a
 *   cancellation reached it is not observable; the fixture's `slow` tool records every abort of its request signal;
 * - audio content: no server-everything tool answers with an audio block; the fixture's `image` tool does;
 * - pagination of resources/list: server-everything (2026.8.31) has 7 resources and answers them in one page; here
 *   the fixture (through its `extend` hook) serves 25 in pages of 10.
 *
 * Same body directly and through the proxy, over Streamable HTTP and legacy SSE, like the server-everything tests.
 */
import { ProtocolError, ProtocolErrorCode, type Server } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_PNG_BASE64, FIXTURE_WAV_BASE64, startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { connectDirect } from '../helpers/direct.js';
import { openTestSession, type UpstreamUnderTest, VIAS, waitUntil, walkPages } from '../helpers/session.js';

const RESOURCES = 25;
const PAGE_SIZE = 10;
const resourceUri = (index: number) => `fixture://resource/${String(index).padStart(3, '0')}`;

/** Serves `RESOURCES` text resources, `PAGE_SIZE` a page (the cursor is the next offset), and reads them. */
function serveManyResources(server: Server): void {
  server.registerCapabilities({ resources: {} });
  server.setRequestHandler('resources/templates/list', () => ({ resourceTemplates: [] }));
  server.setRequestHandler('resources/list', (request) => {
    const offset = Number(request.params?.cursor ?? 0);
    const next = Math.min(offset + PAGE_SIZE, RESOURCES);
    const resources = [];
    for (let index = offset; index < next; index++) {
      resources.push({ uri: resourceUri(index), name: `resource ${index}`, mimeType: 'text/plain' });
    }
    return { resources, ...(next < RESOURCES && { nextCursor: String(next) }) };
  });
  server.setRequestHandler('resources/read', (request) => {
    const { uri } = request.params;
    const index = Array.from({ length: RESOURCES }, (_, i) => resourceUri(i)).indexOf(uri);
    if (index < 0) throw new ProtocolError(ProtocolErrorCode.ResourceNotFound, `Resource ${uri} not found`);
    return { contents: [{ uri, mimeType: 'text/plain', text: `resource number ${index}` }] };
  });
}

describe.each([
  { kind: 'streamable-http' as const, transport: 'http' as const },
  { kind: 'sse' as const, transport: 'sse' as const },
])('fixture upstream over $kind', ({ kind, transport }) => {
  let fixture: UpstreamFixture;
  let upstream: UpstreamUnderTest;

  beforeAll(async () => {
    fixture = await startUpstream({ kind, extend: serveManyResources });
    upstream = { url: fixture.url, transport };
  });
  afterAll(async () => {
    await fixture?.close();
  });

  describe.each(VIAS)('%s', (via) => {
    it('cancels a long call at the upstream when the client aborts it', async () => {
      const { client } = await openTestSession(via, upstream);
      const callsBefore = fixture.counters.callTool;
      const cancellationsBefore = fixture.cancellations.length;
      const abort = new AbortController();
      const outcome = client
        .callTool({ name: 'slow', arguments: { ms: 60_000 } }, { signal: abort.signal })
        .then((result) => ({ settled: 'resolved' as const, result }))
        .catch((error: unknown) => ({ settled: 'rejected' as const, error }));

      await waitUntil('the upstream to receive the call', () => fixture.counters.callTool > callsBefore);
      abort.abort(new Error('the user stopped it'));
      // The caller learns at once; the 60 s call never answers.
      expect(await outcome).toMatchObject({ settled: 'rejected' });
      await waitUntil('the upstream to see the cancellation', () => fixture.cancellations.length > cancellationsBefore);
      expect(fixture.cancellations.slice(cancellationsBefore)).toEqual(['slow']);
    });

    it('passes image and audio blocks through byte for byte', async () => {
      const { client } = await openTestSession(via, upstream);
      const result = await client.callTool({ name: 'image', arguments: {} });
      expect(result.content).toEqual([
        { type: 'image', data: FIXTURE_PNG_BASE64, mimeType: 'image/png' },
        { type: 'audio', data: FIXTURE_WAV_BASE64, mimeType: 'audio/wav' },
      ]);
    });

    it('lists every resource of every page, as a direct client gets them, and reads one from the last page', async () => {
      const { client } = await openTestSession(via, upstream);
      const direct = await connectDirect(upstream.url, transport);
      const expected = await walkPages(direct, 'resources/list').finally(() => direct.close());
      expect(expected.pages).toBe(3);
      expect(expected.items).toHaveLength(RESOURCES);

      // However the proxy pages them, walking its pages gives every resource once, in order.
      const { items: resources } = await walkPages(client, 'resources/list');
      expect(resources).toHaveLength(RESOURCES);
      expect(resources).toEqual(expected.items);
      const read = await client.readResource({ uri: 'fixture://resource/024' });
      expect(read.contents).toEqual([
        { uri: 'fixture://resource/024', mimeType: 'text/plain', text: 'resource number 24' },
      ]);
    });

    // A server with resources but no templates may not implement resources/templates/list at all (the SDK's
    // low-level Server answers Method not found): that must cost it neither its tools nor its resources.
    it('keeps the tools and resources of an upstream that has no resources/templates/list', async () => {
      const noTemplates = await startUpstream({
        kind,
        tools: ['echo'],
        extend: (server) => {
          server.registerCapabilities({ resources: {} });
          server.setRequestHandler('resources/list', () => ({ resources: [{ uri: 'fixture://only', name: 'only' }] }));
        },
      });
      try {
        const { client } = await openTestSession(via, { url: noTemplates.url, transport });
        expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
        expect((await walkPages(client, 'resources/list')).items).toEqual([{ uri: 'fixture://only', name: 'only' }]);
      } finally {
        await noTemplates.close();
      }
    });
  });
});
