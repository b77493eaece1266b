/**
 * A 2026-07-28 client of the proxy (per-request envelopes, no initialize), in front of a 2025-era upstream and a
 * 2026-07-28 one: list changes and updates of the resources it names reach it on its own `subscriptions/listen`
 * stream, its per-request log level decides which upstream log messages it gets (and reaches the upstreams, as
 * `logging/setLevel` does for an older client), and list and read answers carry the upstreams' cache hints
 * combined (the smallest TTL, the narrowest scope) rather than the SDK's default.
 */
import {
  type Client,
  LOG_LEVEL_META_KEY,
  type LoggingMessageNotification,
  type McpSubscription,
  Client as SdkClient,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import type { Server } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type ModernUpstream, startModernUpstream } from '../fixtures/modern-upstream.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

const MODERN = { versionNegotiation: { mode: { pin: '2026-07-28' as const } } };

let proxy: TestProxy | undefined;
let legacy: LegacyUpstream | undefined;
let modern: ModernUpstream | undefined;
let subscription: McpSubscription | undefined;
const closeAfter: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await subscription?.close();
  await proxy?.close();
  for (const upstream of closeAfter.splice(0)) await upstream.close();
  await legacy?.fixture.close();
  await modern?.close();
  proxy = legacy = modern = subscription = undefined;
});

interface LegacyUpstream {
  fixture: UpstreamFixture;
  /** Requests the upstream received, as `method uri-or-level`. */
  seen: string[];
  /** The newest session's server (the proxy's). */
  live(): Server;
  /** The URIs it lists; change them, then tell the proxy with `live().sendResourceListChanged()`. */
  resources: string[];
}

/** A 2025-era fixture with a subscribable resource and logging; it filters no log message itself. */
async function startLegacyUpstream(name = 'old'): Promise<LegacyUpstream> {
  const sessions: Server[] = [];
  const seen: string[] = [];
  const resources = [`mem://${name}/notes`];
  const fixture = await startUpstream({
    kind: 'streamable-http',
    name,
    tools: ['echo'],
    extend: (server) => {
      sessions.push(server);
      server.registerCapabilities({ resources: { subscribe: true, listChanged: true }, logging: {} });
      server.setRequestHandler('resources/list', () => ({
        resources: resources.map((uri) => ({ uri, name: uri.split('/').pop()!, mimeType: 'text/plain' })),
      }));
      server.setRequestHandler('resources/read', ({ params }) => ({
        contents: [{ uri: params.uri, mimeType: 'text/plain', text: `${name} has ${params.uri}` }],
      }));
      for (const method of ['resources/subscribe', 'resources/unsubscribe'] as const) {
        server.setRequestHandler(method, ({ params }) => {
          seen.push(`${method} ${params.uri}`);
          return {};
        });
      }
      server.setRequestHandler('logging/setLevel', ({ params }) => {
        seen.push(`logging/setLevel ${params.level}`);
        return {};
      });
    },
  });
  return { fixture, seen, live: () => sessions.at(-1)!, resources };
}

async function startModernProxy(upstreams: Array<{ name: string; url: URL }>): Promise<Client> {
  proxy = await startTestProxy(upstreams, { client: MODERN });
  expect(proxy.client.getProtocolEra()).toBe('modern');
  return proxy.client;
}

