/**
 * The reference server of the MCP maintainers, `@modelcontextprotocol/server-everything`, through the proxy over
 * both of its HTTP transports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EverythingServer, startEverything } from '../fixtures/everything.js';
import { listDirect } from '../helpers/direct.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

describe.each([
  { kind: 'streamableHttp' as const, transport: 'http' as const },
  { kind: 'sse' as const, transport: 'sse' as const },
])('server-everything over $kind', ({ kind, transport }) => {
  let everything: EverythingServer;
  let proxy: TestProxy;

  beforeAll(async () => {
    everything = await startEverything(kind);
    proxy = await startTestProxy([{ name: 'everything', url: everything.url, transport }]);
  });
  afterAll(async () => {
    await proxy?.close();
    await everything?.close();
  });

  it('exposes the same tools as a direct client sees', async () => {
    const direct = await listDirect(everything.url, transport);
    const { tools } = await proxy.client.listTools();
    expect(tools.length).toBeGreaterThan(5);
    expect(tools).toEqual(direct);
  });

  it('forwards a call and returns its result', async () => {
    const result = await proxy.client.callTool({ name: 'echo', arguments: { message: 'through the proxy' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: through the proxy' }]);
  });
});
