/**
 * The supervisor: spawns one upstream actor per configured upstream, keeps the registry of exposed tools
 * (filtered, named, collision-free, in config order), answers list requests from it, and dispatches each call as
 * an event to the upstream actor that owns the tool. It never touches a socket.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { type ActorRefFrom, assign, emit, enqueueActions, setup } from 'xstate';
import { buildToolRegistry, type ToolRegistry, type UpstreamToolSource } from '../src/tools/registry.js';
import type { CallOutcome, ToolCallRequest, TransportMode } from './types.js';
import { type UpstreamToSupervisorEvent, upstreamMachine } from './upstream.js';

export interface SupervisedUpstream {
  name: string;
  transport: TransportMode;
  toolPrefix?: string;
  filter: (toolName: string) => boolean;
  timeoutMs: number;
}

export interface SupervisorInput {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
}

type UpstreamRef = ActorRefFrom<typeof upstreamMachine>;

export interface SupervisorContext {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
  refs: Record<string, UpstreamRef>;
  /** Last tool list per upstream (kept while it reconnects, emptied when it fails). */
  toolsByUpstream: Record<string, Tool[]>;
  settled: Record<string, true>;
  registry: ToolRegistry;
  /** `tools/list` requests that arrived before startup settled. */
  pendingLists: Array<(tools: Tool[]) => void>;
  /** Calls to names not known yet that arrived before startup settled (clients may call from a cached list). */
  pendingCalls: ToolCallEvent[];
  /** Collision warnings already reported, so each is logged once. */
  reportedWarnings: string[];
  /** Set once the first list was answered: list changes before that are news to nobody. */
  started: boolean;
}

export type ToolCallEvent = {
  type: 'tool.call';
  id: string;
  /** The exposed name, as the client called it. */
  name: string;
  request: Omit<ToolCallRequest, 'name' | 'timeoutMs'>;
  reply: (outcome: CallOutcome | { type: 'unknown-tool'; name: string }) => void;
};

export type SupervisorEvent =
  | { type: 'tools.list'; reply: (tools: Tool[]) => void }
  | ToolCallEvent
  | UpstreamToSupervisorEvent;

export type SupervisorEmitted =
  | { type: 'tools.changed' }
  | { type: 'warning'; message: string }
  | { type: 'sign-in.needed'; upstream: string; url: string };

function buildRegistry(context: Pick<SupervisorContext, 'upstreams' | 'toolsByUpstream'>): ToolRegistry {
  const sources: UpstreamToolSource[] = context.upstreams.map((upstream) => ({
    upstream: upstream.name,
    toolPrefix: upstream.toolPrefix,
    filter: upstream.filter,
    tools: context.toolsByUpstream[upstream.name] ?? [],
  }));
  return buildToolRegistry(sources);
}

/** Two registries expose the same tools when names, owners and definitions match; relists often change nothing. */
function sameTools(a: ToolRegistry, b: ToolRegistry): boolean {
  if (a.tools.length !== b.tools.length) return false;
  return a.tools.every((tool, i) => {
    const other = b.tools[i]!;
    return (
      tool.exposedName === other.exposedName &&
      tool.upstream === other.upstream &&
      (tool.definition === other.definition || JSON.stringify(tool.definition) === JSON.stringify(other.definition))
    );
  });
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
    updateTools: enqueueActions(({ context, enqueue }, toolsByUpstream: Record<string, Tool[]>) => {
      const registry = buildRegistry({ upstreams: context.upstreams, toolsByUpstream });
      const changed = !sameTools(context.registry, registry);
      const fresh = registry.warnings.filter((warning) => !context.reportedWarnings.includes(warning));
      enqueue.assign({
        toolsByUpstream,
        registry,
        reportedWarnings: [...context.reportedWarnings, ...fresh],
      });
      for (const message of fresh) enqueue.emit({ type: 'warning', message });
      if (changed && context.started) enqueue.emit({ type: 'tools.changed' });
    }),
    answerPendingLists: enqueueActions(({ context, enqueue }) => {
      const tools = context.registry.tools.map((tool) => tool.definition);
      for (const reply of context.pendingLists) reply(tools);
      for (const call of context.pendingCalls) enqueue.raise(call);
      enqueue.assign({ pendingLists: [], pendingCalls: [], started: true });
    }),
  },
  guards: {
    allSettled: ({ context }) => context.upstreams.every((upstream) => context.settled[upstream.name]),
  },
  delays: {
    startupTimeout: ({ context }) => context.startupTimeoutMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn, self }) => ({
    upstreams: input.upstreams,
    startupTimeoutMs: input.startupTimeoutMs,
    refs: Object.fromEntries(
      input.upstreams.map((upstream) => [
        upstream.name,
        spawn('upstream', {
          id: upstream.name,
          systemId: `upstream:${upstream.name}`,
          input: { name: upstream.name, transport: upstream.transport, parentRef: self },
        }),
      ]),
    ),
    toolsByUpstream: {},
    settled: {},
    registry: buildRegistry({ upstreams: input.upstreams, toolsByUpstream: {} }),
    pendingLists: [],
    pendingCalls: [],
    reportedWarnings: [],
    started: false,
  }),
  initial: 'starting',
  on: {
    'upstream.tools': {
      actions: {
        type: 'updateTools',
        params: ({ context, event }) => ({ ...context.toolsByUpstream, [event.name]: event.tools }),
      },
    },
    'upstream.signIn': {
      actions: emit(({ event }) => ({ type: 'sign-in.needed' as const, upstream: event.name, url: event.url })),
    },
    'upstream.failed': {
      actions: {
        type: 'updateTools',
        params: ({ context, event }) => ({ ...context.toolsByUpstream, [event.name]: [] }),
      },
    },
    'tool.call': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const tool = context.registry.byName.get(event.name);
        if (!tool) {
          event.reply({ type: 'unknown-tool', name: event.name });
          return;
        }
        const upstream = context.upstreams.find((candidate) => candidate.name === tool.upstream)!;
        enqueue.sendTo(context.refs[tool.upstream]!, {
          type: 'tool.call',
          id: event.id,
          request: { ...event.request, name: tool.originalName, timeoutMs: upstream.timeoutMs },
          reply: event.reply,
        });
      }),
    },
  },
  states: {
    // The first tools/list waits here until every upstream has settled, or the startup timeout.
    starting: {
      always: { guard: 'allSettled', target: 'running' },
      after: { startupTimeout: { target: 'running' } },
      on: {
        'tools.list': {
          actions: assign({ pendingLists: ({ context, event }) => [...context.pendingLists, event.reply] }),
        },
        // A client may call from a list it cached in an earlier session: hold the call until startup settles.
        'tool.call': {
          guard: ({ context, event }) => !context.registry.byName.has(event.name),
          actions: assign({ pendingCalls: ({ context, event }) => [...context.pendingCalls, event] }),
        },
        'upstream.settled': {
          actions: assign({ settled: ({ context, event }) => ({ ...context.settled, [event.name]: true }) }),
        },
      },
    },
    running: {
      entry: 'answerPendingLists',
      on: {
        'tools.list': {
          actions: ({ context, event }) => event.reply(context.registry.tools.map((tool) => tool.definition)),
        },
      },
    },
  },
});
