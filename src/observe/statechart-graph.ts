/**
 * A machine as something to draw: its state tree and its transitions with readable labels, taken from
 * `xstate/graph`'s directed graph (plus the `always` transitions, which that graph leaves out). Pure: the Mermaid
 * diagrams in docs/ and the status page's charts are both drawn from it, so they always agree with the machines.
 *
 * States are named by their dotted path from the root (`connected.ready.idle`, the root is ''), the form in which
 * the transition log and the status report states.
 */
import type { AnyStateMachine, StateValue } from 'xstate';
import { type DirectedGraphNode, toDirectedGraph } from 'xstate/graph';

export type StatechartStateType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** What fires a transition. */
export type StatechartTrigger = 'event' | 'always' | 'after' | 'done' | 'error' | 'done.state';

export interface StatechartTransition {
  /** Path of the state that has the transition. */
  source: string;
  /** Paths of the target states; empty for a transition that only runs actions (the state does not change). */
  targets: string[];
  trigger: StatechartTrigger;
  /** The event as XState names it (`xstate.after.reconnectDelay.upstream.reconnecting`; '' for `always`). */
  eventType: string;
  /** The event as a reader names it: `connection.lost`, `always`, `after reconnectDelay`, `done: listCatalog`. */
  event: string;
  /** The guard's name, `in <state>` for `stateIn`, or `inline guard` for an anonymous function. */
  guard?: string;
  /** Leaves and enters its target again even when it is the source or a descendant of it. */
  reenter: boolean;
  /** `event [guard]`. */
  label: string;
}

export interface StatechartState {
  /** Dotted path from the root: `connecting.http`; '' for the root. */
  path: string;
  /** XState's id: `upstream.connecting.http`. */
  id: string;
  /** The state's own name: `http` (the machine's id for the root). */
  key: string;
  type: StatechartStateType;
  /** Path of the initial child, for a compound state. */
  initial?: string;
  children: StatechartState[];
  /** Outgoing transitions in the order XState tries them: `always` first, then by event as defined. */
  transitions: StatechartTransition[];
  /** Sources of the actors the state invokes while it is active. */
  invokes: string[];
}

export interface Statechart {
  /** The machine's id: `upstream`. */
  id: string;
  root: StatechartState;
  /** Every state by path, the root ('') included, in document order. */
  states: ReadonlyMap<string, StatechartState>;
}

type StateNodeLike = DirectedGraphNode['stateNode'];
type TransitionLike = DirectedGraphNode['edges'][number]['transition'];

function pathOf(node: StateNodeLike): string {
  return node.path.join('.');
}

