/**
 * The MCP server the client talks to over stdio. It turns requests into supervisor events and the answers back
 * into MCP replies; it keeps no state of its own. Upstreams are started only once the client has initialized
 * (they must see its capabilities), so every handler first waits for the supervisor.
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  type InputRequests,
  inputRequired,
  LOG_LEVEL_META_KEY,
  type LoggingLevel,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  type Result,
  type Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { Actor } from 'xstate';
import type { RequestTarget, RouteEvent, supervisorMachine } from '../../machines/supervisor/index.js';
import type { CatalogList, ForwardedMethod, ForwardedRequest } from '../../machines/types.js';
import { signInInstruction } from '../../machines/upstream/index.js';
import type { Catalog, CatalogKind } from '../catalog/index.js';
import { letYoungGenerationGrow } from '../heap.js';
import type { Logger } from '../observe/log.js';
import { redact } from '../observe/redact.js';
import type { ProxyStatus } from '../observe/status.js';
import { createTaskResult, declaresTasksExtension, extensionRequired, type TaskOutcome } from '../tasks/extension.js';
import { createTaskRouting } from '../tasks/routing.js';
import { TaskAwareServer } from '../tasks/server.js';
import { createdTask } from '../tasks/wire.js';
import { IMPLEMENTATION } from '../version.js';
import { createClientBridge, type DownstreamClientBridge, isLoggingLevel } from './client-bridge.js';
import { type InputRound, InputRounds } from './input-rounds.js';

export type SupervisorActor = Actor<typeof supervisorMachine>;

type RouteOutcome = Parameters<RouteEvent['reply']>[0];

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

let nextRequestId = 0;

/** The proxy's own status, served as the `proxy://status` resource. */
export interface StatusSource {
  take(): ProxyStatus;
  onChange(listener: () => void): () => void;
}

export const STATUS_RESOURCE = {
  uri: 'proxy://status',
  name: 'proxy-status',
  title: 'Proxy status',
  description: 'What every upstream of mcp-upstream-proxy is doing: state, transport, tools, last error, reconnects',
  mimeType: 'application/json',
} as const;

