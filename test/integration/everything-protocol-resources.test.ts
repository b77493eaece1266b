/**
 * Resources, prompts, completion and logging of `@modelcontextprotocol/server-everything`, directly (proving the
 * expectation) and through the proxy (proving the proxy), over Streamable HTTP and over legacy SSE.
 *
 * Notifications server-everything sends outside a request (log messages, list changes) travel on the session's
 * standalone stream, and over Streamable HTTP the server drops them while that stream is not open yet (no replay
 * without a Last-Event-ID). Tests that wait for one first prove the stream open (`serverStreamOpen`), so a lost
 * notification can only be the proxy's doing.
 */
import { gunzipSync } from 'node:zlib';
import { type Client, LOG_LEVEL_META_KEY, type LoggingLevel } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { startEverything } from '../fixtures/everything.js';
import { connectDirect } from '../helpers/direct.js';
import {
  HTTP_TRANSPORTS,
  type LogMessage,
  logText,
  openTestSession,
  recordNotifications,
  type UpstreamUnderTest,
  upstreamForSuite,
  VIAS,
  type Via,
  waitUntil,
  walkPages,
} from '../helpers/session.js';

const DOC = (name: string) => `demo://resource/static/document/${name}`;
/** server-everything sends its simulated log messages and resource updates every 5 s (and one at once). */
const PERIODIC_WAIT_MS = 12_000;
const SIMULATED_LOG = /-level message|level-message/;

const listAllResources = async (client: Client) => (await walkPages(client, 'resources/list')).items;
const listAllTemplates = async (client: Client) => (await walkPages(client, 'resources/templates/list')).items;

/**
 * A 2026-07-28 result without what that era adds to every result (the answering server's `serverInfo` in `_meta`,
 * and the cache hints `ttlMs`/`cacheScope`, which a 2025-era upstream never gives), for comparing with a 2025 one.
 */
function withoutEraEnvelope<T extends object>(result: T): T {
  const {
    ttlMs: _ttl,
    cacheScope: _scope,
    _meta,
    ...rest
  } = result as T & {
    ttlMs?: unknown;
    cacheScope?: unknown;
    _meta?: Record<string, unknown>;
  };
  const { 'io.modelcontextprotocol/serverInfo': _server, ...meta } = _meta ?? {};
  return (Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest) as T;
}

/**
 * The client's log level, by its era's means: `logging/setLevel` (2025), or named on a request's `_meta` (the
 * 2026-07-28 revision has no setLevel; the proxy takes the latest level a request names).
 */
async function setLevel(client: Client, via: Via, level: LoggingLevel): Promise<void> {
  if (via !== 'proxy-2026') {
    await client.setLoggingLevel(level);
    return;
  }
  await client.callTool({ name: 'echo', arguments: { message: 'level' }, _meta: { [LOG_LEVEL_META_KEY]: level } });
}

/**
 * Subscribes to `uri` by its era's means: `resources/subscribe` (2025), or a `subscriptions/listen` stream naming
 * it (2026-07-28), which closing ends. Resolves with the unsubscribe.
 */
async function subscribe(client: Client, via: Via, uri: string): Promise<() => Promise<void>> {
  if (via !== 'proxy-2026') {
    await expect(client.subscribeResource({ uri })).resolves.toEqual({});
    return async () => {
      await expect(client.unsubscribeResource({ uri })).resolves.toEqual({});
    };
  }
  const subscription = await client.listen({ resourceSubscriptions: [uri] });
  return () => subscription.close();
}

/** What a plain client connected straight to the upstream gets from `run`. */
async function reference<T>(upstream: UpstreamUnderTest, run: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectDirect(upstream.url, upstream.transport);
  try {
    return await run(client);
  } finally {
    await client.close();
  }
}

/**
 * Returns once a notification sent outside any request has reached the client: turns on simulated logging at level
 * debug (every message passes) until one arrives, then turns it off again.
 */
async function serverStreamOpen(client: Client, via: Via, logs: LogMessage[]): Promise<void> {
  await setLevel(client, via, 'debug');
  await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  await waitUntil(
    'a simulated log message',
    () => logs.some((message) => SIMULATED_LOG.test(logText(message))),
    PERIODIC_WAIT_MS,
  );
  await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
}

