/**
 * One test body, three ways to reach an upstream: a client connected straight to it (`direct`, which proves the
 * expectation right), a 2025-era client of the proxy in front of it (`proxy`), and a 2026-07-28 client of the
 * built proxy over stdio (`proxy-2026`, the era a modern client negotiates; it needs the real stdio entry).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  Client,
  type LoggingMessageNotificationParams,
  type NotificationMethod,
  type NotificationTypeMap,
  type Resource,
  type ResourceTemplateType,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { connectDirect, type TestClientOptions } from './direct.js';
import { startTestProxy } from './proxy.js';

export type Via = 'direct' | 'proxy' | 'proxy-2026';

export const VIAS: readonly Via[] = ['direct', 'proxy', 'proxy-2026'];

const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

/** The name the proxy is given for the upstream under test. */
export const PROXIED_UPSTREAM_NAME = 'everything';

export interface UpstreamUnderTest {
  url: URL;
  transport: 'http' | 'sse';
}

/** Both HTTP transports, for `describe.each`: server-everything's name for each, and ours. */
export const HTTP_TRANSPORTS = [
  { kind: 'streamableHttp', transport: 'http' },
  { kind: 'sse', transport: 'sse' },
] as const;

/**
 * An upstream for every test of the enclosing `describe`: started before them, closed after. The object returned is
 * filled in when it has started, so tests can hold on to it from the start.
 */
export function upstreamForSuite(
  transport: UpstreamUnderTest['transport'],
  start: () => Promise<{ url: URL; close(): Promise<void> }>,
): UpstreamUnderTest {
  const upstream: UpstreamUnderTest = { url: new URL('http://127.0.0.1/not-started'), transport };
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const started = await start();
    upstream.url = started.url;
    close = () => started.close();
  });
  afterAll(async () => {
    await close?.();
  });
  return upstream;
}

export interface TestSession {
  readonly client: Client;
  readonly via: Via;
  /**
   * The `logger` a log message of the upstream carries when it reaches the client: the upstream's own (direct), or
   * the upstream's configured name (through the proxy).
   */
  expectedLogger(upstreamLogger: string | undefined): string | undefined;
  close(): Promise<void>;
}

export async function openSession(
  via: Via,
  upstream: UpstreamUnderTest,
  options: TestClientOptions = {},
): Promise<TestSession> {
  if (via === 'direct') {
    const client = await connectDirect(upstream.url, upstream.transport, options);
    return { client, via, expectedLogger: (logger) => logger, close: () => client.close() };
  }
  if (via === 'proxy-2026') return openModernClientSession(upstream, options);
  const proxy = await startTestProxy(
    [{ name: PROXIED_UPSTREAM_NAME, url: upstream.url, transport: upstream.transport }],
    { client: options },
  );
  return { client: proxy.client, via, expectedLogger: () => PROXIED_UPSTREAM_NAME, close: () => proxy.close() };
}

/** A 2026-07-28 client of the built proxy (`npm test` builds first), the upstream its one, as a host would run it. */
async function openModernClientSession(upstream: UpstreamUnderTest, options: TestClientOptions): Promise<TestSession> {
  const tokenDir = await mkdtemp(join(tmpdir(), 'proxy-2026-client-'));
  const env = {
    PATH: process.env.PATH ?? '',
    ENABLE_ADDITIONAL_TOOLS: 'proxy',
    PROXY_UPSTREAMS: JSON.stringify([
      { name: PROXIED_UPSTREAM_NAME, url: upstream.url.href, transport: upstream.transport },
    ]),
    PROXY_TOKEN_DIR: tokenDir,
    PROXY_CATALOG_CACHE: '0',
    BROWSER: 'none',
  };
  const client = new Client(
    { name: 'modern-test-client', version: '1.0.0' },
    {
      ...(options.capabilities && { capabilities: options.capabilities }),
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    },
  );
  options.setup?.(client);
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN], env, stderr: 'ignore' }));
  return {
    client,
    via: 'proxy-2026',
    expectedLogger: () => PROXIED_UPSTREAM_NAME,
    close: async () => {
      await client.close();
      await rm(tokenDir, { recursive: true, force: true });
    },
  };
}

/** `openSession`, closed when the current test ends. */
export async function openTestSession(
  via: Via,
  upstream: UpstreamUnderTest,
  options: TestClientOptions = {},
): Promise<TestSession> {
  const session = await openSession(via, upstream, options);
  onTestFinished(() => session.close());
  return session;
}

/**
 * Resolves once `predicate` holds, checking every few milliseconds, or after each run of `poll` when given (for a
 * state only a request can observe); rejects naming `what` after `timeoutMs`. Every wait is bounded.
 */
export async function waitUntil(
  what: string,
  predicate: () => boolean,
  timeoutMs = 5_000,
  poll?: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await poll?.();
    if (predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, poll ? 100 : 10));
  }
}

/**
 * Records every notification of `method` the client receives, in arrival order: pass `setup` in the client options
 * (or call it on a connected client).
 */
export function recordNotifications<M extends NotificationMethod>(
  method: M,
): { received: NotificationTypeMap[M]['params'][]; setup: (client: Client) => void } {
  const received: NotificationTypeMap[M]['params'][] = [];
  return {
    received,
    setup: (client) => {
      client.setNotificationHandler(method, (notification) => {
        received.push(notification.params);
      });
    },
  };
}

export type LogMessage = LoggingMessageNotificationParams;

/** The text of a log message's `data`, whatever its JSON type. */
export function logText(message: LogMessage): string {
  return typeof message.data === 'string' ? message.data : JSON.stringify(message.data);
}

/**
 * Every page of `resources/list` (or `resources/templates/list`), requested one by one, and how many pages it took.
 * (The SDK client's `listResources()` without a cursor aggregates the pages itself, and may answer from its cache.)
 * The proxy's own `proxy://status` resource is left out: it is not the upstream's (protocol.test.ts covers it).
 */
export async function walkPages<M extends 'resources/list' | 'resources/templates/list'>(
  client: Client,
  method: M,
): Promise<{ items: (M extends 'resources/list' ? Resource : ResourceTemplateType)[]; pages: number }> {
  const items: unknown[] = [];
  let cursor: string | undefined;
  for (let pages = 1; pages <= 100; pages++) {
    const result: { resources?: unknown[]; resourceTemplates?: unknown[]; nextCursor?: string } = await client.request({
      method,
      params: cursor === undefined ? {} : { cursor },
    });
    items.push(
      ...(result.resources ?? result.resourceTemplates ?? []).filter(
        (item) => (item as { uri?: string }).uri !== 'proxy://status',
      ),
    );
    cursor = result.nextCursor;
    if (cursor === undefined) return { items: items as never, pages };
  }
  throw new Error(`${method} did not end within 100 pages`);
}
