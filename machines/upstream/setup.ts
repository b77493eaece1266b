/**
 * The upstream chart's vocabulary: its placeholder actors (src/upstream/actors.ts provides the real ones), its
 * actions and guards. Guards and actions that read an event take it as typed `params`, given at the use site.
 */
import { type AnyActorRef, assign, enqueueActions, fromCallback, fromPromise, setup } from 'xstate';
import type { UpstreamCatalog } from '../../src/catalog/index.js';
import { INSUFFICIENT_SCOPE, type UpstreamFailure } from '../../src/errors/index.js';
import { type CallInput, callMachine } from '../call/index.js';
import type { ConnectionSignal, UpstreamConnection } from '../types.js';
import { reconnectDelayMs } from './backoff.js';
import { asFailure, bothRefused, failureOf, lostDuringCall, scopeRefused, signInNeeded } from './failures.js';
import type { InFlightCall } from './in-flight.js';
import { callsOf, inFlightCount, signInInstruction } from './selectors.js';
import type {
  CallRef,
  ConnectInput,
  Retirement,
  UpstreamContext,
  UpstreamEvent,
  UpstreamInput,
  UpstreamToSupervisorEvent,
} from './types.js';

/** Step-up sign-ins (403 insufficient_scope) allowed per upstream: with the first sign-in, three in all. */
export const MAX_STEP_UPS = 2;

/** The params of a guard or action about an invoked actor's failure: its `xstate.error.actor` event's error. */
export interface ActorError {
  error: unknown;
}
/** The params from an `onError` transition. */
export const actorError = ({ event }: { event: { error: unknown } }): ActorError => ({ error: event.error });

/** The params of a guard about a call's report: the connection it was on. */
interface Report {
  connection: UpstreamConnection;
}

const notProvided = (actor: string) => () => {
  throw new Error(`upstream machine: actor "${actor}" was not provided`);
};

/** A call actor's input for a call forwarded on the ready path that now needs its statechart. */
export function adoptedCall(
  self: CallInput['parentRef'],
  name: string,
  call: InFlightCall,
  lostFailure?: UpstreamFailure,
): CallInput {
  const { id, request, reply, connection, pending } = call;
  return { id, upstream: name, request, reply, parentRef: self, connection, settled: pending, lostFailure };
}

