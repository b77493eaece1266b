/**
 * `proxy://status`: the proxy's own resource, always listed first, read as JSON with what every upstream is doing,
 * and updated for subscribers as upstreams go down and come back. It never holds a configured header's value.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyStatus } from '../../src/observe/status.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
const fixtures: UpstreamFixture[] = [];

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await Promise.all(fixtures.splice(0).map((fixture) => fixture.close()));
});

async function readStatus(test: TestProxy): Promise<ProxyStatus> {
  const { contents } = await test.client.readResource({ uri: 'proxy://status' });
  expect(contents[0]).toMatchObject({ uri: 'proxy://status', mimeType: 'application/json' });
  return JSON.parse((contents[0] as { text: string }).text) as ProxyStatus;
}

describe('proxy://status', () => {
  it('tells each upstream state, transport, tools (exposed and filtered out) and last error', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'add', 'delete_all'] });
    const sse = await startUpstream({ kind: 'sse', name: 'beta', tools: ['echo'] });
    fixtures.push(http, sse);
    proxy = await startTestProxy([
      {
        name: 'alpha',
        url: `${http.url.href}?key=in-the-query`,
        ignoreTools: ['delete_*'],
        headers: { 'x-api-key': 'header-secret-value' },
      },
      { name: 'beta', url: sse.url, transport: 'sse' },
    ]);
    const { resources } = await proxy.client.listResources();
    expect(resources[0]).toMatchObject({ uri: 'proxy://status', mimeType: 'application/json' });

    const status = await readStatus(proxy);
    expect(status.upstreams).toEqual([
      expect.objectContaining({
        name: 'alpha',
        url: http.url.href,
        state: 'connected.ready.idle',
        transport: 'http',
        tools: ['echo', 'add'],
        filteredOut: ['delete_all'],
        reconnectAttempts: 0,
        waitingForSignIn: false,
        inFlight: 0,
      }),
      expect.objectContaining({ name: 'beta', state: 'connected.ready.idle', transport: 'sse', tools: ['beta_echo'] }),
    ]);
    const text = JSON.stringify(status);
    expect(text).not.toContain('header-secret-value');
    expect(text).not.toContain('in-the-query');

    await sse.kill();
    await proxy.waitForState('beta', 'reconnecting');
    const down = (await readStatus(proxy)).upstreams[1]!;
    expect(down).toMatchObject({ state: 'reconnecting', reconnectAttempts: 1, tools: ['beta_echo'] });
    expect(down.lastError?.message).toContain('upstream "beta"');
  });

  it('tells a subscriber when an upstream goes down and when it is back', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    fixtures.push(http);
    proxy = await startTestProxy([{ name: 'alpha', url: http.url }]);
    const updates: string[] = [];
    proxy.client.setNotificationHandler(
      'notifications/resources/updated',
      ({ params }) => void updates.push(params.uri),
    );
    await proxy.client.subscribeResource({ uri: 'proxy://status' });

    await http.kill();
    await proxy.waitForState('alpha', 'reconnecting');
    await eventually(() => updates.length > 0);
    expect(new Set(updates)).toEqual(new Set(['proxy://status']));
    await http.restart();
    await proxy.waitForState('alpha', 'connected.ready.idle', 15_000);
    expect((await readStatus(proxy)).upstreams[0]!.state).toBe('connected.ready.idle');

    await proxy.client.unsubscribeResource({ uri: 'proxy://status' });
    const seen = updates.length;
    await http.kill();
    await proxy.waitForState('alpha', 'reconnecting');
    expect((await readStatus(proxy)).upstreams[0]!.state).toBe('reconnecting');
    expect(updates.length).toBe(seen);
  });
});