/** `{connected: 'ready'}` → `connected.ready` (regions of a parallel state joined with ','). */
function stateValueText(value: unknown): string {
  if (typeof value === 'string') return value.replace(/^#[^.]*\./, '');
  if (typeof value !== 'object' || value === null) return String(value);
  return Object.entries(value)
    .map(([key, child]) => {
      const rest = stateValueText(child);
      return rest ? `${key}.${rest}` : key;
    })
    .join(',');
}

function guardText(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  if (typeof guard === 'function') {
    // XState's built-in guards are functions that carry what they check.
    const builtIn = guard as { name: string; stateValue?: unknown; guards?: unknown[] };
    if (builtIn.stateValue !== undefined) return `in ${stateValueText(builtIn.stateValue)}`;
    if (Array.isArray(builtIn.guards)) {
      const inner = builtIn.guards.map((each) => guardText(each) ?? 'inline guard');
      if (builtIn.name === 'not') return `not ${inner[0]}`;
      if (builtIn.name === 'and') return inner.join(' and ');
      if (builtIn.name === 'or') return inner.join(' or ');
    }
  }
  return 'inline guard';
}

function sourceName(src: unknown, fallback: string): string {
  if (typeof src === 'string') return src;
  const id = (src as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : fallback;
}

function triggerOf(node: StateNodeLike, eventType: string): { trigger: StatechartTrigger; event: string } {
  if (eventType === '') return { trigger: 'always', event: 'always' };
  if (eventType.startsWith('xstate.after.')) {
    const delayed = node.after.find((transition) => transition.eventType === eventType);
    const delay = delayed?.delay;
    const name = typeof delay === 'number' ? `${delay}ms` : typeof delay === 'string' ? delay : 'inline delay';
    return { trigger: 'after', event: `after ${name}` };
  }
  for (const [prefix, trigger] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
  ] as const) {
    if (eventType.startsWith(prefix)) {
      const invokeId = eventType.slice(prefix.length);
      const invoked = node.invoke.find((definition) => definition.id === invokeId);
      return { trigger, event: `${trigger}: ${sourceName(invoked?.src, invokeId)}` };
    }
  }
  if (eventType.startsWith('xstate.done.state.')) return { trigger: 'done.state', event: 'done' };
  return { trigger: 'event', event: eventType };
}

function transitionOf(node: StateNodeLike, transition: TransitionLike): StatechartTransition {
  const { trigger, event } = triggerOf(node, transition.eventType);
  const guard = guardText(transition.guard);
  return {
    source: pathOf(node),
    targets: (transition.target ?? []).map(pathOf),
    trigger,
    eventType: transition.eventType,
    event,
    ...(guard === undefined ? {} : { guard }),
    reenter: transition.reenter,
    label: guard === undefined ? event : `${event} [${guard}]`,
  };
}

function stateOf(graph: DirectedGraphNode, states: Map<string, StatechartState>): StatechartState {
  const node = graph.stateNode;
  const path = pathOf(node);
  // The graph has one edge per target: put them back together per transition, in their order.
  const byTransition = new Map<TransitionLike, StatechartTransition>();
  for (const edge of graph.edges) {
    if (!byTransition.has(edge.transition)) byTransition.set(edge.transition, transitionOf(node, edge.transition));
  }
  const state: StatechartState = {
    path,
    id: node.id,
    key: path === '' ? node.machine.id : node.key,
    type: node.type,
    ...(node.type === 'compound' && node.initial?.target[0] ? { initial: pathOf(node.initial.target[0]) } : {}),
    children: [],
    transitions: [...(node.always ?? []).map((transition) => transitionOf(node, transition)), ...byTransition.values()],
    invokes: node.invoke.map((definition) => sourceName(definition.src, definition.id)),
  };
  states.set(path, state);
  state.children = graph.children.map((child) => stateOf(child, states));
  return state;
}

/** The drawable model of a machine. */
export function statechartOf(machine: AnyStateMachine): Statechart {
  const states = new Map<string, StatechartState>();
  const root = stateOf(toDirectedGraph(machine), states);
  return { id: machine.id, root, states };
}

/** Every transition of the chart, state by state in document order. */
export function transitionsOf(chart: Statechart): StatechartTransition[] {
  return [...chart.states.values()].flatMap((state) => state.transitions);
}

/** The full paths of the active atomic states of a snapshot's value: `{connected: {ready: 'idle'}}` → `connected.ready.idle`. */
export function activePaths(value: StateValue): string[] {
  if (typeof value === 'string') return [value];
  return Object.entries(value).flatMap(([key, child]) =>
    child === undefined || (typeof child === 'object' && Object.keys(child).length === 0)
      ? [key]
      : activePaths(child).map((rest) => `${key}.${rest}`),
  );
}

/** The active paths and all their ancestors: `connected.ready.idle` → connected, connected.ready, connected.ready.idle. */
export function activeStateSet(activeStates: readonly string[]): Set<string> {
  const active = new Set<string>();
  for (const path of activeStates) {
    const keys = path.split('.').filter((key) => key !== '');
    for (let length = 1; length <= keys.length; length += 1) active.add(keys.slice(0, length).join('.'));
  }
  return active;
}

/**
 * The states some sequence of events can reach from the initial state, ignoring guards (so a state missing here
 * can never be entered, whatever the guards say).
 */
export function reachableStates(chart: Statechart): Set<string> {
  const reached = new Set<string>();
  const pending: StatechartState[] = [];
  const enter = (state: StatechartState | undefined): void => {
    // Entering a state enters its ancestors, and its initial child (every region of a parallel state).
    for (let path = state?.path; path !== undefined; path = parentPath(path)) {
      const each = chart.states.get(path);
      if (each && !reached.has(path)) {
        reached.add(path);
        pending.push(each);
      }
    }
    if (state?.type === 'compound' && state.initial !== undefined) enter(chart.states.get(state.initial));
    if (state?.type === 'parallel') for (const region of state.children) enter(region);
  };
  enter(chart.root);
  for (let state = pending.pop(); state !== undefined; state = pending.pop()) {
    for (const transition of state.transitions) {
      for (const target of transition.targets) enter(chart.states.get(target));
    }
  }
  return reached;
}

function parentPath(path: string): string | undefined {
  if (path === '') return undefined;
  const dot = path.lastIndexOf('.');
  return dot === -1 ? '' : path.slice(0, dot);
}
