/**
 * Protocol versions on both sides of the proxy. Downstream: clients that speak only one of the 2025-era versions
 * (2024-11-05 … 2025-11-25) get it (2026-07-28 clients are in the e2e tests: that era needs the real stdio
 * entry). Upstream: a 2026-07-28 server (`createMcpHandler`) and a 2025-era one side by side, including the
 * modern server asking the client for input mid-call, which reaches the downstream client as an elicitation.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ModernUpstream, startModernUpstream } from '../fixtures/modern-upstream.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let legacy: UpstreamFixture | undefined;
let modern: ModernUpstream | undefined;

afterEach(async () => {
  await proxy?.close();
  await legacy?.close();
  await modern?.close();
  proxy = legacy = modern = undefined;
});

describe('downstream clients of every 2025-era version', () => {
  it.each(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'])(
    'a client on %s lists and calls',
    async (version) => {
      legacy = await startUpstream({ kind: 'streamable-http', name: 'plain', tools: ['echo'] });
      proxy = await startTestProxy([{ name: 'plain', url: legacy.url }], {
        client: { supportedProtocolVersions: [version] },
      });
      expect(proxy.client.getNegotiatedProtocolVersion()).toBe(version);
      const { tools } = await proxy.client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(['echo']);
      const result = await proxy.client.callTool({ name: 'echo', arguments: { text: version } });
      expect(result.content).toEqual([{ type: 'text', text: version }]);
    },
  );
});

describe('upstreams of both eras', () => {
  it('speaks 2026-07-28 to a modern upstream and 2025-11-25 to an older one, behind one list', async () => {
    legacy = await startUpstream({ kind: 'streamable-http', name: 'plain', tools: ['echo'] });
    modern = await startModernUpstream('modern');
    proxy = await startTestProxy(
      [
        { name: 'plain', url: legacy.url },
        { name: 'modern', url: modern.url },
      ],
      {
        client: {
          capabilities: { elicitation: { form: {} } },
          setup: (client) =>
            client.setRequestHandler('elicitation/create', ({ params }) => ({
              action: 'accept',
              content: { name: params.message === 'What is your name?' ? 'Ada' : 'unexpected question' },
            })),
        },
      },
    );
    const { tools } = await proxy.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['ask_name', 'echo', 'modern_echo']);
    // Every serving unit the modern server built for the proxy was of its own era: no 2025 fallback was needed.
    expect(modern.eras.length).toBeGreaterThan(0);
    expect(new Set(modern.eras)).toEqual(new Set(['modern']));

    const echoed = await proxy.client.callTool({ name: 'modern_echo', arguments: { text: 'hi' } });
    expect(echoed.content).toEqual([{ type: 'text', text: 'modern echoes hi' }]);
    const plain = await proxy.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    expect(plain.content).toEqual([{ type: 'text', text: 'hi' }]);

    // The modern server asks for input in-band; the proxy's client asks the downstream client, then retries.
    const asked = await proxy.client.callTool({ name: 'ask_name', arguments: {} });
    expect(asked.content).toEqual([{ type: 'text', text: 'hello Ada' }]);

    const { resources } = await proxy.client.listResources();
    expect(resources.map((resource) => resource.uri)).toEqual(['proxy://status', 'modern://readme']);
    const read = await proxy.client.readResource({ uri: 'modern://readme' });
    expect(read.contents).toEqual([{ uri: 'modern://readme', mimeType: 'text/plain', text: 'modern readme' }]);
    const prompt = await proxy.client.getPrompt({ name: 'greet' });
    expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'modern says hello' });
  });
});
