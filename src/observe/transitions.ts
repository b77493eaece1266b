/**
 * The single hook point for watching the actor system: XState's inspection API sees every actor, so one
 * `inspect` function turns snapshots into transitions (actor, event, from, to) for whoever listens: the stderr
 * log now, the trace log and the inspector later. Cheap when nobody listens: nothing is computed.
 */
import type { AnyActorRef, InspectionEvent, StateValue } from 'xstate';

export interface Transition {
  time: number;
  /** "supervisor", the upstream's name, or "call:<id>". */
  actor: string;
  /** The machine's id: supervisor, upstream, call. */
  machine: string;
  event: string;
  from?: string;
  state: string;
  /** The actor's context after the transition, for listeners that know the machine. Never log it raw. */
  context: unknown;
}

export type TransitionListener = (transition: Transition) => void;

/** `{connecting: 'http'}` → "connecting.http"; parallel regions are joined with ",". */
export function stateToString(value: StateValue): string {
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([key, child]) =>
      child && (typeof child === 'string' || Object.keys(child).length > 0) ? `${key}.${stateToString(child)}` : key,
    )
    .join(',');
}

interface MachineSnapshotLike {
  value: StateValue;
  context: Record<string, unknown>;
  machine?: { id: string };
}

function actorName(machine: string, actorRef: AnyActorRef, context: Record<string, unknown>): string {
  if (machine === 'upstream' && typeof context.name === 'string') return context.name;
  if (machine === 'call') return `call:${actorRef.id}`;
  return machine;
}

export function createInspector(listeners: TransitionListener[]): ((event: InspectionEvent) => void) | undefined {
  if (listeners.length === 0) return undefined;
  const last = new WeakMap<AnyActorRef, string>();
  return (inspection) => {
    if (inspection.type !== '@xstate.snapshot') return;
    const snapshot = inspection.snapshot as Partial<MachineSnapshotLike>;
    // Promise and callback actors have no state value: only statecharts make transitions.
    if (snapshot.value === undefined || !snapshot.machine) return;
    const actorRef = inspection.actorRef as AnyActorRef;
    const state = stateToString(snapshot.value);
    const from = last.get(actorRef);
    if (from === state) return;
    last.set(actorRef, state);
    const machine = snapshot.machine.id;
    const context = snapshot.context ?? {};
    const transition: Transition = {
      time: Date.now(),
      actor: actorName(machine, actorRef, context),
      machine,
      event: inspection.event.type,
      from,
      state,
      context,
    };
    for (const listener of listeners) listener(transition);
  };
}
