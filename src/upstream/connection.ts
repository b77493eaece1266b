/**
 * An initialized MCP session with one upstream, behind the small `UpstreamConnection` interface the statecharts
 * use. It forwards requests untouched, passes server-to-client traffic to the downstream client (through the
 * bridge), reports a dropped connection, and asks for a re-list on any list_changed. A 2026-07-28 session hears
 * changes on its `subscriptions/listen` stream (./listen.ts), which also carries what `resources/subscribe` asked
 * for, and gets the log level on every request (./client.ts) instead of `logging/setLevel`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type LoggingLevel,
  ProtocolErrorCode,
  type Result,
  SdkError,
  SdkErrorCode,
  SseError,
  SUBSCRIPTION_ID_META_KEY,
} from '@modelcontextprotocol/client';
import type {
  CallOutcome,
  ClientRequestHandler,
  ConnectionSignal,
  ForwardedRequest,
  SessionState,
  TransportKind,
  UpstreamCatalog,
  UpstreamConnection,
} from '../../machines/types.js';
import { ConnectionLostError, ListError, MaxCallTimeError, NotSentError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { listsTasks, runsToolCallsAsTasks, upstreamResultSchema } from '../tasks/wire.js';
import { CLIENT_REQUESTS, type ClientBridge, type ClientRequestMethod } from './bridge.js';
import type { UpstreamClient } from './client.js';
import { classifyCallError, networkReason } from './failures.js';
import { createListenStream, type ListenStream } from './listen.js';
import { listAll } from './listing.js';
import { inRequestScope } from './request-scope.js';

/** Listing everything (all pages) may take this long; then the list counts as failed and the upstream reconnects. */
const LIST_TIMEOUT_MS = 60_000;

/**
 * The request being served, for the server-to-client requests the upstream makes meanwhile: they arrive on that
 * request's response stream (or in its input_required rounds), so they run in its async context.
 */
const servingRequest = new AsyncLocalStorage<ClientRequestHandler>();

/** How long the liveness check after a transport error may take before the connection counts as lost. */
const LIVENESS_PING_TIMEOUT_MS = 5_000;

export interface ConnectionOptions {
  name: string;
  transport: TransportKind;
  client: UpstreamClient;
  bridge: ClientBridge;
  logger: Logger;
  /** Ends the session (Streamable HTTP: DELETE) before the transport closes. */
  endSession?: () => Promise<void>;
}

export interface CreatedConnection {
  connection: UpstreamConnection;
  /** A 2026-07-28 session: settles when its first `subscriptions/listen` stream is open (or could not be). */
  listening: Promise<void>;
}

