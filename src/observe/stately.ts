/**
 * The bridge to the Stately inspector (`--inspect`): the supervisor, every upstream and every call in flight as
 * actors, with their states and the events they receive, in the wire format of `@statelyai/inspect` (its
 * `createInspector` with our own adapter). The events go to whoever follows the local inspector feed (an SSE stream
 * on the status page's loopback server, relayed to the Stately inspector UI by the page at `/inspector`).
 *
 * Only statecharts are shown (promise and callback actors carry connections, tokens and arguments in their input
 * and output), and only allow-listed facts leave: for a context, names, states, counts and error codes/messages;
 * for an event, its type and a few named fields. A snapshot is reduced here, synchronously, before anything is
 * serialised: the library's own XState observer would serialise whole snapshots (children, connections, the machine)
 * on every event, which is both slow and where the secrets are.
 */
import type { AnyActorRef, AnyEventObject, InspectionEvent, MachineContext } from 'xstate';
import type { CallContext } from '../../machines/call/index.js';
import type { SupervisorContext } from '../../machines/supervisor/index.js';
import type { UpstreamContext } from '../../machines/upstream/index.js';
import { redact } from './redact.js';

/** One event in the Stately inspector's format (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`). */
export type StatelyEvent = { type: string; sessionId: string } & Record<string, unknown>;

export interface StatelyBridge {
  /** The XState inspection observer (composed with the transition hook in proxy.ts). */
  inspect(event: InspectionEvent): void;
  /** Gets every event from now on, after the registration and last snapshot of every live actor. */
  follow(listener: (event: StatelyEvent) => void): () => void;
}

/** Machines whose actors are shown. */
const SHOWN_MACHINES = new Set(['supervisor', 'upstream', 'call']);

interface ShownActor {
  name: string;
  machine: string;
  registered?: StatelyEvent;
  lastSnapshot?: StatelyEvent;
}

/** The machine id of a statechart actor, undefined for promise and callback actors. */
function machineIdOf(actorRef: AnyActorRef): string | undefined {
  const { logic } = actorRef as unknown as { logic?: { root?: unknown; config?: { id?: unknown } } };
  if (!logic || logic.root === undefined || typeof logic.config?.id !== 'string') return undefined;
  return logic.config.id;
}

function nameOf(machine: string, actorRef: AnyActorRef): string {
  if (machine === 'call') return `call:${actorRef.id}`;
  return machine === 'upstream' ? actorRef.id : machine;
}

function failureOf(value: unknown): { kind?: string; code: string; message: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, code, message } = value as Record<string, unknown>;
  if (typeof code !== 'string' || typeof message !== 'string') return undefined;
  // Failure messages never hold a secret; redacted anyway, as every stderr line is.
  return { ...(typeof kind === 'string' && { kind }), code, message: redact(message) };
}

/** What the inspector may see of an actor's context: names, states, counts, error codes and messages. */
export function sanitizeContext(machine: string, context: MachineContext | undefined): MachineContext {
  if (!context) return {};
  if (machine === 'upstream') {
    const upstream = context as UpstreamContext;
    return {
      name: upstream.name,
      mode: upstream.mode,
      transport: upstream.transport,
      attempt: upstream.attempt,
      tools: upstream.catalog.tools.map((tool) => tool.name),
      prompts: upstream.catalog.prompts.length,
      resources: upstream.catalog.resources.length,
      resourceTemplates: upstream.catalog.resourceTemplates.length,
      subscriptions: upstream.subscriptions.length,
      logLevel: upstream.logLevel,
      lastError: failureOf(upstream.lastError),
      waitingForSignIn: upstream.signInUrl !== undefined,
      stepUps: upstream.stepUps,
    };
  }
  if (machine === 'call') {
    const call = context as CallContext;
    const name = call.request.params.name;
    return {
      id: call.id,
      upstream: call.upstream,
      method: call.request.method,
      // A tool's or prompt's name; never the arguments, never a resource URI (it may hold a key).
      ...(typeof name === 'string' && (call.request.method === 'tools/call' || call.request.method === 'prompts/get')
        ? { name }
        : {}),
      retried: call.retried,
    };
  }
  if (machine === 'supervisor') {
    const supervisor = context as SupervisorContext;
    return {
      upstreams: supervisor.upstreams.map((upstream) => upstream.name),
      settled: Object.keys(supervisor.settled),
      started: supervisor.started,
      tools: supervisor.catalog.tools.items.length,
      prompts: supervisor.catalog.prompts.items.length,
      pendingLists: supervisor.pendingLists.length,
      pendingRequests: supervisor.pendingRequests.length,
    };
  }
  return {};
}

