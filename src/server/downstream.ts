/**
 * The MCP server the client talks to over stdio. It turns requests into supervisor events and the answers back
 * into MCP replies; it keeps no state of its own. Upstreams are started only once the client has initialized
 * (they must see its capabilities), so every handler first waits for the supervisor.
 *
 * This file composes the parts: the list requests (catalog-lists.ts), the routing of every other request
 * (request-routing.ts), the task requests (task-forwarding.ts), `proxy://status` (status-resource.ts) and the
 * upstream subscriptions of a 2026-07-28 client's listen streams (listened-resources.ts), and in search mode the three
 * tools that stand for the upstream tools (tool-search.ts).
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  LOG_LEVEL_META_KEY,
  type LoggingLevel,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { RequestTarget } from '../../machines/supervisor/index.js';
import { signInInstruction } from '../../machines/upstream/index.js';
import type { ToolMode } from '../config/index.js';
import type { Logger } from '../observe/log.js';
import type { RequestEndListener } from '../observe/request-end.js';
import type { RequestObserver } from '../observe/request-observer.js';
import { createTaskResult, declaresTasksExtension, extensionRequired } from '../tasks/extension.js';
import type { Era } from '../tasks/routing.js';
import { TaskAwareServer } from '../tasks/server.js';
import { createdTask } from '../tasks/wire.js';
import { IMPLEMENTATION } from '../version.js';
import { createCatalogLists } from './catalog-lists.js';
import { createClientBridge, type DownstreamClientBridge, isLoggingLevel } from './client-bridge.js';
import type { DownstreamSession, SupervisorActor } from './downstream-session.js';
import { createListenedResources } from './listened-resources.js';
import { createRequestRouting } from './request-routing.js';
import { createStatusResource, STATUS_RESOURCE, type StatusSource } from './status-resource.js';
import { createTaskForwarding } from './task-forwarding.js';
import { createToolSearch, SEARCH_MODE_TOOLS } from './tool-search.js';

export interface Downstream {
  /**
   * A server for one opening of the connection, in the era the client opened it in (`serveStdio` may build a
   * 2026-07-28 one for a `server/discover` probe and then a 2025-era one when the client falls back). The last
   * one built is the one the client talks to.
   */
  createServer(era: 'legacy' | 'modern'): Server;
  bridge: DownstreamClientBridge;
  /** Serves with this supervisor from now on; requests that came before were waiting for it. */
  attach(supervisor: SupervisorActor): void;
  /**
   * The resource URIs a 2026-07-28 client's open `subscriptions/listen` streams name (see `watchListenedUris`): the
   * proxy subscribes upstream to those added and unsubscribes from those gone, as for `resources/subscribe`.
   */
  listenTo(uris: ReadonlySet<string>): Promise<void>;
}

/**
 * `start` creates the supervisor (once; later calls do nothing) and attaches it. It is called when the client has
 * initialized, and by every request in case a client sends requests before `notifications/initialized`.
 */
export type StartUpstreams = () => void;

export interface DownstreamOptions {
  /** `all`: every upstream tool is listed; `search`: the three tools of ./tool-search.ts. */
  toolMode?: ToolMode;
  /** Sees every forwarded request from its start to its outcome (telemetry). */
  requests?: RequestObserver;
  /** Hears how every forwarded request ended (the audit log, the metrics). */
  onRequestEnd?: RequestEndListener;
}

