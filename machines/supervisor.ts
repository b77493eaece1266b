/**
 * The supervisor: spawns one upstream actor per configured upstream, keeps the catalog of what is exposed (tools
 * filtered, tools and prompts named collision-free in config order, resources under their URIs), answers list
 * requests from it, and dispatches each request as an event to the upstream actor that owns its target. It never
 * touches a socket.
 */
import type { LoggingLevel } from '@modelcontextprotocol/client';
import { type ActorRefFrom, assign, emit, enqueueActions, setup } from 'xstate';
import { buildCatalog, type Catalog, type CatalogKind, changedKinds } from '../src/catalog/index.js';
import {
  type CallOutcome,
  EMPTY_CATALOG,
  type ForwardedRequest,
  type TransportMode,
  type UpstreamCatalog,
} from './types.js';
import { type UpstreamToSupervisorEvent, upstreamMachine } from './upstream.js';

export interface SupervisedUpstream {
  name: string;
  transport: TransportMode;
  toolPrefix?: string;
  filter: (toolName: string) => boolean;
  timeoutMs: number;
  /** `max_call_ms`: a call that keeps sending progress still ends after this. */
  maxCallMs?: number;
}

export interface SupervisorInput {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
  /**
   * Catalogs saved by an earlier session, by upstream: exposed until the live ones are listed, so the first lists
   * need not wait for these upstreams.
   */
  savedCatalogs?: Record<string, UpstreamCatalog>;
}

type UpstreamRef = ActorRefFrom<typeof upstreamMachine>;

export interface SupervisorContext {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
  refs: Record<string, UpstreamRef>;
  /** Last lists per upstream (kept while it reconnects, emptied when it fails). */
  catalogs: Record<string, UpstreamCatalog>;
  settled: Record<string, true>;
  /** What the client sees: tools, prompts and resources of every upstream, named and collision-free. */
  catalog: Catalog;
  /** List requests that arrived before startup settled. */
  pendingLists: Array<(catalog: Catalog) => void>;
  /** Requests for targets not known yet that arrived before startup settled (clients may use a cached list). */
  pendingRequests: RouteEvent[];
  /** Collision warnings already reported, so each is logged once. */
  reportedWarnings: string[];
  /** Set once the first list was answered: list changes before that are news to nobody. */
  started: boolean;
}

/** What a request is about, as the client named it. */
export type RequestTarget =
  | { kind: 'tool'; name: string }
  | { kind: 'prompt'; name: string }
  | { kind: 'resource'; uri: string }
  /**
   * A task request, for the upstream that owns the task (the downstream keeps the map from task to upstream: task
   * ids are the upstreams' own); `tasks/list` names each upstream in turn, with no task.
   */
  | { kind: 'task'; upstream: string; taskId?: string };

/** How a routed request ended; `upstream` names who answered (a task it created is that upstream's). */
export type RouteOutcome = (CallOutcome & { upstream?: string }) | { type: 'unknown-target'; target: RequestTarget };

/** A client request for the upstream that owns its target; `params` still hold the client's names. */
export type RouteEvent = {
  type: 'request.route';
  id: string;
  target: RequestTarget;
  request: Omit<ForwardedRequest, 'timeoutMs'>;
  reply: (outcome: RouteOutcome) => void;
};

export type SupervisorEvent =
  | { type: 'catalog.get'; reply: (catalog: Catalog) => void }
  /** The downstream client has initialized: the upstreams may open their sessions, and the startup wait begins. */
  | { type: 'client.initialized' }
  | RouteEvent
  | { type: 'logging.setLevel'; level: LoggingLevel }
  | UpstreamToSupervisorEvent;

export type SupervisorEmitted =
  | { type: 'catalog.changed'; kinds: CatalogKind[] }
  | { type: 'warning'; message: string }
  | { type: 'sign-in.needed'; upstream: string; url: string; userCode?: string };

function catalogOf(context: Pick<SupervisorContext, 'upstreams' | 'catalogs'>): Catalog {
  return buildCatalog(
    context.upstreams.map((upstream) => ({
      upstream: upstream.name,
      toolPrefix: upstream.toolPrefix,
      filter: upstream.filter,
      catalog: context.catalogs[upstream.name] ?? EMPTY_CATALOG,
    })),
  );
}

/** The owning upstream and the name it knows the target by (URIs are never renamed). */
function resolve(catalog: Catalog, target: RequestTarget): { upstream: string; originalName?: string } | undefined {
  switch (target.kind) {
    case 'tool': {
      const tool = catalog.tools.byName.get(target.name);
      return tool && { upstream: tool.upstream, originalName: tool.originalName };
    }
    case 'prompt': {
      const prompt = catalog.prompts.byName.get(target.name);
      return prompt && { upstream: prompt.upstream, originalName: prompt.originalName };
    }
    case 'resource': {
      const upstream = catalog.resources.ownerOf(target.uri);
      return upstream === undefined ? undefined : { upstream };
    }
    case 'task':
      return { upstream: target.upstream };
  }
}