export const upstreamSetup = setup({
  types: {
    context: {} as UpstreamContext,
    input: {} as UpstreamInput,
    events: {} as UpstreamEvent,
  },
  actors: {
    connectStreamableHttp: fromPromise<UpstreamConnection, ConnectInput>(notProvided('connectStreamableHttp')),
    connectSse: fromPromise<UpstreamConnection, ConnectInput>(notProvided('connectSse')),
    /** OAuth: metadata discovery; answers whether a refresh can be tried before a browser sign-in. */
    discoverAuthorization: fromPromise<'refresh' | 'sign-in', ConnectInput>(notProvided('discoverAuthorization')),
    /** OAuth: the browser sign-in; sends `auth.waiting` when the user must act, then `auth.signedIn`/`auth.failed`. */
    authorize: fromCallback<UpstreamEvent, ConnectInput & { scope?: string }>(notProvided('authorize')),
    /** OAuth: refresh the access token ahead of expiry. */
    refreshTokens: fromPromise<void, ConnectInput>(notProvided('refreshTokens')),
    listCatalog: fromPromise<UpstreamCatalog, { connection: UpstreamConnection }>(({ input }) =>
      input.connection.listCatalog(),
    ),
    watchConnection: fromCallback<UpstreamEvent, { connection: UpstreamConnection }>(({ input, sendBack }) =>
      input.connection.watch((signal: ConnectionSignal) => {
        if (signal.type === 'lost') sendBack({ type: 'connection.lost', failure: signal.failure });
        else if (signal.type === 'alive') sendBack({ type: 'connection.alive' });
        else sendBack({ type: 'connection.catalogChanged' });
      }),
    ),
    call: callMachine,
    /**
     * Retiring: reports `drain.done` once the upstream has no call left. It watches the actor's own snapshots,
     * which change whenever a call ends (its `call.settled` stops it).
     */
    drainCalls: fromCallback<UpstreamEvent, { upstream: AnyActorRef }>(({ input, sendBack }) => {
      const check = () => {
        if (inFlightCount(input.upstream) === 0) sendBack({ type: 'drain.done' });
      };
      const subscription = input.upstream.subscribe(check);
      check();
      return () => subscription.unsubscribe();
    }),
  },
  actions: {
    closeConnection: enqueueActions(({ context, enqueue }) => {
      const { connection } = context;
      if (!connection) return;
      // Fire and forget: close() never rejects, and the next connection must not wait for the old one.
      void connection.close();
      enqueue.assign({ connection: undefined });
    }),
    recordFailure: assign({ lastError: (_, failure: UpstreamFailure) => failure }),
    /** A connect actor's error, as the failure it carries (naming what both transports answered, after a fallback). */
    recordConnectFailure: assign({
      lastError: ({ context }, { error }: ActorError) => {
        const failure = asFailure(
          error,
          `upstream "${context.name}": connecting over ${context.transport === 'sse' ? 'SSE' : 'Streamable HTTP'} failed`,
        );
        const first = context.firstTransportFailure;
        return first !== undefined && failure.kind === 'fallback' ? bothRefused(context.name, first, failure) : failure;
      },
      firstTransportFailure: undefined,
    }),
    /** Falling back: the first transport's refusal is kept for the message if the other is refused too. */
    recordFallback: assign({
      firstTransportFailure: ({ context }, { error }: ActorError) =>
        asFailure(error, `upstream "${context.name}": refused`),
    }),
    recordSessionRenewed: assign({ sessionRenewed: true }),
    /** Step-up: the scope a 403 asked for (from a call's event or a list's error), for the next sign-in. */
    recordStepUp: assign({
      stepUpScope: (_, { scope }: { scope: string | undefined }) => scope,
      stepUps: ({ context }) => context.stepUps + 1,
    }),
    recordScopeRefused: assign({
      lastError: ({ context }, { error }: ActorError) =>
        scopeRefused(context.name, failureOf(error)?.reason, MAX_STEP_UPS),
    }),
    recordAuthFailure: assign({
      lastError: ({ context }, { error }: ActorError) => asFailure(error, `upstream "${context.name}": sign-in failed`),
    }),
    replySignInNeeded: ({ context, event }) => {
      if (event.type !== 'request.forward') return;
      const instruction = context.signInUrl && signInInstruction(context.signInUrl, context.signInUserCode);
      event.reply({ type: 'failure', failure: signInNeeded(context.name, instruction) });
    },
    recordListFailure: assign({
      lastError: ({ context }, { error }: ActorError) => asFailure(error, `upstream "${context.name}": listing failed`),
    }),
    /** Saves the fresh lists for the next session's first answers; provided by src/ (a no-op here). */
    persistCatalog: (_, catalog: UpstreamCatalog) => void catalog,
    /** Fresh lists: kept (they stay exposed while reconnecting) and passed to the supervisor. */
    adoptCatalog: enqueueActions(({ context, enqueue }, catalog: UpstreamCatalog) => {
      enqueue.assign({ catalog });
      if (context.parentRef) {
        enqueue.sendTo(context.parentRef, { type: 'upstream.catalog', name: context.name, catalog });
      }
    }),
    /** A new session knows nothing of the client's subscriptions and log level: tell it. */
    restoreSession: ({ context }) =>
      context.connection?.restore({ subscriptions: context.subscriptions, logLevel: context.logLevel }),
    adoptConnection: assign({
      connection: (_, connection: UpstreamConnection) => connection,
      workingTransport: ({ context }) => context.transport,
    }),
    tellSupervisor: enqueueActions(({ context, enqueue }, event: UpstreamToSupervisorEvent) => {
      if (context.parentRef) enqueue.sendTo(context.parentRef, event);
    }),
    /**
     * With a browser open the user is likely signing in now, and the first list waits for it (up to the startup
     * timeout). With only a printed link nobody may be looking: the other upstreams' tools need not wait.
     */
    settleUnlessBrowserOpened: enqueueActions(({ context, enqueue }, browserOpened: boolean) => {
      if (!browserOpened && context.parentRef) {
        enqueue.sendTo(context.parentRef, { type: 'upstream.settled', name: context.name });
      }
    }),
    tellCalls: enqueueActions(({ self, enqueue }, event: Parameters<CallRef['send']>[0]) => {
      for (const ref of callsOf(self)) enqueue.sendTo(ref, event);
    }),
    recordRetirement: assign({
      retirement: (_, retirement: Retirement) => ({ failure: retirement.failure, drainMs: retirement.drainMs }),
    }),
    /** Retiring: a call that waits for a session will not get one here. */
    failWaitingCalls: enqueueActions(({ context, self, enqueue }) => {
      for (const ref of callsOf(self)) {
        if (ref.getSnapshot().matches('waiting')) {
          enqueue.sendTo(ref, { type: 'upstream.failed', failure: context.retirement!.failure });
        }
      }
    }),
    /** Retiring: a call that reports it must be sent again (session gone, never sent) is answered instead. */
    failCallRetired: enqueueActions(({ context, event, self, enqueue }) => {
      if (event.type !== 'call.sessionExpired' && event.type !== 'call.connectionSuspect') return;
      const ref = callsOf(self).find((call) => call.id === event.id);
      if (ref) enqueue.sendTo(ref, { type: 'upstream.failed', failure: context.retirement!.failure });
    }),
    replyRetired: ({ context, event }) => {
      if (event.type === 'request.forward') event.reply({ type: 'failure', failure: context.retirement!.failure });
    },
    /** The end: the supervisor forgets this actor (and stops it). */
    announceRetired: enqueueActions(({ context, self, enqueue }) => {
      if (context.parentRef) {
        enqueue.sendTo(context.parentRef, { type: 'upstream.retired', name: context.name, id: self.id });
      }
    }),
    /** Client subscriptions are kept for the next session (resubscribed in `restoreSession`). */
    trackSubscriptions: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'request.forward') return;
      const { method, params } = event.request;
      if (method !== 'resources/subscribe' && method !== 'resources/unsubscribe') return;
      const uri = params.uri as string;
      if (method === 'resources/unsubscribe') {
        enqueue.assign({ subscriptions: context.subscriptions.filter((known) => known !== uri) });
      } else if (!context.subscriptions.includes(uri)) {
        enqueue.assign({ subscriptions: [...context.subscriptions, uri] });
      }
    }),
    /** The ready path: the request goes out now, with no actor (./in-flight.ts); a failure gets one. */
    forwardNow: ({ context, event, self }) => {
      if (event.type !== 'request.forward' || context.connection === undefined) return;
      const { id, request, reply } = event;
      context.inFlight.forward({ id, request, reply, connection: context.connection }, (call) =>
        self.send({ type: 'inFlight.failed', call }),
      );
    },
    /**
     * Leaving `ready`: each call still running on the ready path becomes a call actor that adopts its request, so
     * it hears what the upstream tells its calls from now on. A lost connection is what it fails of.
     */
    adoptInFlight: enqueueActions(({ context, event, enqueue, self }) => {
      const lost = event.type === 'connection.lost' ? lostDuringCall(context.name, event.failure) : undefined;
      for (const call of context.inFlight.takeAll()) {
        enqueue.spawnChild('call', { id: call.id, input: adoptedCall(self, context.name, call, lost) });
      }
    }),
  },
  guards: {
    /** Spawned by a reload after the client initialized: there is nothing to wait for. */
    clientInitialized: ({ context }) => context.clientInitialized,
    /** Discovery found a refresh token: try it before the browser. */
    refreshTokenStored: (_, next: 'refresh' | 'sign-in') => next === 'refresh',
    /** The user did not finish signing in (timeout, closed tab): wait for a call to start again. */
    signInNotCompleted: ({ event }) => event.type === 'auth.failed' && event.failure.kind === 'auth',
    signInRefused: ({ event }) => event.type === 'auth.failed' && event.failure.kind === 'permanent',
    stepUpAllowed: ({ context }) => context.stepUps < MAX_STEP_UPS,
    signInRequired: (_, { error }: ActorError) => failureOf(error)?.kind === 'auth',
    insufficientScope: (_, { error }: ActorError) => failureOf(error)?.code === INSUFFICIENT_SCOPE,
    widerScopeNeeded: ({ context }, { error }: ActorError) =>
      failureOf(error)?.code === INSUFFICIENT_SCOPE && context.stepUps < MAX_STEP_UPS,
    /** The server forgot our session (it restarted, say): open a new one at once, once; then back off. */
    sessionExpiredFirstTime: ({ context }, { error }: ActorError) =>
      failureOf(error)?.kind === 'session-expired' && !context.sessionRenewed,
    /** An expiry report about the current session, which is renewed at once unless it was just renewed. */
    canRenewSession: ({ context }, { connection }: Report) =>
      !context.sessionRenewed && connection === context.connection,
    /** http-first may try SSE (and sse-first HTTP) once, until one of them has worked. */
    mayFallBack: ({ context }, { error }: ActorError) =>
      failureOf(error)?.kind === 'fallback' &&
      context.workingTransport === undefined &&
      ((context.mode === 'http-first' && context.transport === 'http') ||
        (context.mode === 'sse-first' && context.transport === 'sse')),
    retryCannotFix: (_, { error }: ActorError) => ['fallback', 'permanent'].includes(failureOf(error)?.kind ?? ''),
    startsWithSse: ({ context }) =>
      (context.workingTransport ?? (context.mode === 'sse' || context.mode === 'sse-first' ? 'sse' : 'http')) === 'sse',
    /** A call's report is about the connection in use (not one already replaced). */
    isCurrentConnection: ({ context }, { connection }: Report) => connection === context.connection,
  },
  delays: {
    reconnectDelay: ({ context }) => reconnectDelayMs(context.attempt, context.random, context.lastError?.retryAfterMs),
    drainDeadline: ({ context }) => context.retirement?.drainMs ?? 0,
  },
});
