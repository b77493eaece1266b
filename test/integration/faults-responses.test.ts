/**
 * An upstream that answers a call badly (garbage, a cut stream, 5xx/429, trickled or endless bytes, a reset)
 * beside a healthy one: the healthy upstream's calls keep succeeding, the faulty call ends within its timeout with
 * an error that names its upstream, and no socket the faulty call used stays open afterwards (a call that ended
 * must end its HTTP request too). No durations are asserted: a hang is caught by the test's own timeout.
 */
import type { CallToolResult } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultMode, type FaultyUpstream, startFaultyUpstream } from '../fixtures/faulty-upstream.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

const TIMEOUT_MS = 1_500;
const RAW_FAULTS: FaultMode[] = [
  'garbage',
  'broken-sse',
  'status-500',
  'status-503',
  'status-429',
  'slow-headers',
  'slow-body',
  'endless-json',
  'endless-sse',
  'reset',
];
const CANCELLED = ['endless-sse', 'endless-json', 'slow-body', 'slow-headers'] as const;
/** Tool names are the fault names with `-` as `_`, exposed with the prefix `bad_`. */
const toolOf = (fault: FaultMode) => fault.replaceAll('-', '_');

let healthy: UpstreamFixture;
let faulty: FaultyUpstream;
let proxy: TestProxy;

function textOf(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

beforeAll(async () => {
  healthy = await startUpstream({ kind: 'streamable-http', name: 'healthy' });
  faulty = await startFaultyUpstream({
    faults: Object.fromEntries([
      ...RAW_FAULTS.map((fault) => [toolOf(fault), fault]),
      ...CANCELLED.map((fault) => [`cancel_${toolOf(fault)}`, fault]),
    ]),
  });
  proxy = await startTestProxy([
    { name: 'healthy', url: healthy.url, timeoutMs: TIMEOUT_MS },
    { name: 'faulty', url: faulty.url, timeoutMs: TIMEOUT_MS, toolPrefix: 'bad_' },
  ]);
  await proxy.waitForState('faulty', /^connected\.ready/);
  await proxy.waitForState('healthy', /^connected\.ready/);
});

afterAll(async () => {
  await proxy?.close();
  await Promise.allSettled([healthy?.close(), faulty?.close()]);
});

/** Healthy calls, one after another, until `stop` resolves; every one must succeed. */
async function healthyCallsUntil(stop: Promise<unknown>): Promise<number> {
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  let calls = 0;
  while (!done) {
    const result = await proxy.client.callTool({ name: 'echo', arguments: { text: `ok ${calls}` } });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(textOf(result)).toBe(`ok ${calls}`);
    calls++;
  }
  return calls;
}

describe('a call the upstream answers badly', () => {
  it('the faulty upstream is otherwise usable', async () => {
    expect(textOf(await proxy.client.callTool({ name: 'bad_echo', arguments: {} }))).toBe('faulty:echo');
  });

  it.each(RAW_FAULTS)(
    '%s: an error naming the upstream, healthy calls unaffected, no socket left open',
    async (fault) => {
      const call = proxy.client.callTool({ name: `bad_${toolOf(fault)}`, arguments: {} });
      const healthyCalls = healthyCallsUntil(call);
      const result = await call;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/upstream "faulty"/);
      expect(await healthyCalls).toBeGreaterThan(0);
      expect(faulty.requests[fault]).toBeGreaterThanOrEqual(1);
      // The call is over: its HTTP request must be too (idle keep-alive sockets close after 1 s at the fixture).
      await eventually(() => faulty.faultSocketsOpen(toolOf(fault)) === 0, 6_000);
      // And the upstream still serves its healthy tool.
      expect(textOf(await proxy.client.callTool({ name: 'bad_echo', arguments: {} }))).toBe('faulty:echo');
    },
  );
});

describe('a call the client cancels', () => {
  it.each(CANCELLED)('%s: the HTTP request ends with it', async (fault) => {
    const tool = `cancel_${toolOf(fault)}`;
    const controller = new AbortController();
    const call = proxy.client.callTool({ name: `bad_${tool}`, arguments: {} }, { signal: controller.signal });
    const before = faulty.requests[fault] ?? 0;
    await eventually(() => (faulty.requests[fault] ?? 0) > before);
    controller.abort();
    await expect(call).rejects.toThrow();
    await eventually(() => faulty.faultSocketsOpen(tool) === 0, 6_000);
  });
});

describe('the healthy upstream after all that', () => {
  it('still answers, and the faulty one stayed connected', async () => {
    expect(textOf(await proxy.client.callTool({ name: 'echo', arguments: { text: 'still' } }))).toBe('still');
    const reconnects = proxy.transitions.filter((t) => t.actor === 'faulty' && t.state === 'reconnecting');
    // A bad answer to one call is that call's failure, not the connection's.
    expect(reconnects).toEqual([]);
  });
});
