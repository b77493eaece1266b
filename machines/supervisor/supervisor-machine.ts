/**
 * The supervisor: spawns one upstream actor per configured upstream, keeps the catalog of what is exposed (tools
 * filtered, tools and prompts named collision-free in config order, resources under their URIs), answers list
 * requests from it, and dispatches each request as an event to the upstream actor that owns its target. It never
 * touches a socket.
 */
import { assign, emit, enqueueActions, setup, stopChild } from 'xstate';
import {
  buildCatalog,
  type Catalog,
  changedKinds,
  EMPTY_CATALOG,
  type UpstreamCatalog,
} from '../../src/catalog/index.js';
import type { CallOutcome } from '../types.js';
import { upstreamMachine } from '../upstream/index.js';
import { retirementFor, upstreamActorId } from './reload.js';
import { resolve, upstreamParams } from './routing.js';
import type {
  Reload,
  SupervisorContext,
  SupervisorEmitted,
  SupervisorEvent,
  SupervisorInput,
  UpstreamRef,
} from './types.js';

function catalogOf(context: Pick<SupervisorContext, 'upstreams' | 'catalogs'>): Catalog {
  return buildCatalog(
    context.upstreams.map((upstream) => ({
      upstream: upstream.name,
      toolPrefix: upstream.toolPrefix,
      filter: upstream.filter,
      view: upstream.view,
      catalog: context.catalogs[upstream.name] ?? EMPTY_CATALOG,
    })),
  );
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
    /** A reload: the actors of removed and changed upstreams retire (their calls sent may finish first). */
    retireUpstreams: enqueueActions(({ context, enqueue }, reload: Reload) => {
      for (const running of context.upstreams) {
        const retirement = retirementFor(running, reload);
        const ref = context.refs[running.name];
        if (retirement && ref) enqueue.sendTo(ref, { type: 'upstream.retire', ...retirement });
      }
    }),
    /**
     * A reload: the new list of upstreams; kept ones keep their actors and lists, added and changed ones get new
     * actors. A changed upstream's last lists stay exposed (their calls wait) until its new session lists.
     */
    adoptReload: assign(({ context, spawn, self }, reload: Reload) => {
      const refs: Record<string, UpstreamRef> = {};
      const catalogs: Record<string, UpstreamCatalog> = {};
      const settled: Record<string, true> = {};
      const generations = { ...context.generations };
      for (const upstream of reload.upstreams) {
        const { name } = upstream;
        const running = context.refs[name];
        const restarted = reload.restart.includes(name);
        const catalog = running ? context.catalogs[name] : reload.savedCatalogs?.[name];
        if (catalog) catalogs[name] = catalog;
        if (running && !restarted) {
          refs[name] = running;
          if (context.settled[name]) settled[name] = true;
          continue;
        }
        if (catalog) settled[name] = true;
        const generation = (generations[name] ?? 0) + 1;
        generations[name] = generation;
        const id = upstreamActorId(name, generation);
        refs[name] = spawn('upstream', {
          id,
          systemId: `upstream:${id}`,
          input: {
            name,
            transport: upstream.transport,
            parentRef: self,
            catalog,
            clientInitialized: context.initialized,
            logLevel: context.logLevel,
            subscriptions: running?.getSnapshot().context.subscriptions,
          },
        });
      }
      return { upstreams: reload.upstreams, refs, catalogs, settled, generations };
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
      initialized: false,
      generations: Object.fromEntries(input.upstreams.map((upstream) => [upstream.name, 1])),
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
    // Every upstream gets the level, now or when it is next connected; one a reload adds gets it at its start.
    'logging.setLevel': {
      actions: [
        assign({ logLevel: ({ event }) => event.level }),
        enqueueActions(({ context, event, enqueue }) => {
          for (const ref of Object.values(context.refs)) enqueue.sendTo(ref, event);
        }),
      ],
    },
    'config.reload': {
      actions: [
        { type: 'retireUpstreams', params: ({ event }) => event },
        { type: 'adoptReload', params: ({ event }) => event },
        // What the client sees: without the removed upstreams, with the new filters, names and overrides.
        { type: 'updateCatalog', params: ({ context }) => context.catalogs },
      ],
    },
    // A retired actor has answered its calls and closed its session.
    'upstream.retired': { actions: stopChild(({ event }) => event.id) },
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
              actions: [
                assign({ initialized: true }),
                enqueueActions(({ context, event, enqueue }) => {
                  for (const ref of Object.values(context.refs)) enqueue.sendTo(ref, event);
                }),
              ],
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
