/**
 * A 2026-07-28 upstream (the SDK's `createMcpHandler`) behind the proxy, seen by a 2025-era client: list changes,
 * resource subscriptions, logging and trace context pass through, and survive the upstream's restart. That era
 * has none of the 2025 mechanisms (no standalone stream, no resources/subscribe, no logging/setLevel): each
 * expectation is first proven directly against the upstream with a modern SDK client using the era's own
 * (`subscriptions/listen`, the per-request log level `_meta`), then through the proxy with the 2025 ones.
 */
import {
  BAGGAGE_META_KEY,
  Client,
  LOG_LEVEL_META_KEY,
  type LoggingLevel,
  type McpSubscription,
  StreamableHTTPClientTransport,
  TRACEPARENT_META_KEY,
  TRACESTATE_META_KEY,
} from '@modelcontextprotocol/client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type ModernUpstream, startModernUpstream } from '../fixtures/modern-upstream.js';
import { startUpstream } from '../fixtures/upstreams.js';
import { connectDirect } from '../helpers/direct.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { type LogMessage, VIAS, type Via, waitUntil } from '../helpers/session.js';

const UPSTREAM = 'modern';

const TRACE_META = {
  [TRACEPARENT_META_KEY]: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  [TRACESTATE_META_KEY]: 'vendor=opaque',
  [BAGGAGE_META_KEY]: 'user=ada',
};

/** The client's view of the upstream, direct or through the proxy, with each era's way to ask for changes. */
interface Session {
  readonly client: Client;
  readonly listChanged: () => number;
  readonly updated: string[];
  readonly logs: LogMessage[];
  /** The `logger` the upstream's messages reach the client with. */
  readonly logger: string;
  /** Direct: a listen stream for tool list changes; the proxy opens its own. */
  hearToolChanges(): Promise<void>;
  /** A 2026-07-28 client: a listen stream for these lists' changes; a 2025-era one hears them anyway. */
  hearListChanges(lists: ReadonlyArray<'resources' | 'prompts'>): Promise<void>;
  subscribe(uri: string): Promise<void>;
  unsubscribe(uri: string): Promise<void>;
  setLogLevel(level: LoggingLevel): Promise<void>;
  call(name: string, meta?: Record<string, unknown>): Promise<string>;
  proxy?: TestProxy;
}