export function createDownstream(logger: Logger, start: StartUpstreams, status: StatusSource): Downstream {
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

  const catalog = async (ctx: ServerContext): Promise<Catalog> => {
    const supervisor = await supervisorReady(ctx);
    return new Promise<Catalog>((reply) => supervisor.send({ type: 'catalog.get', reply }));
  };

  /**
   * The tool of that name as listed now. One not listed yet is looked up again once startup has settled (its call
   * would wait for that anyway): a call of a listed tool never waits for a slow other upstream.
   */
  const toolNamed = async (name: string, ctx: ServerContext) => {
    const supervisor = await supervisorReady(ctx);
    const listed = supervisor.getSnapshot().context.catalog.tools.byName.get(name);
    return listed ?? (await catalog(ctx)).tools.byName.get(name);
  };

  /**
   * A list request answered from the catalog. One the client gave up on (it cancelled, as Claude Code does after
   * 30 s) never sees its answer, and a client may never list again unprompted: so once the list is complete, the
   * client is told it changed.
   */
  const list = async <T>(kind: CatalogKind, ctx: ServerContext, pick: (catalog: Catalog) => T): Promise<T> => {
    const answer = pick(await catalog(ctx));
    if (ctx.mcpReq.signal.aborted) notifyListChanged([kind]);
    return answer;
  };

  const notifyListChanged = (kinds: readonly CatalogKind[]) => {
    const notify = {
      tools: () => current?.sendToolListChanged(),
      prompts: () => current?.sendPromptListChanged(),
      resources: () => current?.sendResourceListChanged(),
    };
    for (const kind of kinds) {
      notify[kind]()?.catch(() => {
        // Not connected yet, or the client is gone: nothing to tell.
      });
    }
  };

  /** Sends a request to the upstream that owns `target`; resolves with how it ended. */
  const route = async (
    method: ForwardedMethod,
    target: RequestTarget,
    params: Record<string, unknown>,
    label: string,
    /** None for the requests the proxy makes on its own (subscribing upstream for a listen stream). */
    ctx: ServerContext | undefined,
    extra: Pick<ForwardedRequest, 'signal' | 'onClientRequest'>,
  ): Promise<RouteOutcome> => {
    const supervisor = await supervisorReady(ctx);
    // Traffic: the young generation may grow now (held small while the proxy only started and listed).
    letYoungGenerationGrow();
    const { progressToken, ...meta } = (params._meta ?? {}) as Record<string, unknown>;
    const upstreamParams = { ...params };
    // The upstream gets a progress token of ours (the SDK adds it); its progress is passed on under the client's.
    if (params._meta !== undefined) upstreamParams._meta = meta;
    const id = `request-${++nextRequestId}`;
    let progressSentAt = Number.NEGATIVE_INFINITY;
    // Progress goes through the bridge's queue, so that a flood of it never holds up the answers of other calls.
    const onProgress =
      progressToken === undefined || ctx === undefined
        ? undefined
        : (progress: { progress: number; total?: number; message?: string }) =>
            bridge.relayProgress(id, () => {
              progressSentAt = performance.now();
              return ctx.mcpReq.notify({
                method: 'notifications/progress',
                params: { ...progress, progressToken: progressToken as string | number },
              });
            });
    const outcome = await new Promise<RouteOutcome>((reply) =>
      supervisor.send({
        type: 'request.route',
        id,
        target,
        request: { method, params: upstreamParams, label, onProgress, ...extra },
        reply,
      }),
    );
    // Answered: progress still queued for it would reach the client after the result, which drops it anyway.
    if (onProgress) bridge.forgetProgress(id);
    // The SDK's clients (either era) handle a notification a microtask later than a response read in the same
    // chunk, so progress written just before the result is taken for an unknown token (typescript-sdk #2580;
    // some clients then drop the connection). A result right behind its progress waits a moment for the client
    // to have read it.
    const sinceProgress = performance.now() - progressSentAt;
    if (sinceProgress < PROGRESS_SETTLE_MS)
      await new Promise((resolve) => setTimeout(resolve, PROGRESS_SETTLE_MS - sinceProgress));
    return outcome;
  };

  /** Turns how a request ended into the reply. */
  const answer = (method: ForwardedMethod, label: string, outcome: RouteOutcome): Result => {
    switch (outcome.type) {
      case 'result':
        if (outcome.result.isError === true) return redactToolError(outcome.result);
        return method === 'tools/call' ? tasks.answered(outcome.upstream, outcome.result) : outcome.result;
      case 'rpc-error':
        // An upstream's error text may echo what we sent it (headers, tokens): never pass a secret on.
        throw new ProtocolError(outcome.code, redact(outcome.message), redactData(outcome.data));
      case 'unknown-target':
        throw unknownTarget(outcome.target);
      case 'failure':
        logger.debug(`${label}: ${outcome.failure.message}`);
        // A tool's error is a result the model reads and can tell the user about; anything else has no such place.
        if (method === 'tools/call') {
          return { content: [{ type: 'text', text: redact(outcome.failure.message) }], isError: true };
        }
        throw new ProtocolError(ProtocolErrorCode.InternalError, redact(outcome.failure.message));
    }
  };

  const rounds = new InputRounds<RouteOutcome>();

  let listened: ReadonlySet<string> = new Set();
  /**
   * Listened URIs no upstream served when we subscribed (its upstream was down): the client, acknowledged by the
   * SDK, cannot know, so they are subscribed again when the resources change.
   */
  const unrouted = new Set<string>();
  const subscribeUpstream = (method: 'resources/subscribe' | 'resources/unsubscribe', uri: string): Promise<void> => {
    const label = `${method} ${uri} (for a subscriptions/listen stream)`;
    return route(method, { kind: 'resource', uri }, { uri }, label, undefined, {}).then((outcome) => {
      if (outcome.type === 'unknown-target' && method === 'resources/subscribe' && listened.has(uri)) {
        unrouted.add(uri);
      }
      // The client waits for the stream's acknowledgement only (listen-subscriptions.ts holds it until now).
      if (outcome.type !== 'result') logger.debug(`${label}: ${describeOutcome(outcome)}`);
    });
  };
  /** Resolves once the upstreams were asked to subscribe to the URIs added (their answers are only logged). */
  const listenTo = async (uris: ReadonlySet<string>): Promise<void> => {
    const added = [...uris].filter((uri) => !listened.has(uri));
    const gone = [...listened].filter((uri) => !uris.has(uri));
    listened = uris;
    if (added.includes(STATUS_RESOURCE.uri)) serveStatus('resources/subscribe');
    if (gone.includes(STATUS_RESOURCE.uri)) serveStatus('resources/unsubscribe');
    for (const uri of gone) {
      if (uri !== STATUS_RESOURCE.uri && !unrouted.delete(uri)) void subscribeUpstream('resources/unsubscribe', uri);
    }
    const subscribing = added.filter((uri) => uri !== STATUS_RESOURCE.uri);
    await Promise.all(subscribing.map((uri) => subscribeUpstream('resources/subscribe', uri)));
  };
  const subscribeUnrouted = () => {
    for (const uri of unrouted) {
      unrouted.delete(uri);
      void subscribeUpstream('resources/subscribe', uri);
    }
  };
  // Task ids are the upstreams' own: the map from each to its upstream lives here, for the whole connection.
  const tasks = createTaskRouting({
    send: async (upstream, method, params, ctx) => {
      const taskId = typeof params.taskId === 'string' ? params.taskId : undefined;
      const target: RequestTarget = { kind: 'task', upstream, ...(taskId !== undefined && { taskId }) };
      const label = `${method}${taskId === undefined ? '' : ` "${taskId}"`}`;
      return answer(method, label, await route(method, target, params, label, ctx, { signal: ctx.mcpReq.signal }));
    },
    upstreams: async (ctx) => (await supervisorReady(ctx)).getSnapshot().context.upstreams.map(({ name }) => name),
    // On the proxy's own behalf (no client request of its own: the extension has no tasks/result).
    fetchResult: async (upstream, taskId, onClientRequest, signal): Promise<TaskOutcome> => {
      const label = `tasks/result "${taskId}" (for a 2026-07-28 client's tasks/get)`;
      const target: RequestTarget = { kind: 'task', upstream, taskId };
      const outcome = await route('tasks/result', target, { taskId }, label, undefined, { signal, onClientRequest });
      switch (outcome.type) {
        case 'result':
          return { type: 'result', result: outcome.result };
        case 'rpc-error': {
          const data = redactData(outcome.data);
          const error = { code: outcome.code, message: redact(outcome.message), ...(data !== undefined && { data }) };
          return { type: 'error', error };
        }
        case 'unknown-target':
          return { type: 'unavailable', error: unknownTarget(outcome.target) };
        case 'failure':
          logger.debug(`${label}: ${outcome.failure.message}`);
          return { type: 'unavailable', error: new Error(redact(outcome.failure.message)) };
      }
    },
  });

  let stopWatchingStatus: (() => void) | undefined;
  /** `proxy://status`: read here, and a subscriber hears of every change of an upstream's state. */
  const serveStatus = (method: 'resources/read' | 'resources/subscribe' | 'resources/unsubscribe'): Result => {
    if (method === 'resources/read') {
      const text = JSON.stringify(status.take(), null, 2);
      return { contents: [{ uri: STATUS_RESOURCE.uri, mimeType: STATUS_RESOURCE.mimeType, text }] };
    }
    stopWatchingStatus?.();
    stopWatchingStatus =
      method === 'resources/subscribe'
        ? status.onChange(() => void current?.sendResourceUpdated({ uri: STATUS_RESOURCE.uri }).catch(() => {}))
        : undefined;
    return {};
  };

  /** Forwards a request to the upstream that owns `target` and answers with what it answered. */
  const forward = async (
    method: ForwardedMethod,
    target: RequestTarget,
    params: Record<string, unknown>,
    label: string,
    ctx: ServerContext,
  ): Promise<Result> => {
    if (era === 'legacy' || !ROUND_TRIP_METHODS.has(method)) {
      return answer(method, label, await route(method, target, params, label, ctx, { signal: ctx.mcpReq.signal }));
    }
    // A 2026-07-28 client: questions the upstream asks meanwhile end this request with input_required.
    const token = ctx.mcpReq.requestState<string>();
    let round: InputRound<RouteOutcome>;
    if (token === undefined) {
      round = rounds.start((onClientRequest, signal) =>
        route(method, target, params, label, ctx, { signal, onClientRequest }),
      );
    } else {
      round = rounds.resume(token);
      round.answer(ctx.mcpReq.inputResponses as Record<string, unknown> | undefined);
    }
    const step = await round.next(ctx.mcpReq.signal);
    if (step.type === 'done') return answer(method, label, step.outcome);
    return inputRequired({
      inputRequests: Object.fromEntries(step.questions.map(({ key, request }) => [key, request])) as InputRequests,
      requestState: step.token,
    }) as Result;
  };

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
    // A 2026-07-28 answer carries the upstreams' cache hints combined, not the SDK's default (2025 has none).
    const hint = (known: Catalog, of: CatalogList) => (openedIn === 'modern' ? known.cacheHints[of] : undefined);
    server.setRequestHandler('tools/list', (_request, ctx) =>
      list('tools', ctx, (known) => ({
        tools: known.tools.items.map((tool) => tool.definition),
        ...hint(known, 'tools'),
      })),
    );
    server.setRequestHandler('prompts/list', (_request, ctx) =>
      list('prompts', ctx, (known) => ({
        prompts: known.prompts.items.map((prompt) => prompt.definition),
        ...hint(known, 'prompts'),
      })),
    );
    // The status resource comes first and is always there, whatever the upstreams list.
    server.setRequestHandler('resources/list', (_request, ctx) =>
      list('resources', ctx, (known) => ({
        resources: [STATUS_RESOURCE, ...known.resources.resources],
        ...hint(known, 'resources'),
      })),
    );
    server.setRequestHandler('resources/templates/list', (_request, ctx) =>
      list('resources', ctx, (known) => ({
        resourceTemplates: [...known.resources.resourceTemplates],
        ...hint(known, 'resourceTemplates'),
      })),
    );

    server.setRequestHandler('tools/call', async (request, ctx) => {
      const { name } = request.params;
      const params = tasks.callParams(openedIn, request.params);
      const label = `tools/call "${name}"`;
      if (openedIn === 'legacy') return forward('tools/call', { kind: 'tool', name }, params, label, ctx) as never;
      // A 2026-07-28 client: a tool its upstream runs as a task is called as one if the client takes the tasks
      // extension on this request (a tool that runs only as one cannot be called otherwise).
      const support = (await toolNamed(name, ctx))?.definition.execution?.taskSupport;
      const runsAsTask = support === 'required' || support === 'optional';
      const capabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[
        CLIENT_CAPABILITIES_META_KEY
      ] as ClientCapabilities | undefined;
      const takesTasks = declaresTasksExtension(capabilities);
      if (support === 'required' && !takesTasks) throw extensionRequired();
      if (!runsAsTask || !takesTasks) return forward('tools/call', { kind: 'tool', name }, params, label, ctx) as never;
      const result = await forward('tools/call', { kind: 'tool', name }, { ...params, task: {} }, label, ctx);
      // The upstream may run it at once all the same (it may, for an optional one): then it is the tool's result.
      const created = createdTask(result);
      return (created ? createTaskResult(created) : result) as never;
    });
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
      notifyListChanged(kinds);
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

/** How a request the proxy made on its own went wrong, for the debug log. */
function describeOutcome(outcome: RouteOutcome): string {
  switch (outcome.type) {
    case 'result':
      return 'done';
    case 'rpc-error':
      return redact(outcome.message);
    case 'unknown-target':
      return 'no upstream serves it';
    case 'failure':
      return outcome.failure.message;
  }
}

/** How long a result waits behind progress sent for its request just before (see route). */
const PROGRESS_SETTLE_MS = 20;

/** The requests of a 2026-07-28 client that may be answered with input_required. */
const ROUND_TRIP_METHODS: ReadonlySet<ForwardedMethod> = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** The text of a tool's error result, redacted like stderr (the upstream may echo our headers in it). */
function redactToolError(result: Result): Result {
  const content = (result as { content?: unknown }).content;
  if (!Array.isArray(content)) return result;
  return {
    ...result,
    content: content.map((block: { type?: unknown; text?: unknown }) =>
      block?.type === 'text' && typeof block.text === 'string' ? { ...block, text: redact(block.text) } : block,
    ),
  };
}

function redactData(data: unknown): unknown {
  if (data === undefined) return undefined;
  if (typeof data === 'string') return redact(data);
  try {
    return JSON.parse(redact(JSON.stringify(data)));
  } catch {
    return undefined;
  }
}

function unknownTarget(target: RequestTarget): Error {
  switch (target.kind) {
    case 'tool':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: "${target.name}"`);
    case 'prompt':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: "${target.name}"`);
    case 'resource':
      return new ResourceNotFoundError(target.uri);
    case 'task':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: "${target.taskId ?? ''}"`);
  }
}