describe.each(HTTP_TRANSPORTS)(
  'server-everything resources, prompts, completion and logging over $kind',
  ({ kind, transport }) => {
    const upstream = upstreamForSuite(transport, () => startEverything(kind));

    describe.each(VIAS)('%s', (via) => {
      it('lists every resource (all pages) and every template, as a direct client sees them', async () => {
        const { client } = await openTestSession(via, upstream);
        const expected = await reference(upstream, listAllResources);
        const resources = await listAllResources(client);
        expect(expected.length).toBeGreaterThanOrEqual(7);
        expect(resources).toHaveLength(expected.length);
        expect(resources).toEqual(expected);
        expect(resources).toContainEqual(
          expect.objectContaining({ uri: DOC('features.md'), mimeType: 'text/markdown' }),
        );

        const templates = await listAllTemplates(client);
        expect(templates).toEqual(await reference(upstream, listAllTemplates));
        expect(templates.map((template) => template.uriTemplate)).toEqual(
          expect.arrayContaining([
            'demo://resource/dynamic/text/{resourceId}',
            'demo://resource/dynamic/blob/{resourceId}',
          ]),
        );
      });

      it('reads a listed resource and resources of both templates', async () => {
        const { client } = await openTestSession(via, upstream);
        const listed = withoutEraEnvelope(await client.readResource({ uri: DOC('features.md') }));
        expect(listed).toEqual(await reference(upstream, (direct) => direct.readResource({ uri: DOC('features.md') })));
        expect(listed.contents).toEqual([
          expect.objectContaining({ uri: DOC('features.md'), mimeType: 'text/markdown', text: expect.any(String) }),
        ]);

        const text = await client.readResource({ uri: 'demo://resource/dynamic/text/42' });
        expect(text.contents).toEqual([
          {
            uri: 'demo://resource/dynamic/text/42',
            mimeType: 'text/plain',
            text: expect.stringMatching(/^Resource 42: This is a plaintext resource created at /),
          },
        ]);
        const blob = (await client.readResource({ uri: 'demo://resource/dynamic/blob/5' })).contents[0];
        expect(blob?.uri).toBe('demo://resource/dynamic/blob/5');
        const bytes = blob && 'blob' in blob ? blob.blob : '';
        expect(Buffer.from(bytes, 'base64').toString('utf8')).toMatch(/^Resource 5: This is a base64 blob created at /);
      });

      it("answers a read of an unknown resource with the upstream's JSON-RPC error", async () => {
        const { client } = await openTestSession(via, upstream);
        const uri = 'demo://resource/nowhere/1';
        const expected = await reference(upstream, (direct) =>
          direct.readResource({ uri }).then(
            () => undefined,
            (e) => e,
          ),
        );
        expect(expected).toMatchObject({ code: expect.any(Number), message: expect.stringContaining(uri) });
        await expect(client.readResource({ uri })).rejects.toMatchObject({
          code: expected.code,
          message: expected.message,
        });
      });

      it('announces a resource a tool adds, lists it and reads it', async () => {
        const logs = recordNotifications('notifications/message');
        const listChanged = recordNotifications('notifications/resources/list_changed');
        const { client } = await openTestSession(via, upstream, {
          setup: (client) => {
            logs.setup(client);
            listChanged.setup(client);
          },
        });
        await serverStreamOpen(client, via, logs.received);
        // A 2026-07-28 client hears of list changes on a listen stream asking for them.
        const listening = via === 'proxy-2026' ? await client.listen({ resourcesListChanged: true }) : undefined;
        const before = listChanged.received.length;
        const data = `data:text/plain;base64,${Buffer.from('hello through the proxy').toString('base64')}`;
        const result = await client.callTool({
          name: 'gzip-file-as-resource',
          arguments: { name: 'hello.txt.gz', data, outputType: 'resourceLink' },
        });
        const uri = 'demo://resource/session/hello.txt.gz';
        expect(result.content).toEqual([
          { type: 'resource_link', uri, name: 'hello.txt.gz', mimeType: 'application/gzip' },
        ]);
        await waitUntil('notifications/resources/list_changed', () => listChanged.received.length > before);
        expect((await listAllResources(client)).map((resource) => resource.uri)).toContain(uri);
        const content = (await client.readResource({ uri })).contents[0];
        expect(content).toMatchObject({ uri, mimeType: 'application/gzip' });
        const blob = content && 'blob' in content ? content.blob : '';
        expect(gunzipSync(Buffer.from(blob, 'base64')).toString('utf8')).toBe('hello through the proxy');
        await listening?.close();
      });

      it('subscribes to a resource, relays its updates, and unsubscribes', async () => {
        const logs = recordNotifications('notifications/message');
        const updates = recordNotifications('notifications/resources/updated');
        const { client } = await openTestSession(via, upstream, {
          setup: (client) => {
            logs.setup(client);
            updates.setup(client);
          },
        });
        const uri = DOC('architecture.md');
        const unsubscribe = await subscribe(client, via, uri);
        // Sends an update for every subscribed URI at once and every 5 s (so a stream opened late still gets one).
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
        await waitUntil('notifications/resources/updated', () => updates.received.length > 0, PERIODIC_WAIT_MS);
        // (On a listen stream each carries the stream's subscription id in `_meta` too.)
        expect(updates.received.map((update) => update.uri)).toContain(uri);
        expect(new Set(updates.received.map((update) => update.uri))).toEqual(new Set([uri]));
        await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });

        // The upstream acknowledges an unsubscribe with a log message (the stream is open: an update came through it).
        if (via === 'proxy-2026') await setLevel(client, via, 'info');
        await unsubscribe();
        await waitUntil('the log message acknowledging the unsubscribe', () =>
          logs.received.some((message) => logText(message).includes(`Received Unsubscribe Resource request: ${uri}`)),
        );
      });

      it('lists prompts as a direct client sees them and gets them with arguments', async () => {
        const { client } = await openTestSession(via, upstream);
        const { prompts } = await client.listPrompts();
        expect(prompts).toEqual((await reference(upstream, (direct) => direct.listPrompts())).prompts);
        expect(prompts.map((prompt) => prompt.name)).toEqual(
          expect.arrayContaining(['simple-prompt', 'args-prompt', 'completable-prompt', 'resource-prompt']),
        );

        const weather = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'Texas' } });
        expect(weather.messages).toEqual([
          { role: 'user', content: { type: 'text', text: "What's weather in Paris, Texas?" } },
        ]);
        const embedded = await client.getPrompt({
          name: 'resource-prompt',
          arguments: { resourceType: 'Text', resourceId: '3' },
        });
        expect(embedded.messages).toHaveLength(2);
        expect(embedded.messages[1]).toMatchObject({
          role: 'user',
          content: {
            type: 'resource',
            resource: { uri: 'demo://resource/dynamic/text/3', text: expect.stringMatching(/^Resource 3: /) },
          },
        });
      });

      it('completes prompt arguments (with context) and resource template variables', async () => {
        const { client } = await openTestSession(via, upstream);
        const prompt = { type: 'ref/prompt' as const, name: 'completable-prompt' };
        const department = await client.complete({ ref: prompt, argument: { name: 'department', value: 'Mar' } });
        expect(department.completion.values).toEqual(['Marketing']);
        const name = await client.complete({
          ref: prompt,
          argument: { name: 'name', value: '' },
          context: { arguments: { department: 'Sales' } },
        });
        expect(name.completion.values).toEqual(['David', 'Eve', 'Frank']);

        const template = { type: 'ref/resource' as const, uri: 'demo://resource/dynamic/text/{resourceId}' };
        const id = await client.complete({ ref: template, argument: { name: 'resourceId', value: '7' } });
        expect(id.completion.values).toEqual(['7']);
        const notAnId = await client.complete({ ref: template, argument: { name: 'resourceId', value: 'x' } });
        expect(notAnId.completion.values).toEqual([]);
      });

      it("relays the upstream's log messages, at the level the client set", async () => {
        const logs = recordNotifications('notifications/message');
        const session = await openTestSession(via, upstream, { setup: logs.setup });
        const { client } = session;
        await serverStreamOpen(client, via, logs.received);
        const simulated = logs.received.find((message) => SIMULATED_LOG.test(logText(message)));
        expect(simulated?.logger).toBe(session.expectedLogger(undefined));

        // server-everything acknowledges a subscribe with an info message. At level error it must not send the first
        // one; both would travel on the same stream in order, so once the second has arrived, the first never will.
        const quiet = DOC('startup.md');
        const loud = DOC('structure.md');
        await setLevel(client, via, 'error');
        await subscribe(client, via, quiet);
        await setLevel(client, via, 'info');
        await subscribe(client, via, loud);
        await waitUntil('the info message acknowledging the second subscribe', () =>
          logs.received.some((message) => logText(message).includes(loud)),
        );
        const acknowledged = logs.received.find((message) => logText(message).includes(loud));
        expect(acknowledged?.level).toBe('info');
        expect(acknowledged?.logger).toBe(session.expectedLogger(undefined));
        expect(logs.received.filter((message) => logText(message).includes(quiet))).toEqual([]);
      });
    });
  },
);