/** Event fields that are safe to show, by name; anything else (arguments, results, connections, URLs) is left out. */
export function sanitizeEvent(event: AnyEventObject): AnyEventObject {
  const safe: AnyEventObject = { type: event.type };
  const { id, name, failure, error } = event as Record<string, unknown>;
  if (typeof id === 'string') safe.id = id;
  if (typeof name === 'string') safe.name = name;
  const reported = failureOf(failure) ?? failureOf(error);
  if (reported) safe.failure = reported;
  return safe;
}

/**
 * Loads `@statelyai/inspect` (only when `--inspect` is on: it is not even imported otherwise) and returns the
 * bridge.
 */
export async function createStatelyBridge(): Promise<StatelyBridge> {
  const { createInspector } = await import('@statelyai/inspect');
  const actors = new Map<string, ShownActor>();
  const followers = new Set<(event: StatelyEvent) => void>();
  let current: ShownActor | undefined;

  const inspector = createInspector(
    {
      send(event) {
        const stately = event as unknown as StatelyEvent;
        const actor = actors.get(stately.sessionId);
        if (actor && stately.type === '@xstate.actor') actor.registered = stately;
        if (actor && stately.type === '@xstate.snapshot') actor.lastSnapshot = stately;
        for (const follower of followers) follower(stately);
      },
    },
    {
      // The library names an actor after its machine; the inspector shows upstreams and calls by their own names.
      serialize: (event) => (event.type === '@xstate.actor' && current ? { ...event, name: current.name } : event),
      sanitizeEvent,
      // Contexts are reduced per machine before they reach the library (it does not say which machine it is).
      sanitizeContext: (context) => context,
    },
  );

  const register = (actorRef: AnyActorRef, actor: ShownActor) => {
    current = actor;
    inspector.actor(actorRef, {
      status: 'active',
      context: sanitizeContext(actor.machine, actorRef.getSnapshot()?.context),
    });
    current = undefined;
  };

  return {
    inspect(inspection) {
      const actorRef = inspection.actorRef as AnyActorRef;
      if (inspection.type === '@xstate.actor') {
        const machine = machineIdOf(actorRef);
        if (!machine || !SHOWN_MACHINES.has(machine)) return;
        // Its snapshot does not exist yet: it is registered with its first one.
        actors.set(actorRef.sessionId, { name: nameOf(machine, actorRef), machine });
        return;
      }
      const actor = actors.get(actorRef.sessionId);
      if (!actor) return;
      if (inspection.type === '@xstate.event') {
        if (!actor.registered) register(actorRef, actor);
        inspector.event(actorRef, inspection.event, inspection.sourceRef && { source: inspection.sourceRef });
        return;
      }
      if (inspection.type !== '@xstate.snapshot') return;
      if (!actor.registered) register(actorRef, actor);
      const snapshot = inspection.snapshot as { status: 'active' | 'done' | 'error' | 'stopped'; value?: unknown };
      inspector.snapshot(
        actorRef,
        {
          status: snapshot.status,
          value: snapshot.value,
          context: sanitizeContext(actor.machine, (inspection.snapshot as { context?: MachineContext }).context),
        },
        { event: inspection.event },
      );
      if (snapshot.status !== 'active') actors.delete(actorRef.sessionId);
    },
    follow(listener) {
      // Late followers first learn of every live actor (parents were registered before their children).
      for (const actor of actors.values()) if (actor.registered) listener(actor.registered);
      for (const actor of actors.values()) if (actor.lastSnapshot) listener(actor.lastSnapshot);
      followers.add(listener);
      return () => followers.delete(listener);
    },
  };
}
