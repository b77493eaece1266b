/**
 * Upstreams that fail as a whole: a session the server forgets at every request, 429 and 5xx storms, a server that
 * dies under calls. Retries must be bounded (counted in requests over a window, the proof that no hot loop burns a
 * core), the healthy upstream beside must keep serving, and a call that was never sent must not fail as lost.
 */
import type { CallToolResult } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { startFaultyUpstream } from '../fixtures/faulty-upstream.js';
import { useTestScope } from '../helpers/scope.js';

const TIMEOUT_MS = 1_500;
/** A window and the most requests an upstream that keeps failing may get in it (backoff 1 s, 2 s, 4 s …). */
const WINDOW_MS = 5_000;
const MAX_REQUESTS_IN_WINDOW = 30;
const scope = useTestScope();

function textOf(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

/** Healthy calls, one after another, for `ms`; every one must succeed. Returns how many. */
async function healthyCallsFor(client: import('@modelcontextprotocol/client').Client, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let calls = 0;
  while (Date.now() < until) {
    const result = await client.callTool({ name: 'echo', arguments: { text: `ok ${calls}` } });
    expect(result.isError, textOf(result)).toBeFalsy();
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return calls;
}

async function withHealthy(faulty: { url: URL }) {
  const healthy = await scope.upstream('streamable-http', { name: 'healthy' });
  const proxy = await scope.proxy([
    { name: 'healthy', url: healthy.url, timeoutMs: TIMEOUT_MS },
    { name: 'faulty', url: faulty.url, timeoutMs: TIMEOUT_MS, toolPrefix: 'bad_' },
  ]);
  await proxy.waitForState('healthy', /^connected\.ready/);
  return proxy;
}

describe('a session that is always expired (404 to every request with a session id)', () => {
  it('is re-initialized a bounded number of times, and the healthy upstream serves throughout', async () => {
    const faulty = await startFaultyUpstream({ sessions: 'always-expired' });
    scope.defer(() => faulty.close());
    const { client } = await withHealthy(faulty);
    const before = faulty.totalRequests;
    expect(await healthyCallsFor(client, WINDOW_MS)).toBeGreaterThan(0);
    const inWindow = faulty.totalRequests - before;
    expect(inWindow, `requests: ${JSON.stringify(faulty.requests)}`).toBeLessThan(MAX_REQUESTS_IN_WINDOW);
    expect(faulty.initializations).toBeLessThan(MAX_REQUESTS_IN_WINDOW);
  }, 30_000);
});

describe.each([429, 503])('an upstream in a %i storm (Retry-After: 1)', (status) => {
  it('fails its calls with an error naming it, retries a bounded number of times, spares the healthy one', async () => {
    const faulty = await startFaultyUpstream();
    scope.defer(() => faulty.close());
    const { client, waitForState } = await withHealthy(faulty);
    await waitForState('faulty', /^connected\.ready/);
    faulty.setStorm(status, 1);
    const before = faulty.totalRequests;
    const failed = await client.callTool({ name: 'bad_echo', arguments: {} });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).toMatch(/upstream "faulty"/);
    expect(await healthyCallsFor(client, WINDOW_MS)).toBeGreaterThan(0);
    const inWindow = faulty.totalRequests - before;
    expect(inWindow, `requests: ${JSON.stringify(faulty.requests)}`).toBeLessThan(MAX_REQUESTS_IN_WINDOW);
    // When the storm ends, the upstream serves again.
    faulty.setStorm(undefined);
    // It may be reconnecting with a backoff of some seconds; the calls wait for it or fail, until it is back.
    let again: CallToolResult | undefined;
    for (let attempt = 0; attempt < 40 && (!again || again.isError); attempt++) {
      again = (await client.callTool({ name: 'bad_echo', arguments: {} })) as CallToolResult;
      if (again.isError) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(textOf(again)).toBe('faulty:echo');
  }, 60_000);
});

describe('calls that start right after an upstream died', () => {
  it('are never sent, so they wait for the upstream and succeed when it is back', async () => {
    const healthy = await scope.upstream('streamable-http', { name: 'healthy' });
    const dying = await scope.upstream('streamable-http', { name: 'dying' });
    const { client, waitForState } = await scope.proxy([
      { name: 'healthy', url: healthy.url, timeoutMs: TIMEOUT_MS },
      // Long enough for the restart below to happen while the calls wait.
      { name: 'dying', url: dying.url, timeoutMs: 4_000, toolPrefix: 'dying_' },
    ]);
    await waitForState('dying', /^connected\.ready/);
    await waitForState('healthy', /^connected\.ready/);
    await dying.kill();
    // The kill's FINs are read first, as a real process's are within microseconds of its death: a request written
    // onto a socket in that instant cannot be told from one the upstream read, and is never sent twice. Then at
    // once, before the proxy may have noticed: new connections are refused, and the requests wait for the upstream.
    await new Promise((resolve) => setImmediate(resolve));
    const calls = Array.from({ length: 8 }, (_, i) =>
      client.callTool({ name: 'dying_echo', arguments: { text: `after ${i}` } }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await dying.restart();
    const results = await Promise.all(calls);
    for (const [i, result] of results.entries()) {
      expect(textOf(result), `call ${i}`).toBe(`after ${i}`);
    }
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).toBe('fine');
  });

  it('when it stays down, fail after the timeout as not connected, not as a lost connection', async () => {
    const dying = await scope.upstream('streamable-http', { name: 'dying' });
    const { client, waitForState } = await scope.proxy([{ name: 'dying', url: dying.url, timeoutMs: TIMEOUT_MS }]);
    await waitForState('dying', /^connected\.ready/);
    await dying.kill();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => client.callTool({ name: 'echo', arguments: { text: 'x' } })),
    );
    for (const result of results) {
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/upstream "dying"/);
      expect(textOf(result)).not.toMatch(/\blost\b/);
    }
  });
});