export function createConnection({
  name,
  transport,
  client,
  bridge,
  logger,
  endSession,
}: ConnectionOptions): CreatedConnection {
  const listeners = new Set<(signal: ConnectionSignal) => void>();
  /** The per-request handlers of the requests in flight here, latest last (see the handlers below). */
  const serving = new Set<ClientRequestHandler>();
  let closing = false;
  let lost = false;
  let checking = false;
  let stopWatchingRoots: (() => void) | undefined;

  const signal = (event: ConnectionSignal) => {
    for (const listener of listeners) listener(event);
  };
  const reportLost = (reason: string) => {
    if (closing || lost) return;
    lost = true;
    signal({
      type: 'lost',
      failure: new ConnectionLostError(`upstream "${name}": connection lost (${reason})`, { reason }),
    });
  };

  // One ping tells whether the server is still there and still knows the session. The 2026-07-28 era has no ping
  // (and no session): its cheapest request, server/discover, tells whether the server is there.
  const checkAlive = () => {
    if (closing || lost || checking) return;
    checking = true;
    const options = { timeout: LIVENESS_PING_TIMEOUT_MS };
    (client.getProtocolEra() === 'modern' ? client.discover(options) : client.ping(options))
      .then(() => {
        if (!closing && !lost) signal({ type: 'alive' });
      })
      .catch((pingError: unknown) => {
        const outcome = classifyCallError(name, 'ping', LIVENESS_PING_TIMEOUT_MS, pingError);
        if (outcome.type !== 'failure') return;
        const { kind, code, reason } = outcome.failure;
        if (kind === 'session-expired') reportLost('the server no longer knows our session');
        else if (kind === 'auth') reportLost('sign-in needed');
        else if (kind === 'network') reportLost(reason ?? networkReason(pingError));
        else if (code === 'ERR_UPSTREAM_TIMEOUT') reportLost('no answer to ping');
      })
      .finally(() => {
        checking = false;
      });
  };

  client.onclose = () => reportLost('the transport closed');
  client.onerror = (error) => {
    if (closing || lost) return;
    // The legacy SSE transport has one stream: when it errors, the session is gone (a reconnected EventSource
    // would get a new, uninitialized session). A failed POST is reported here too, but the stream may be fine.
    if (transport === 'sse' && error instanceof SseError) return reportLost(networkReason(error));
    // Streamable HTTP reports many recoverable things here (a standalone stream dropped and being re-opened).
    checkAlive();
  };
  const catalogChanged = () => signal({ type: 'catalog-changed' });
  client.setNotificationHandler('notifications/tools/list_changed', catalogChanged);
  client.setNotificationHandler('notifications/resources/list_changed', catalogChanged);
  client.setNotificationHandler('notifications/prompts/list_changed', catalogChanged);
  client.setNotificationHandler('notifications/message', ({ params }) => bridge.log(name, params));
  client.setNotificationHandler('notifications/resources/updated', ({ params }) =>
    bridge.resourceUpdated(name, withoutSubscriptionId(params)),
  );
  // A 2026-07-28 session has no standalone stream and no resources/subscribe: both are this stream.
  const modern = client.getProtocolEra() === 'modern';
  const listen: ListenStream | undefined = modern
    ? createListenStream({
        client,
        onDropped: () => checkAlive(),
        onReopened: catalogChanged,
        warn: (line) => {
          if (!closing && !lost) logger.warn(`upstream "${name}": ${line}`);
        },
      })
    : undefined;
  const listening = (listen?.setResources([]) ?? Promise.resolve()).catch((error: unknown) => {
    if (!closing) logger.warn(`upstream "${name}": subscriptions/listen failed (${networkReason(error)}); retrying`);
  });
  // 2025-11-25 task statuses: left out of the SDK's typed surface (no task runtime), known to its dispatcher.
  (client.setNotificationHandler as (method: string, handler: (n: { params?: unknown }) => void) => void)(
    'notifications/tasks/status',
    ({ params }) => bridge.taskStatus?.(name, (params ?? {}) as Record<string, unknown>),
  );
  stopWatchingRoots = bridge.capabilities.roots?.listChanged
    ? bridge.onRootsChanged(() => void client.sendRootsListChanged().catch(() => {}))
    : undefined;

  // Only what the downstream client declared: the SDK refuses a handler for an undeclared capability.
  for (const [method, capability] of Object.entries(CLIENT_REQUESTS) as Array<[ClientRequestMethod, string]>) {
    if (!(capability in bridge.capabilities)) continue;
    client.setRequestHandler(method, (request, ctx) => {
      const params = request.params as Record<string, unknown> | undefined;
      // Made while serving one of our requests (its response stream, or a 2026-07-28 input_required round)? Over
      // legacy SSE every server request arrives on the one stream, outside any request's async context: it is
      // taken to belong to the latest request in flight, which a 2026-07-28 client can only be asked within.
      const perRequest = servingRequest.getStore() ?? [...serving].at(-1);
      // The client's answer goes back as it is; the SDK validates it against the method's result schema.
      if (perRequest) return perRequest(method, params, ctx.mcpReq.signal) as never;
      return bridge.request(name, method, params, ctx.mcpReq.signal) as never;
    });
  }

  const listed = async <T>(what: string, list: () => Promise<T[]>): Promise<T[]> => {
    try {
      return await list();
    } catch (error) {
      const outcome = classifyCallError(name, what, LIST_TIMEOUT_MS, error);
      if (outcome.type === 'failure') throw outcome.failure;
      // Declaring `resources` without serving templates (the SDK's low-level server does that) means none.
      if (outcome.type === 'rpc-error' && outcome.code === ProtocolErrorCode.MethodNotFound) return [];
      const reason = outcome.type === 'rpc-error' ? outcome.message : 'unexpected answer';
      // A JSON-RPC error: the upstream is there but will not list; retrying later may help.
      throw new ListError(`upstream "${name}": ${what} failed (${reason})`);
    }
  };
  const list = { client, upstream: name, timeoutMs: LIST_TIMEOUT_MS, warn: (line: string) => logger.warn(line) };

  /**
   * `resources/subscribe` and `unsubscribe` of a 2026-07-28 session: the URI joins (or leaves) the listen stream's
   * filter; the answer waits until the server has acknowledged the stream that carries it.
   */
  const subscribeOnListen = async (
    stream: ListenStream,
    method: 'resources/subscribe' | 'resources/unsubscribe',
    uri: string,
    label: string,
    timeoutMs: number,
  ): Promise<CallOutcome> => {
    if (!client.getServerCapabilities()?.resources?.subscribe) {
      return {
        type: 'rpc-error',
        code: ProtocolErrorCode.MethodNotFound,
        message: `upstream "${name}" offers no resource subscriptions`,
      };
    }
    try {
      if (method === 'resources/unsubscribe') {
        await stream.unsubscribe(uri);
        return { type: 'result', result: {} };
      }
      await stream.subscribe(uri);
      if (stream.honors(uri)) return { type: 'result', result: {} };
      return {
        type: 'rpc-error',
        code: ProtocolErrorCode.InvalidParams,
        message: `upstream "${name}" does not send updates of ${uri}`,
      };
    } catch (error) {
      return classifyCallError(name, label, timeoutMs, error);
    }
  };

  const connection: UpstreamConnection = {
    transport,
    async listCatalog(): Promise<UpstreamCatalog> {
      const offers = client.getServerCapabilities() ?? {};
      const cacheHints: NonNullable<UpstreamCatalog['cacheHints']> = {};
      // Every page, each item checked on its own: one bad definition costs that item, not the whole list.
      const [tools, resources, resourceTemplates, prompts] = await Promise.all([
        offers.tools ? listed('tools/list', () => listAll(list, 'tools', cacheHints)) : [],
        offers.resources ? listed('resources/list', () => listAll(list, 'resources', cacheHints)) : [],
        offers.resources
          ? listed('resources/templates/list', () => listAll(list, 'resourceTemplates', cacheHints))
          : [],
        offers.prompts ? listed('prompts/list', () => listAll(list, 'prompts', cacheHints)) : [],
      ]);
      // A tool may run as a task only where the upstream routes task requests: otherwise none is offered as one.
      const shown = runsToolCallsAsTasks(offers) ? tools : tools.map(({ execution: _none, ...tool }) => tool);
      return { tools: shown, resources, resourceTemplates, prompts, cacheHints };
    },
    async request(request: ForwardedRequest, ended?: AbortSignal): Promise<CallOutcome> {
      const { method, params, label, timeoutMs, maxTotalMs, signal, onProgress, onClientRequest } = request;
      if (listen && (method === 'resources/subscribe' || method === 'resources/unsubscribe')) {
        return subscribeOnListen(listen, method, String(params.uri), label, timeoutMs);
      }
      // An upstream that lists no tasks has none to list (tasks/list goes to every upstream).
      if (method === 'tasks/list' && !listsTasks(client.getServerCapabilities())) {
        return { type: 'result', result: { tasks: [] } };
      }
      // Results passed on as they are, and task requests, have schemas of ours (src/tasks/wire.ts).
      const resultSchema = upstreamResultSchema(method);
      try {
        // The generic `request`: a proxy passes the result on as it is, without validating it against a tool's
        // outputSchema (that is the client's business) or caching anything.
        const options = {
          timeout: timeoutMs,
          resetTimeoutOnProgress: true,
          ...(maxTotalMs !== undefined && { maxTotalTimeout: maxTotalMs }),
          signal,
          onprogress: onProgress,
        };
        const send = () =>
          inRequestScope(ended, (headers): Promise<Result> => {
            const scoped = { ...options, headers };
            return resultSchema
              ? (client.request({ method, params } as never, resultSchema, scoped) as Promise<Result>)
              : client.request({ method, params } as never, scoped);
          });
        if (!onClientRequest) return { type: 'result', result: await send() };
        serving.add(onClientRequest);
        try {
          return { type: 'result', result: await servingRequest.run(onClientRequest, send) };
        } finally {
          serving.delete(onClientRequest);
        }
      } catch (error) {
        if (maxTotalMs !== undefined && ranOutOfTotalTime(error)) {
          return {
            type: 'failure',
            failure: new MaxCallTimeError(
              `${label} on upstream "${name}" still ran after ${maxTotalMs} ms (max_call_ms), progress or not; stopped`,
            ),
          };
        }
        if (neverSent(error)) {
          return {
            type: 'failure',
            failure: new NotSentError(
              `upstream "${name}" refused the connection for ${label} (${networkReason(error)}); it is reconnecting`,
              { reason: networkReason(error) },
            ),
          };
        }
        return classifyCallError(name, label, timeoutMs, error);
      }
    },
    restore({ subscriptions, logLevel }: SessionState) {
      const offers = client.getServerCapabilities() ?? {};
      if (logLevel && offers.logging) this.setLogLevel(logLevel);
      if (listen) {
        listen.setResources(subscriptions).catch((error: unknown) => {
          if (!closing)
            logger.warn(
              `upstream "${name}": could not listen again to ${subscriptions.join(', ')} (${networkReason(error)})`,
            );
        });
        return;
      }
      if (!offers.resources?.subscribe) return;
      for (const uri of subscriptions) {
        client.subscribeResource({ uri }).catch((error: unknown) => {
          if (!closing)
            logger.warn(`upstream "${name}": could not subscribe again to ${uri} (${networkReason(error)})`);
        });
      }
    },
    setLogLevel(level: LoggingLevel) {
      if (!client.getServerCapabilities()?.logging) return;
      // 2026-07-28: no logging/setLevel; the level travels on every request from now on.
      if (modern) {
        client.logLevel = level;
        return;
      }
      client.setLoggingLevel(level).catch((error: unknown) => {
        if (!closing) logger.debug(`upstream "${name}": logging/setLevel failed (${networkReason(error)})`);
      });
    },
    checkAlive,
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      listeners.clear();
      stopWatchingRoots?.();
      listen?.close();
      try {
        await endSession?.();
      } catch {
        // The server may be gone already, or not support DELETE (405): the session ends with it either way.
      }
      await client.close().catch(() => {});
    },
  };
  return { connection, listening };
}

/** The listen stream's id is the SDK's bookkeeping between it and the server; the downstream client has none. */
function withoutSubscriptionId<T extends { _meta?: Record<string, unknown> }>(params: T): T {
  if (params._meta === undefined || !(SUBSCRIPTION_ID_META_KEY in params._meta)) return params;
  const { [SUBSCRIPTION_ID_META_KEY]: _subscription, ...meta } = params._meta;
  const { _meta, ...rest } = params;
  return (Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest) as T;
}

/** Failures of the connection attempt itself: no byte of the request reached the upstream. */
const CONNECT_PHASE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverSent(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_PHASE_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}

/** The SDK's own bound on a request's whole duration (`maxTotalTimeout`), which progress does not reset. */
function ranOutOfTotalTime(error: unknown): boolean {
  return (
    error instanceof SdkError &&
    error.code === SdkErrorCode.RequestTimeout &&
    (error.data as { maxTotalTimeout?: unknown } | undefined)?.maxTotalTimeout !== undefined
  );
}