describe('a 2026-07-28 client', () => {
  it('hears of list changes of an upstream of either era on its subscriptions/listen stream', async () => {
    legacy = await startLegacyUpstream();
    modern = await startModernUpstream('modern');
    const client = await startModernProxy([
      { name: 'old', url: legacy.fixture.url },
      { name: 'modern', url: modern.url },
    ]);
    const changed: string[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed.push('tools'));
    const before = await client.listTools();
    expect(before.tools.map((tool) => tool.name).sort()).toEqual(['ask_name', 'echo', 'modern_echo']);
    subscription = await client.listen({ toolsListChanged: true });
    expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
    await eventually(() => legacy!.fixture.openStreams > 0);

    legacy.fixture.addTool('added');
    await eventually(() => changed.length > 0);
    const after = await client.listTools();
    expect(after.tools.map((tool) => tool.name)).toContain('added');
  });

  it('gets resources/updated for the URIs of its listen stream: the proxy subscribes upstream for it', async () => {
    legacy = await startLegacyUpstream();
    const client = await startModernProxy([{ name: 'old', url: legacy.fixture.url }]);
    const updated: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', ({ params }) => void updated.push(params.uri));
    await client.listResources();
    subscription = await client.listen({ resourceSubscriptions: ['mem://old/notes'] });
    expect(subscription.honoredFilter).toEqual({ resourceSubscriptions: ['mem://old/notes'] });
    // Directly: the upstream was asked, as a 2025-era client's resources/subscribe would have asked it.
    await eventually(() => legacy!.seen.includes('resources/subscribe mem://old/notes'));
    await eventually(() => legacy!.fixture.openStreams > 0);

    await legacy.live().sendResourceUpdated({ uri: 'mem://old/notes' });
    await legacy.live().sendResourceUpdated({ uri: 'mem://old/other' });
    await eventually(() => updated.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(updated).toEqual(['mem://old/notes']);

    // Closing the only stream that named the URI unsubscribes upstream.
    await subscription.close();
    subscription = undefined;
    await eventually(() => legacy!.seen.includes('resources/unsubscribe mem://old/notes'));
  });

  it('keeps the upstream subscription while any of its listen streams still names the URI', async () => {
    legacy = await startLegacyUpstream();
    const client = await startModernProxy([{ name: 'old', url: legacy.fixture.url }]);
    await client.listResources();
    const first = await client.listen({ resourceSubscriptions: ['mem://old/notes'] });
    subscription = await client.listen({ resourceSubscriptions: ['mem://old/notes'], toolsListChanged: true });
    await eventually(() => legacy!.seen.includes('resources/subscribe mem://old/notes'));
    await first.close();
    // Once for both streams, and still subscribed after the first closed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(legacy.seen).toEqual(['resources/subscribe mem://old/notes']);
    await subscription.close();
    subscription = undefined;
    await eventually(() => legacy!.seen.includes('resources/unsubscribe mem://old/notes'));
  });

  it('subscribes upstream to a listened URI no upstream listed yet once one lists it', async () => {
    legacy = await startLegacyUpstream('old');
    const other = await startLegacyUpstream('other');
    closeAfter.push(other.fixture);
    const client = await startModernProxy([
      { name: 'old', url: legacy.fixture.url },
      { name: 'other', url: other.fixture.url },
    ]);
    await client.listResources();
    // Two upstreams have resources and neither lists this one: there is no owner to subscribe with yet.
    subscription = await client.listen({ resourceSubscriptions: ['mem://other/later'] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([...legacy.seen, ...other.seen]).toEqual([]);

    await eventually(() => other.fixture.openStreams > 0);
    other.resources.push('mem://other/later');
    await other.live().sendResourceListChanged();
    await eventually(() => other.seen.includes('resources/subscribe mem://other/later'));
    expect(legacy.seen).toEqual([]);
  });

  it('hears of every change of proxy://status on a listen stream that names it', async () => {
    legacy = await startLegacyUpstream();
    const client = await startModernProxy([{ name: 'old', url: legacy.fixture.url }]);
    const updated: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', ({ params }) => void updated.push(params.uri));
    await client.listTools();
    subscription = await client.listen({ resourceSubscriptions: ['proxy://status'] });
    await legacy.fixture.kill();
    await proxy!.waitForState('old', 'reconnecting');
    await eventually(() => updated.includes('proxy://status'));
    // Nothing of it went upstream: the proxy serves that resource itself.
    expect(legacy.seen.filter((line) => line.startsWith('resources/subscribe'))).toEqual([]);
  });

  it('gets upstream log messages at or above the level of its requests, and the upstreams get that level', async () => {
    legacy = await startLegacyUpstream();
    const client = await startModernProxy([{ name: 'old', url: legacy.fixture.url }]);
    const messages: LoggingMessageNotification['params'][] = [];
    client.setNotificationHandler('notifications/message', ({ params }) => void messages.push(params));
    await client.listTools();
    await eventually(() => legacy!.fixture.openStreams > 0);
    // No level asked for yet: a 2026-07-28 client that names none gets no log messages.
    await legacy.live().sendLoggingMessage({ level: 'error', data: 'unasked' });
    // Given the time to reach the proxy (it comes on the session's own stream, unordered with our requests).
    await new Promise((resolve) => setTimeout(resolve, 300));

    await client.listTools({ _meta: { [LOG_LEVEL_META_KEY]: 'warning' } });
    await eventually(() => legacy!.seen.includes('logging/setLevel warning'));
    await legacy.live().sendLoggingMessage({ level: 'info', data: 'too chatty' });
    await legacy.live().sendLoggingMessage({ level: 'error', data: { error: 'disk full' } });
    await eventually(() => messages.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(messages).toEqual([{ level: 'error', logger: 'old', data: { error: 'disk full' } }]);
  });
});

/** A 2026-07-28 client straight to an upstream: what the upstream itself says, to compare the proxy's answer with. */
async function connectModernDirect(url: URL): Promise<Client> {
  const client = new SdkClient({ name: 'direct-modern-client', version: '1.0.0' }, MODERN);
  await client.connect(new StreamableHTTPClientTransport(url));
  return client;
}

/** The freshness fields of a result, as they came over the wire. */
function cacheFields(result: object): { ttlMs?: unknown; cacheScope?: unknown } {
  const { ttlMs, cacheScope } = result as { ttlMs?: unknown; cacheScope?: unknown };
  return { ttlMs, cacheScope };
}

describe('cache hints of a 2026-07-28 client', () => {
  it('answers lists with the smallest TTL and the narrowest scope of the upstreams that listed, reads with the owner’s', async () => {
    const a = await startModernUpstream('a', {
      cacheHints: {
        'tools/list': { ttlMs: 60_000, cacheScope: 'public' },
        'prompts/list': { ttlMs: 20_000, cacheScope: 'public' },
        'resources/list': { ttlMs: 50_000, cacheScope: 'public' },
        'resources/read': { ttlMs: 5_000, cacheScope: 'public' },
      },
    });
    const b = await startModernUpstream('b', {
      cacheHints: {
        'tools/list': { ttlMs: 30_000, cacheScope: 'public' },
        'prompts/list': { ttlMs: 40_000, cacheScope: 'private' },
        'resources/list': { ttlMs: 70_000, cacheScope: 'public' },
      },
    });
    closeAfter.push(a, b);
    // Directly first: each upstream says what it was told to.
    const direct = await connectModernDirect(a.url);
    try {
      expect(cacheFields(await direct.listTools())).toEqual({ ttlMs: 60_000, cacheScope: 'public' });
      expect(cacheFields(await direct.readResource({ uri: 'a://readme' }))).toEqual({
        ttlMs: 5_000,
        cacheScope: 'public',
      });
    } finally {
      await direct.close();
    }

    const client = await startModernProxy([
      { name: 'a', url: a.url },
      { name: 'b', url: b.url },
    ]);
    expect(cacheFields(await client.listTools())).toEqual({ ttlMs: 30_000, cacheScope: 'public' });
    expect(cacheFields(await client.listPrompts())).toEqual({ ttlMs: 20_000, cacheScope: 'private' });
    expect(cacheFields(await client.listResources())).toEqual({ ttlMs: 50_000, cacheScope: 'public' });
    // One upstream answers a read: its hint is the answer's.
    expect(cacheFields(await client.readResource({ uri: 'a://readme' }))).toEqual({
      ttlMs: 5_000,
      cacheScope: 'public',
    });
  });

  it('leaves a 2025-era client’s answers as they were: that era has no cache hints', async () => {
    modern = await startModernUpstream('modern', {
      cacheHints: { 'tools/list': { ttlMs: 60_000, cacheScope: 'public' } },
    });
    proxy = await startTestProxy([{ name: 'modern', url: modern.url }]);
    expect(proxy.client.getProtocolEra()).toBe('legacy');
    const listed = await proxy.client.listTools();
    expect(listed.tools.length).toBeGreaterThan(0);
    expect(cacheFields(listed)).toEqual({ ttlMs: undefined, cacheScope: undefined });
  });

  it('gives no more than a 2025-era upstream promises (0 ms, private) where it lists too, and counts only those that list', async () => {
    modern = await startModernUpstream('modern', {
      cacheHints: {
        'tools/list': { ttlMs: 60_000, cacheScope: 'public' },
        'prompts/list': { ttlMs: 45_000, cacheScope: 'public' },
      },
    });
    legacy = await startLegacyUpstream();
    const client = await startModernProxy([
      { name: 'modern', url: modern.url },
      { name: 'old', url: legacy.fixture.url },
    ]);
    // Both list tools; the 2025-era upstream says nothing of freshness, so the answer may not be reused.
    expect(cacheFields(await client.listTools())).toEqual({ ttlMs: 0, cacheScope: 'private' });
    // Only the modern upstream has prompts (the other declares none): its hint is the answer's.
    expect(cacheFields(await client.listPrompts())).toEqual({ ttlMs: 45_000, cacheScope: 'public' });
  });
});
