/**
 * An initialized MCP session with one upstream, behind the small `UpstreamConnection` interface the statecharts
 * use. It forwards requests untouched, passes server-to-client traffic to the downstream client (through the
 * bridge), reports a dropped connection, and asks for a re-list on any list_changed. A 2026-07-28 session hears
 * changes on its `subscriptions/listen` stream (./listen.ts), which also carries what `resources/subscribe` asked
 * for, and gets the log level on every request (./client.ts) instead of `logging/setLevel`.
 *
 * This file composes the parts: the forwarding of requests (./request-forwarding.ts), the liveness check after a
 * transport error (./liveness.ts) and the resource subscriptions of either era (./resource-subscriptions.ts).
 */
import { type LoggingLevel, ProtocolErrorCode, SseError } from '@modelcontextprotocol/client';
import type {
  CallOutcome,
  ConnectionSignal,
  ForwardedRequest,
  SessionState,
  TransportKind,
  UpstreamConnection,
} from '../../machines/types.js';
import type { ToolPins, UpstreamCatalog, WithheldTool } from '../catalog/index.js';
import { ConnectionLostError, ListError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { listsTasks, runsToolCallsAsTasks } from '../tasks/wire.js';
import type { ClientBridge } from './bridge.js';
import type { UpstreamClient } from './client.js';
import { classifyCallError, networkReason } from './failures.js';
import { createListenStream, type ListenStream } from './listen.js';
import { listAll } from './listing.js';
import { createLivenessCheck } from './liveness.js';
import { createRequestForwarding } from './request-forwarding.js';
import { restoreSubscriptions, subscribeOnListen, withoutSubscriptionId } from './resource-subscriptions.js';

/** Listing everything (all pages) may take this long; then the list counts as failed and the upstream reconnects. */
const LIST_TIMEOUT_MS = 60_000;

export interface ConnectionOptions {
  name: string;
  transport: TransportKind;
  client: UpstreamClient;
  bridge: ClientBridge;
  logger: Logger;
  /** Ends the session (Streamable HTTP: DELETE) before the transport closes. */
  endSession?: () => Promise<void>;
  /** `pin_tools`: a listed tool whose definition changed since it was first seen is withheld. */
  pins?: ToolPins;
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
  pins,
}: ConnectionOptions): CreatedConnection {
  const listeners = new Set<(signal: ConnectionSignal) => void>();
  let closing = false;
  let lost = false;
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

  const checkAlive = createLivenessCheck({
    name,
    client,
    settled: () => closing || lost,
    onAlive: () => signal({ type: 'alive' }),
    onLost: reportLost,
  });

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

  const forward = createRequestForwarding({ name, client, bridge });

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

  // Once per tool and session: a re-list (every list_changed) of the same changed tool says nothing new.
  const warnedWithheld = new Set<string>();
  const warnWithheld = ({ name: tool, changed }: WithheldTool) => {
    if (warnedWithheld.has(tool)) return;
    warnedWithheld.add(tool);
    const message = `upstream "${name}": tool "${tool}" is withheld: its ${changed.join(', ')} changed since it was pinned; if the change is expected, run \`mcp-upstream-proxy pins accept ${name} ${tool}\``;
    logger.warn(message);
    bridge.log(name, { level: 'warning', data: message });
  };

  const resourceSubscriptions = { name, client, listen, logger, closing: () => closing };

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
      if (!pins) return { tools: shown, resources, resourceTemplates, prompts, cacheHints };
      const { tools: pinned, withheld } = await pins.check(shown);
      for (const tool of withheld) warnWithheld(tool);
      return { tools: pinned, resources, resourceTemplates, prompts, cacheHints, withheldTools: withheld };
    },
    async request(request: ForwardedRequest, ended?: AbortSignal): Promise<CallOutcome> {
      const { method, params, label, timeoutMs } = request;
      if (listen && (method === 'resources/subscribe' || method === 'resources/unsubscribe')) {
        return subscribeOnListen(resourceSubscriptions, listen, method, String(params.uri), label, timeoutMs);
      }
      // An upstream that lists no tasks has none to list (tasks/list goes to every upstream).
      if (method === 'tasks/list' && !listsTasks(client.getServerCapabilities())) {
        return { type: 'result', result: { tasks: [] } };
      }
      return forward(request, ended);
    },
    restore({ subscriptions, logLevel }: SessionState) {
      if (logLevel && client.getServerCapabilities()?.logging) this.setLogLevel(logLevel);
      restoreSubscriptions(resourceSubscriptions, subscriptions);
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