/** The params with the upstream's own name where the client used the exposed one. */
function upstreamParams(request: RouteEvent['request'], originalName: string | undefined): Record<string, unknown> {
  const { params } = request;
  if (originalName === undefined) return params;
  if (request.method === 'completion/complete') {
    return { ...params, ref: { ...(params.ref as Record<string, unknown>), name: originalName } };
  }
  return { ...params, name: originalName };
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    input: {} as SupervisorInput,
    events: {} as SupervisorEvent,
    emitted: {} as SupervisorEmitted,
  },
  actors: { upstream: upstreamMachine },
  actions: {
    updateCatalog: enqueueActions(({ context, enqueue }, catalogs: Record<string, UpstreamCatalog>) => {
      const catalog = catalogOf({ upstreams: context.upstreams, catalogs });
      const kinds = changedKinds(context.catalog, catalog);
      // A Set per rebuild: with many upstreams whose names collide, a search of the list per warning was quadratic.
      const reported = new Set(context.reportedWarnings);
      const fresh = catalog.warnings.filter((warning) => !reported.has(warning));
      enqueue.assign({
        catalogs,
        catalog,
        reportedWarnings: [...context.reportedWarnings, ...fresh],
      });
      for (const message of fresh) enqueue.emit({ type: 'warning', message });
      if (kinds.length > 0 && context.started) enqueue.emit({ type: 'catalog.changed', kinds });
    }),
    answerPending: enqueueActions(({ context, enqueue }) => {
      for (const reply of context.pendingLists) reply(context.catalog);
      for (const request of context.pendingRequests) enqueue.raise(request);
      enqueue.assign({ pendingLists: [], pendingRequests: [], started: true });
    }),
  },
  guards: {
    targetUnknown: ({ context, event }) =>
      event.type === 'request.route' && resolve(context.catalog, event.target) === undefined,
    allSettled: ({ context }) => context.upstreams.every((upstream) => context.settled[upstream.name]),
  },
  delays: {
    startupTimeout: ({ context }) => context.startupTimeoutMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn, self }) => {
    const saved = input.savedCatalogs ?? {};
    return {
      upstreams: input.upstreams,
      startupTimeoutMs: input.startupTimeoutMs,
      refs: Object.fromEntries(
        input.upstreams.map((upstream) => [
          upstream.name,
          spawn('upstream', {
            id: upstream.name,
            systemId: `upstream:${upstream.name}`,
            input: {
              name: upstream.name,
              transport: upstream.transport,
              parentRef: self,
              catalog: saved[upstream.name],
            },
          }),
        ]),
      ),
      catalogs: { ...saved },
      // What an upstream saved last time is what the first lists show of it: nothing to wait for.
      settled: Object.fromEntries(Object.keys(saved).map((name) => [name, true as const])),
      catalog: catalogOf({ upstreams: input.upstreams, catalogs: saved }),
      pendingLists: [],
      pendingRequests: [],
      reportedWarnings: [],
      started: false,
    };
  },
  initial: 'starting',
  on: {
    'upstream.catalog': {
      actions: {
        type: 'updateCatalog',
        params: ({ context, event }) => ({ ...context.catalogs, [event.name]: event.catalog }),
      },
    },
    'upstream.signIn': {
      actions: emit(({ event }) => ({
        type: 'sign-in.needed' as const,
        upstream: event.name,
        url: event.url,
        ...(event.userCode !== undefined && { userCode: event.userCode }),
      })),
    },
    'upstream.failed': {
      actions: {
        type: 'updateCatalog',
        params: ({ context, event }) => ({ ...context.catalogs, [event.name]: EMPTY_CATALOG }),
      },
    },
    'request.route': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const owner = resolve(context.catalog, event.target);
        if (!owner || !context.refs[owner.upstream]) {
          event.reply({ type: 'unknown-target', target: event.target });
          return;
        }
        const upstream = context.upstreams.find((candidate) => candidate.name === owner.upstream)!;
        enqueue.sendTo(context.refs[owner.upstream]!, {
          type: 'request.forward',
          id: event.id,
          request: {
            ...event.request,
            params: upstreamParams(event.request, owner.originalName),
            // tasks/result waits, by design, for its task to end: the whole max_call_ms, not the per-answer timeout.
            timeoutMs:
              event.request.method === 'tasks/result' ? (upstream.maxCallMs ?? upstream.timeoutMs) : upstream.timeoutMs,
            ...(upstream.maxCallMs !== undefined && { maxTotalMs: upstream.maxCallMs }),
          },
          reply: (outcome: CallOutcome) => event.reply({ ...outcome, upstream: owner.upstream }),
        });
      }),
    },
    // Every upstream gets the level, now or when it is next connected.
    'logging.setLevel': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        for (const ref of Object.values(context.refs)) enqueue.sendTo(ref, event);
      }),
    },
  },
  states: {
    // Until the first list can be answered: requests are held here.
    starting: {
      initial: 'waitingForClient',
      states: {
        // Upstreams are spawned (their saved catalogs known) but open no session before the client has initialized.
        waitingForClient: {
          on: {
            'client.initialized': {
              target: 'settling',
              actions: enqueueActions(({ context, event, enqueue }) => {
                for (const ref of Object.values(context.refs)) enqueue.sendTo(ref, event);
              }),
            },
          },
        },
        // The first list waits until every upstream has settled (a saved catalog counts), or the startup timeout.
        settling: {
          always: { guard: 'allSettled', target: '#supervisor.running' },
          after: { startupTimeout: { target: '#supervisor.running' } },
        },
      },
      on: {
        'catalog.get': {
          actions: assign({ pendingLists: ({ context, event }) => [...context.pendingLists, event.reply] }),
        },
        // A client may use a list it cached in an earlier session: hold the request until startup settles.
        'request.route': {
          guard: 'targetUnknown',
          actions: assign({ pendingRequests: ({ context, event }) => [...context.pendingRequests, event] }),
        },
        'upstream.settled': {
          actions: assign({ settled: ({ context, event }) => ({ ...context.settled, [event.name]: true }) }),
        },
      },
    },
    running: {
      entry: 'answerPending',
      on: {
        'catalog.get': { actions: ({ context, event }) => event.reply(context.catalog) },
      },
    },
  },
});