async function open(via: Via, upstream: ModernUpstream, extraSetup?: (client: Client) => void): Promise<Session> {
  const updated: string[] = [];
  const logs: LogMessage[] = [];
  let listChanged = 0;
  const setup = (client: Client) => {
    client.setNotificationHandler('notifications/resources/updated', ({ params }) => void updated.push(params.uri));
    client.setNotificationHandler('notifications/message', ({ params }) => void logs.push(params));
    client.setNotificationHandler('notifications/tools/list_changed', () => void listChanged++);
    extraSetup?.(client);
  };
  const text = (result: { content?: unknown }) => (result.content as Array<{ text: string }>)[0]!.text;

  // A 2026-07-28 client, of the upstream itself or of the proxy: the era's own mechanisms.
  const modernSession = (client: Client, counted: () => number, logger: string, proxy?: TestProxy): Session => {
    const streams: McpSubscription[] = [];
    const resources = new Map<string, McpSubscription>();
    let level: LoggingLevel | undefined;
    onTestFinished(async () => {
      for (const stream of [...streams, ...resources.values()]) await stream.close();
    });
    return {
      client,
      ...(proxy && { proxy }),
      listChanged: counted,
      updated,
      logs,
      logger,
      async hearToolChanges() {
        streams.push(await client.listen({ toolsListChanged: true }));
      },
      async hearListChanges(lists) {
        const filter = {
          ...(lists.includes('resources') && { resourcesListChanged: true }),
          ...(lists.includes('prompts') && { promptsListChanged: true }),
        };
        streams.push(await client.listen(filter));
      },
      async subscribe(uri) {
        resources.set(uri, await client.listen({ resourceSubscriptions: [uri] }));
      },
      async unsubscribe(uri) {
        await resources.get(uri)?.close();
        resources.delete(uri);
      },
      async setLogLevel(next) {
        level = next;
      },
      async call(name, meta = {}) {
        const logLevel = level === undefined ? {} : { [LOG_LEVEL_META_KEY]: level };
        return text(await client.callTool({ name, arguments: {}, _meta: { ...logLevel, ...meta } }));
      },
    };
  };

  if (via === 'direct') {
    const client = new Client({ name: 'direct-modern', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    setup(client);
    await client.connect(new StreamableHTTPClientTransport(upstream.url));
    expect(client.getProtocolEra()).toBe('modern');
    onTestFinished(() => client.close());
    return modernSession(client, () => listChanged, 'fixture');
  }
  if (via === 'proxy-2026') {
    const proxy = await startTestProxy([{ name: UPSTREAM, url: upstream.url }], {
      client: { setup, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    });
    onTestFinished(() => proxy.close());
    expect(proxy.client.getProtocolEra()).toBe('modern');
    return modernSession(proxy.client, () => proxy.listChanged(), UPSTREAM, proxy);
  }

  const proxy = await startTestProxy([{ name: UPSTREAM, url: upstream.url }], { client: { setup } });
  onTestFinished(() => proxy.close());
  const client = proxy.client;
  return {
    client,
    proxy,
    // The test proxy's client counts them itself (its handler replaces the one set up above).
    listChanged: () => proxy.listChanged(),
    updated,
    logs,
    logger: UPSTREAM,
    async hearToolChanges() {},
    async hearListChanges() {},
    async subscribe(uri) {
      await client.subscribeResource({ uri });
    },
    async unsubscribe(uri) {
      await client.unsubscribeResource({ uri });
    },
    async setLogLevel(next) {
      await client.setLoggingLevel(next);
    },
    async call(name, meta) {
      return text(await client.callTool({ name, arguments: {}, ...(meta && { _meta: meta }) }));
    },
  };
}

async function startFixture(): Promise<ModernUpstream> {
  const upstream = await startModernUpstream(UPSTREAM, { live: true });
  onTestFinished(() => upstream.close());
  return upstream;
}

const toolNames = async (client: Client) =>
  (await client.listTools()).tools.map((tool) => tool.name).filter((name) => !name.startsWith('proxy'));

/** Long enough for a notification already on its way to arrive: the negative checks wait this. */
const QUIET_MS = 500;

describe.each(VIAS)('a 2026-07-28 upstream, %s', (via) => {
  it('announces a tool list change, and the list is fresh after it', async () => {
    const upstream = await startFixture();
    const session = await open(via, upstream);
    await session.hearToolChanges();
    expect(await toolNames(session.client)).not.toContain('extra');

    expect(await session.call('toggle_extra')).toBe('extra added');
    await waitUntil('tools/list_changed', () => session.listChanged() >= 1);
    expect(await toolNames(session.client)).toContain('extra');

    expect(await session.call('toggle_extra')).toBe('extra removed');
    await waitUntil('a second tools/list_changed', () => session.listChanged() >= 2);
    expect(await toolNames(session.client)).not.toContain('extra');
  });

  it('announces resource and prompt list changes, and the lists are fresh after them', async () => {
    const upstream = await startFixture();
    const changed: string[] = [];
    const session = await open(via, upstream, (client) => {
      client.setNotificationHandler('notifications/resources/list_changed', () => void changed.push('resources'));
      client.setNotificationHandler('notifications/prompts/list_changed', () => void changed.push('prompts'));
    });
    await session.hearListChanges(['resources', 'prompts']);
    const resources = async () => (await session.client.listResources()).resources.map((r) => r.uri);
    const prompts = async () => (await session.client.listPrompts()).prompts.map((p) => p.name);
    expect(await resources()).not.toContain(`${UPSTREAM}://extra`);

    expect(await session.call('toggle_extras')).toBe('extras added');
    await waitUntil(
      'resources and prompts list_changed',
      () => changed.includes('resources') && changed.includes('prompts'),
    );
    expect(await resources()).toContain(`${UPSTREAM}://extra`);
    expect(await prompts()).toContain('extra');
  });

  it('sends resources/updated for a subscribed resource until it is unsubscribed', async () => {
    const upstream = await startFixture();
    const session = await open(via, upstream);
    await session.subscribe(upstream.counterUri);

    expect(await session.call('bump_counter')).toBe('count 1');
    await waitUntil('resources/updated', () => session.updated.length === 1);
    expect(session.updated).toEqual([upstream.counterUri]);
    const read = await session.client.readResource({ uri: upstream.counterUri });
    expect(read.contents).toEqual([{ uri: upstream.counterUri, mimeType: 'text/plain', text: 'count 1' }]);

    await session.unsubscribe(upstream.counterUri);
    expect(await session.call('bump_counter')).toBe('count 2');
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    expect(session.updated).toEqual([upstream.counterUri]);
  });

  it('sends only the log messages at or above the level asked for, each under its logger', async () => {
    const upstream = await startFixture();
    const session = await open(via, upstream);
    await session.setLogLevel('warning');

    expect(await session.call('log_levels')).toBe('logged');
    await waitUntil('two log messages', () => session.logs.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    expect(session.logs).toEqual([
      { level: 'warning', logger: session.logger, data: `warning from ${UPSTREAM}` },
      { level: 'error', logger: session.logger, data: `error from ${UPSTREAM}` },
    ]);
    // The level rides on the request itself (this era has no logging/setLevel).
    expect(JSON.parse(await session.call('echo_meta')).logLevel).toBe('warning');
  });

  it('receives the trace context of a request', async () => {
    const upstream = await startFixture();
    const session = await open(via, upstream);
    const { meta } = JSON.parse(await session.call('echo_meta', TRACE_META));
    expect(meta).toEqual(TRACE_META);
  });
});

describe('a 2025-era upstream', () => {
  it.each(VIAS)('receives the trace context of a request, %s', async (via) => {
    const legacy = await startUpstream({ kind: 'streamable-http', name: 'plain', tools: ['echo'] });
    onTestFinished(() => legacy.close());
    let client: Client;
    if (via === 'direct') {
      client = await connectDirect(legacy.url, 'http');
      onTestFinished(() => client.close());
    } else {
      const proxy = await startTestProxy([{ name: 'plain', url: legacy.url }]);
      onTestFinished(() => proxy.close());
      client = proxy.client;
    }
    const result = await client.callTool({ name: 'echo', arguments: { text: 'hi' }, _meta: TRACE_META });
    expect((result._meta as { received?: unknown }).received).toEqual(TRACE_META);
  });
});

describe('a 2026-07-28 upstream whose listen stream drops', () => {
  it('direct: the stream ends as dropped, and a new one hears the server', async () => {
    const upstream = await startFixture();
    const session = await open('direct', upstream);
    const stream = await session.client.listen({ toolsListChanged: true });
    upstream.dropListens();
    expect(await stream.closed).toBe('remote');
    await session.hearToolChanges();
    await session.call('toggle_extra');
    await waitUntil('tools/list_changed on the new stream', () => session.listChanged() === 1);
  });

  it('proxy: re-opens it with the subscription, and lists again what changed while it was down', async () => {
    const upstream = await startFixture();
    const session = await open('proxy', upstream);
    await session.subscribe(upstream.counterUri);
    expect(await toolNames(session.client)).not.toContain('extra');
    const before = session.proxy!.listChanged();

    upstream.dropListens();
    // Nobody is told of this change: only a new list after the stream is back finds it.
    upstream.toggleExtraSilently();
    await waitUntil('tools/list_changed after the re-list', () => session.proxy!.listChanged() > before, 10_000);
    expect(await toolNames(session.client)).toContain('extra');
    await waitUntil('the listen stream with the subscription, again', () =>
      upstream.listening.some((filter) => filter.resourceSubscriptions?.includes(upstream.counterUri)),
    );
    expect(await session.call('bump_counter')).toBe('count 1');
    await waitUntil('resources/updated on the re-opened stream', () => session.updated.length === 1);
  });
});

describe('a 2026-07-28 upstream restarted', () => {
  it('direct: a new listen stream hears the restarted server', async () => {
    const upstream = await startFixture();
    const session = await open('direct', upstream);
    await upstream.restart();
    await session.subscribe(upstream.counterUri);
    await session.hearToolChanges();
    await session.call('bump_counter');
    await session.call('toggle_extra');
    await waitUntil('resources/updated', () => session.updated.length === 1);
    await waitUntil('tools/list_changed', () => session.listChanged() === 1);
  });

  it('proxy: reconnects without a new server/discover, and the subscription and list changes go on', async () => {
    const upstream = await startFixture();
    const session = await open('proxy', upstream);
    const proxy = session.proxy!;
    await session.subscribe(upstream.counterUri);
    await session.setLogLevel('error');
    const discovers = () => upstream.methods.filter((method) => method === 'server/discover').length;
    expect(discovers()).toBe(1);

    await upstream.kill();
    // One attempt fails while the server is down (it adopts the verdict, then cannot list), which must not cost
    // the verdict: the server being away says nothing of its era.
    const killedAt = proxy.transitions.length;
    const reconnects = () =>
      proxy.transitions
        .slice(killedAt)
        .filter((t) => t.machine === 'upstream' && t.actor === UPSTREAM && t.state.startsWith('reconnecting')).length;
    await waitUntil('a failed attempt while the server is down', () => reconnects() >= 2, 15_000);
    await upstream.restart();
    await proxy.waitForState(UPSTREAM, /^connected\.ready/, 15_000);
    // The era verdict of the first session was adopted: no probe this time.
    expect(discovers()).toBe(1);
    await waitUntil('the listen stream with the subscription, on the restarted server', () =>
      upstream.listening.some((filter) => filter.resourceSubscriptions?.includes(upstream.counterUri)),
    );

    expect(await session.call('bump_counter')).toBe('count 1');
    await waitUntil('resources/updated after the restart', () => session.updated.length === 1);
    const before = session.listChanged();
    await session.call('toggle_extra');
    await waitUntil('tools/list_changed after the restart', () => session.listChanged() > before);
    expect(await toolNames(session.client)).toContain('extra');
    // The log level was restored too.
    expect(JSON.parse(await session.call('echo_meta')).logLevel).toBe('error');
  });
});