export function createDownstream(
  logger: Logger,
  start: StartUpstreams,
  status: StatusSource,
  { toolMode = 'all', requests, onRequestEnd }: DownstreamOptions = {},
): Downstream {
  let current: Server | undefined;
  let era: 'legacy' | 'modern' = 'legacy';
  /** A 2026-07-28 client declares its capabilities on every request instead of at initialize. */
  let envelopeCapabilities: ClientCapabilities | undefined;
  const bridge = createClientBridge({
    current: () => current,
    capabilities: () => (era === 'legacy' ? (current?.getClientCapabilities() ?? {}) : (envelopeCapabilities ?? {})),
    taskStatus: (upstream, params) => tasks.statusForClient(era, upstream, params),
  });
  let attach!: (supervisor: SupervisorActor) => void;
  const attached = new Promise<SupervisorActor>((resolve) => {
    attach = resolve;
  });

  /** The level a 2026-07-28 client's requests last named: it has no `logging/setLevel`. */
  let envelopeLogLevel: LoggingLevel | undefined;
  const setLogLevel = (level: LoggingLevel) => {
    bridge.setLogLevel(level);
    void attached.then((supervisor) => supervisor.send({ type: 'logging.setLevel', level }));
  };

  const supervisorReady = (ctx?: ServerContext) => {
    const envelope = ctx?.mcpReq.envelope as Record<string, unknown> | undefined;
    envelopeCapabilities ??= envelope?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
    // The level is per request; upstream log messages are not, so the latest level named stands for the connection
    // (filtered here, and sent to the upstreams as a legacy client's logging/setLevel is).
    const level = envelope?.[LOG_LEVEL_META_KEY];
    if (era === 'modern' && isLoggingLevel(level) && level !== envelopeLogLevel) {
      envelopeLogLevel = level;
      setLogLevel(level);
    }
    start();
    return attached;
  };

  const session: DownstreamSession = {
    logger,
    bridge,
    current: () => current,
    era: () => era,
    supervisorReady,
    ...(requests && { requests }),
  };
  const lists = createCatalogLists(session, toolMode === 'search' ? SEARCH_MODE_TOOLS : undefined);
  // A tools/call result may be a task the upstream created: the task routing records it (`tasks` is built next).
  const routing = createRequestRouting(session, (upstream, result) => tasks.answered(upstream, result), onRequestEnd);
  const { forward } = routing;
  const tasks = createTaskForwarding(session, routing);
  const serveStatus = createStatusResource(status, () => current);
  const { listenTo, subscribeUnrouted } = createListenedResources(routing.route, serveStatus, logger);

  /** A `tools/call`: forwarded to the tool's upstream, or, in search mode, one of the three tools of the proxy's own. */
  const callTool = async (openedIn: Era, request: Record<string, unknown>, ctx: ServerContext): Promise<unknown> => {
    const name = request.name as string;
    if (search?.handles(name)) return search.call(request, ctx);
    const params = tasks.callParams(openedIn, request);
    const label = `tools/call "${name}"`;
    if (openedIn === 'legacy') return forward('tools/call', { kind: 'tool', name }, params, label, ctx);
    // A 2026-07-28 client: a tool its upstream runs as a task is called as one if the client takes the tasks
    // extension on this request (a tool that runs only as one cannot be called otherwise).
    const support = (await lists.toolNamed(name, ctx))?.definition.execution?.taskSupport;
    const runsAsTask = support === 'required' || support === 'optional';
    const capabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as
      | ClientCapabilities
      | undefined;
    const takesTasks = declaresTasksExtension(capabilities);
    if (support === 'required' && !takesTasks) throw extensionRequired();
    if (!runsAsTask || !takesTasks) return forward('tools/call', { kind: 'tool', name }, params, label, ctx);
    const result = await forward('tools/call', { kind: 'tool', name }, { ...params, task: {} }, label, ctx);
    // The upstream may run it at once all the same (it may, for an optional one): then it is the tool's result.
    const created = createdTask(result);
    return created ? createTaskResult(created) : result;
  };
  // Search mode: the client lists three tools that search, describe and call the upstream tools (tool-search.ts).
  const search =
    toolMode === 'search'
      ? createToolSearch({ catalog: lists.catalog, callTool: (params, ctx) => callTool(era, params, ctx) })
      : undefined;

  const createServer = (openedIn: 'legacy' | 'modern'): Server => {
    era = openedIn;
    // A 2026-07-28 client that names no log level asks for no log messages; a 2025-era one gets all until it sets one.
    bridge.setLogLevel(openedIn === 'modern' ? (envelopeLogLevel ?? 'off') : undefined);
    const server = new TaskAwareServer(openedIn, IMPLEMENTATION, {
      capabilities: {
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        completions: {},
        logging: {},
        ...tasks.capabilities(openedIn),
      },
    });
    server.oninitialized = start;
    lists.register(server, openedIn);
    server.setRequestHandler('tools/call', (request, ctx) => callTool(openedIn, request.params, ctx) as never);
    tasks.register(server, openedIn);
    server.setRequestHandler('prompts/get', (request, ctx) => {
      const { name } = request.params;
      return forward('prompts/get', { kind: 'prompt', name }, request.params, `prompts/get "${name}"`, ctx) as never;
    });
    for (const method of ['resources/read', 'resources/subscribe', 'resources/unsubscribe'] as const) {
      server.setRequestHandler(method, (request, ctx) => {
        const { uri } = request.params;
        if (uri === STATUS_RESOURCE.uri) return serveStatus(method) as never;
        return forward(method, { kind: 'resource', uri }, request.params, `${method} ${uri}`, ctx) as never;
      });
    }
    server.setRequestHandler('completion/complete', (request, ctx) => {
      const { ref } = request.params;
      const target: RequestTarget =
        ref.type === 'ref/prompt' ? { kind: 'prompt', name: ref.name } : { kind: 'resource', uri: ref.uri };
      const label = `completion/complete for ${ref.type === 'ref/prompt' ? `prompt "${ref.name}"` : ref.uri}`;
      return forward('completion/complete', target, request.params, label, ctx) as never;
    });
    server.setRequestHandler('logging/setLevel', async (request, ctx) => {
      const level = request.params.level as LoggingLevel;
      bridge.setLogLevel(level);
      (await supervisorReady(ctx)).send({ type: 'logging.setLevel', level });
      return {};
    });
    server.setNotificationHandler('notifications/roots/list_changed', () => bridge.rootsChanged());
    current = server;
    return server;
  };

  attached.then((supervisor) => {
    supervisor.on('catalog.changed', ({ kinds }) => {
      search?.catalogChanged(kinds);
      // In search mode the three tools stay the same whatever the upstreams list: the next search sees the change.
      lists.notifyListChanged(search ? kinds.filter((kind) => kind !== 'tools') : kinds);
      if (kinds.includes('resources')) subscribeUnrouted();
    });
    supervisor.on('warning', ({ message }) => logger.warn(message));
    // The client may show log messages where stderr is hidden: the sign-in link must reach the user somehow.
    supervisor.on('sign-in.needed', ({ upstream, url, userCode }) => {
      current
        ?.sendLoggingMessage({
          level: 'warning',
          logger: upstream,
          data: `Sign in to upstream "${upstream}": open ${signInInstruction(url, userCode)}`,
        })
        .catch(() => {});
    });
  });
  return { createServer, bridge, attach, listenTo };
}
