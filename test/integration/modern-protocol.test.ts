/**
 * The protocol through the proxy with a 2026-07-28 upstream (fixtures/modern-everything.ts), from a client of each
 * era: every forwarded feature is asserted against the upstream directly first (a 2026-07-28 client, proving the
 * expectation), then through the proxy from a 2025-era client (`proxy`) and from a 2026-07-28 one (`proxy-2026`).
 * Together with the server-everything protocol tests (a 2025-era upstream, the same three ways) this is the
 * client-era × upstream-era matrix the README states.
 */
import {
  Client,
  type ClientCapabilities,
  type CreateMessageRequest,
  type ElicitRequest,
  LOG_LEVEL_META_KEY,
  type LoggingMessageNotificationParams,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startModernEverything } from '../fixtures/modern-everything.js';
import type { TestClientOptions } from '../helpers/direct.js';
import { openTestSession, type UpstreamUnderTest, upstreamForSuite, VIAS, type Via } from '../helpers/session.js';

let fixture: Awaited<ReturnType<typeof startModernEverything>> | undefined;
const upstream: UpstreamUnderTest = upstreamForSuite('http', async () => {
  fixture = await startModernEverything();
  return fixture;
});

/** A client of `via`; `direct` is a 2026-07-28 client of the upstream itself. */
async function connect(via: Via, options: TestClientOptions = {}): Promise<Client> {
  if (via !== 'direct') return (await openTestSession(via, upstream, options)).client;
  const client = new Client(
    { name: 'direct-2026', version: '1.0.0' },
    {
      ...(options.capabilities && { capabilities: options.capabilities }),
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    },
  );
  options.setup?.(client);
  await client.connect(new StreamableHTTPClientTransport(upstream.url));
  onTestFinished(() => client.close());
  return client;
}

const textOf = (result: { content?: unknown }) =>
  (result.content as Array<{ type: string; text?: string }>).map((block) => block.text ?? '').join('\n');

/** What a 2026-07-28 client sees on every result and a 2025-era one does not: leave it out of comparisons. */
function withoutEnvelope<T extends object>(result: T): T {
  const { ttlMs: _ttl, cacheScope: _scope, _meta: _envelope, ...rest } = result as T & Record<string, unknown>;
  return rest as T;
}

describe.each(VIAS)('a 2026-07-28 upstream, %s', (via) => {
  it('lists the tools and calls one', async () => {
    const client = await connect(via);
    const names = (await client.listTools()).tools.map((tool) => tool.name).sort();
    expect(names).toEqual(['echo', 'elicit_form', 'elicit_url', 'log', 'progress', 'roots', 'sample', 'slow']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'hi' } }))).toBe('hi');
  });

  it('reads a resource and a templated one, gets a prompt, completes both', async () => {
    const client = await connect(via);
    expect(withoutEnvelope(await client.readResource({ uri: 'modern://readme' }))).toEqual({
      contents: [{ uri: 'modern://readme', mimeType: 'text/plain', text: 'modern readme' }],
    });
    expect((await client.readResource({ uri: 'modern://items/42' })).contents).toEqual([
      { uri: 'modern://items/42', mimeType: 'text/plain', text: 'item 42' },
    ]);
    const prompt = await client.getPrompt({ name: 'colour', arguments: { colour: 'red' } });
    expect(prompt.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Tell me about red' } }]);
    const colours = await client.complete({
      ref: { type: 'ref/prompt', name: 'colour' },
      argument: { name: 'colour', value: 'b' },
    });
    expect(colours.completion.values).toEqual(['blue', 'black']);
    const ids = await client.complete({
      ref: { type: 'ref/resource', uri: 'modern://items/{id}' },
      argument: { name: 'id', value: '4' },
    });
    expect(ids.completion.values).toEqual(['42']);
  });

  it('relays progress, then the result', async () => {
    const client = await connect(via);
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 3 } },
      { onprogress: ({ progress: value }) => progress.push(value) },
    );
    expect(progress).toEqual([1, 2, 3]);
    expect(textOf(result)).toBe('done after 3 steps');
  });

  it('passes a cancellation on to the upstream', async () => {
    const client = await connect(via);
    const before = fixture!.cancelled;
    const started = fixture!.started;
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, { signal: controller.signal });
    // Cancelled once the upstream is working on it, so the upstream has something to cancel.
    await expect.poll(() => fixture!.started, { timeout: 5_000 }).toBe(started + 1);
    controller.abort('enough');
    await expect(call).rejects.toThrow();
    await expect.poll(() => fixture!.cancelled, { timeout: 5_000 }).toBe(before + 1);
  });

  it('relays log messages at the level the client set, under the upstream’s name', async () => {
    const logs: LoggingMessageNotificationParams[] = [];
    const client = await connect(via, {
      setup: (c) => c.setNotificationHandler('notifications/message', ({ params }) => void logs.push(params)),
    });
    // A 2025-era client sets the level once; a 2026-07-28 client sends it with every request.
    if (via === 'proxy') await client.setLoggingLevel('warning');
    const meta = via === 'proxy' ? {} : { _meta: { [LOG_LEVEL_META_KEY]: 'warning' } };
    expect(textOf(await client.callTool({ name: 'log', arguments: {}, ...meta }))).toBe('logged');
    await expect.poll(() => logs.length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    expect(logs.map((log) => [log.level, log.data])).toEqual([
      ['warning', 'a warning message'],
      ['error', 'a error message'],
    ]);
    const logger = via === 'direct' ? 'modern-logger' : 'everything';
    expect(new Set(logs.map((log) => log.logger))).toEqual(new Set([logger]));
  });

  const ASKING: ClientCapabilities = { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} };

  it('asks the client to sample and gives the upstream its answer', async () => {
    const asked: CreateMessageRequest['params'][] = [];
    const client = await connect(via, {
      capabilities: ASKING,
      setup: (c) =>
        c.setRequestHandler('sampling/createMessage', ({ params }) => {
          asked.push(params);
          return { role: 'assistant', content: { type: 'text', text: '42' }, model: 'test-model' };
        }),
    });
    expect(textOf(await client.callTool({ name: 'sample', arguments: {} }))).toBe('sampled: 42');
    expect(asked).toEqual([
      expect.objectContaining({
        maxTokens: 33,
        messages: [{ role: 'user', content: { type: 'text', text: 'what is six times seven?' } }],
      }),
    ]);
  });

  it('asks the client a form question and a URL visit, and gives the upstream the answers', async () => {
    const asked: ElicitRequest['params'][] = [];
    const client = await connect(via, {
      capabilities: ASKING,
      setup: (c) =>
        c.setRequestHandler('elicitation/create', ({ params }) => {
          asked.push(params);
          return params.mode === 'url' ? { action: 'accept' } : { action: 'accept', content: { colour: 'green' } };
        }),
    });
    expect(textOf(await client.callTool({ name: 'elicit_form', arguments: {} }))).toBe('colour: green');
    const url = 'https://example.com/consent';
    expect(textOf(await client.callTool({ name: 'elicit_url', arguments: { url } }))).toBe('url: accept');
    expect(asked.map((params) => params.message)).toEqual(['Favourite colour?', 'Open it']);
    expect(asked[1]).toMatchObject({ mode: 'url', url });
  });

  it("gives the upstream the client's roots", async () => {
    const client = await connect(via, {
      capabilities: ASKING,
      setup: (c) => c.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///work/a', name: 'A' }] })),
    });
    expect(textOf(await client.callTool({ name: 'roots', arguments: {} }))).toBe('roots: file:///work/a');
  });
});
