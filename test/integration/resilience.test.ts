/**
 * Long sessions: upstreams that die and come back, sessions the server forgot, lists that change, calls that
 * report progress or get cancelled, and upstreams that never answer. Real servers on 127.0.0.1 throughout.
 */
import type { CallToolResult } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/proxy.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();
const upstream = scope.upstream;
const proxyFor = scope.proxy;

function textOf(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

describe.each(['streamable-http', 'sse'] as const)('%s upstream killed and restarted on the same port', (kind) => {
  it('fails the call in flight at once, then serves calls again', async () => {
    const fixture = await upstream(kind);
    const { client, waitForState } = await proxyFor([{ name: 'flaky', url: fixture.url }]);
    expect(JSON.parse(textOf(await client.callTool({ name: 'about', arguments: {} }))).generation).toBe(0);

    const inFlight = client.callTool({ name: 'slow', arguments: { ms: 10_000 } });
    await eventually(() => fixture.counters.callTool === 2);
    const killedAt = Date.now();
    const reconnecting = waitForState('flaky', 'reconnecting');
    await fixture.kill();
    const failed = await inFlight;
    const failedAfterMs = Date.now() - killedAt;
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toMatch(/upstream "flaky"/);
    // At once, not when the 10 s call would have ended (a wide margin: the machine may be busy).
    expect(failedAfterMs).toBeLessThan(5_000);
    await reconnecting;

    await fixture.restart();
    await waitForState('flaky', /^connected\.ready/, 15_000);
    const after = JSON.parse(textOf(await client.callTool({ name: 'about', arguments: {} })));
    expect(after.generation).toBe(1);
  });
});

describe('calls while an upstream reconnects', () => {
  it('waits for the upstream and succeeds once it is back', async () => {
    const fixture = await upstream('streamable-http');
    const { client, waitForState } = await proxyFor([{ name: 'back', url: fixture.url }]);
    await client.listTools();
    const reconnecting = waitForState('back', 'reconnecting');
    await fixture.kill();
    await reconnecting;
    const waiting = client.callTool({ name: 'echo', arguments: { text: 'patient' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await fixture.restart();
    expect(textOf(await waiting)).toBe('patient');
  });

  it('gives up after the call timeout with an error naming the upstream', async () => {
    const fixture = await upstream('streamable-http');
    const { client, waitForState } = await proxyFor([{ name: 'gone', url: fixture.url, timeoutMs: 500 }]);
    await client.listTools();
    const reconnecting = waitForState('gone', 'reconnecting');
    await fixture.kill();
    await reconnecting;
    const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/upstream "gone" is not connected: gave up waiting after 500 ms/);
  });
});

describe('Streamable HTTP session expiry', () => {
  it('opens a new session and retries the call once', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await proxyFor([{ name: 'forgetful', url: fixture.url }]);
    await client.listTools();
    const before = fixture.counters.initialized;
    fixture.expireSessions();
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('again');
    expect(fixture.counters.initialized).toBe(before + 1);
  });
});

describe('tools/list_changed', () => {
  it('re-lists the upstream and tells the client', async () => {
    const fixture = await upstream('streamable-http', { tools: ['echo'] });
    const { client, listChanged } = await proxyFor([{ name: 'live', url: fixture.url }]);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    fixture.addTool('add');
    await eventually(() => listChanged() > 0);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo', 'add']);
  });

  it('tells the client when an upstream that was down at startup becomes ready', async () => {
    const fixture = await upstream('streamable-http', { tools: ['echo'] });
    await fixture.kill();
    const { client, listChanged, waitForState } = await proxyFor([{ name: 'late', url: fixture.url }]);
    // A server that is down settles the startup wait at its first failed attempt.
    expect((await client.listTools()).tools).toEqual([]);
    await fixture.restart();
    await waitForState('late', /^connected\.ready/, 15_000);
    await eventually(() => listChanged() > 0);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
  });
});

describe('progress and cancellation', () => {
  it('relays progress under the client’s own token', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await proxyFor([{ name: 'busy', url: fixture.url }]);
    const seen: number[] = [];
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 3, delayMs: 10 } },
      { onprogress: (progress) => seen.push(progress.progress) },
    );
    expect(result.isError).toBeFalsy();
    expect(seen).toEqual([1, 2, 3]);
  });

  it('forwards the client’s cancellation to the upstream', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await proxyFor([{ name: 'busy', url: fixture.url }]);
    const controller = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 10_000 } }, { signal: controller.signal });
    await eventually(() => fixture.counters.callTool === 1);
    controller.abort();
    await expect(call).rejects.toThrow();
    await eventually(() => fixture.cancellations.includes('slow'));
  });
});

describe('startup', () => {
  it('answers the first tools/list after the startup timeout when an upstream never answers', async () => {
    const fast = await upstream('streamable-http', { tools: ['echo'] });
    // Accepts connections and never answers: the upstream stays in connecting.
    const { createServer } = await import('node:http');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    scope.defer(async () => {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as { port: number }).port;
    const { client } = await proxyFor(
      [
        { name: 'fast', url: fast.url },
        { name: 'silent', url: `http://127.0.0.1:${port}/mcp` },
      ],
      { startupTimeoutMs: 500 },
    );
    const startedAt = Date.now();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['echo']);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });
});
