/**
 * Streamable HTTP's standalone GET stream carries server-to-client notifications (tools/list_changed). When it is
 * cut while the server stays up (an idle connection dropped by a load balancer), the SDK re-opens it and the
 * upstream stays ready: no reconnect, no new session, and later list changes still reach the client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxyFor(upstreams: Parameters<typeof startTestProxy>[0]): Promise<TestProxy> {
  const proxy = await startTestProxy(upstreams);
  cleanups.push(() => proxy.close());
  return proxy;
}

describe('standalone GET stream dropped while the server stays up', () => {
  it('is re-opened, the upstream stays ready, and list changes still reach the client', async () => {
    const fixture = await startUpstream({ kind: 'streamable-http', tools: ['echo'] });
    cleanups.push(() => fixture.close());
    const { client, listChanged, transitions } = await proxyFor([
      { name: 'live', url: fixture.url, transport: 'http' },
    ]);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    // The SDK opens the stream after `notifications/initialized`, asynchronously.
    await eventually(() => fixture.openStreams === 1);
    const opened = fixture.counters.streamsOpened;
    const initialized = fixture.counters.initialized;
    const readyAt = transitions.length;

    // More drops than the SDK's reconnection budget (maxRetries 3): each successful re-open starts it afresh.
    for (let drop = 1; drop <= 4; drop++) {
      fixture.dropStreams();
      expect(fixture.openStreams).toBe(0);
      await eventually(() => fixture.counters.streamsOpened === opened + drop);
      await eventually(() => fixture.openStreams === 1);
    }

    const changesBefore = listChanged();
    fixture.addTool('x');
    await eventually(() => listChanged() > changesBefore);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo', 'x']);
    expect(fixture.counters.listChangedSent).toBe(1);

    // Same session throughout, and the upstream never left connected.ready (re-listing is a ready substate).
    expect(fixture.counters.initialized).toBe(initialized);
    expect(fixture.sessionCount).toBe(1);
    expect(
      transitions
        .slice(0, readyAt)
        .filter((t) => t.actor === 'live')
        .at(-1)?.state,
    ).toMatch(/^connected\.ready/);
    const after = transitions.slice(readyAt).filter((t) => t.actor === 'live');
    expect(after.map((t) => t.state)).toContain('connected.ready.relisting');
    for (const transition of after) expect(transition.state).toMatch(/^connected\.ready/);
  });
});
