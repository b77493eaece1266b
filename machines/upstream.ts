/**
 * One actor per configured upstream. It owns the connection, the last lists (tools, resources, prompts) and the
 * in-flight requests:
 *
 *   connecting (http | sse, with fallback) → connected.listing → connected.ready ⇄ reconnecting
 *   discovering → authorizing / refreshing carry OAuth (filled in by the OAuth issue), and `failed` is for what
 *   retrying cannot fix.
 *
 * I/O comes in through provided actors (connectStreamableHttp, connectSse, the OAuth ones) and through the
 * `UpstreamConnection` interface, so the chart can be driven with a SimulatedClock and fakes.
 */
import type { LoggingLevel } from '@modelcontextprotocol/client';
import {
  type ActorRefFrom,
  type AnyActorRef,
  assign,
  enqueueActions,
  fromCallback,
  fromPromise,
  setup,
  spawnChild,
  stateIn,
  stopChild,
} from 'xstate';
import { type CallInput, type CallToParentEvent, callMachine } from './call.js';
import { type InFlightCall, InFlightCalls } from './in-flight.js';
import {
  type CallOutcome,
  type ConnectionSignal,
  EMPTY_CATALOG,
  type ForwardedRequest,
  INSUFFICIENT_SCOPE,
  type TransportKind,
  type TransportMode,
  type UpstreamCatalog,
  type UpstreamConnection,
  type UpstreamFailure,
} from './types.js';

export const RECONNECT_BASE_MS = 1_000;
export const RECONNECT_CAP_MS = 30_000;
/** Step-up sign-ins (403 insufficient_scope) allowed per upstream: with the first sign-in, three in all. */
export const MAX_STEP_UPS = 2;

/**
 * Exponential backoff with jitter: 1 s doubling to a 30 s cap, then a random 75–100% of it, so many proxies
 * restarted together don't reconnect in lockstep; never sooner than a server's Retry-After (capped where it is read,
 * in src/upstream/http.ts). `attempt` counts from 1.
 */
export function reconnectDelayMs(attempt: number, random: () => number, retryAfterMs = 0): number {
  const ceiling = Math.min(RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 30), RECONNECT_CAP_MS);
  const backoff = Math.round(ceiling * (0.75 + 0.25 * random()));
  return Math.max(backoff, retryAfterMs);
}

export interface UpstreamInput {
  name: string;
  transport: TransportMode;
  /** The supervisor; gets `upstream.*` events. Optional so the chart can be exercised alone. */
  parentRef?: AnyActorRef;
  /** Jitter source; tests fix it. */
  random?: () => number;
  /** The catalog saved by an earlier session: exposed (and its calls wait) until the live one is listed. */
  catalog?: UpstreamCatalog;
}

export type CallRef = ActorRefFrom<typeof callMachine>;

export interface UpstreamContext {
  name: string;
  mode: TransportMode;
  parentRef?: AnyActorRef;
  random: () => number;
  /** Reconnect attempts since the last time the upstream was ready (visible in status). */
  attempt: number;
  /** The transport being tried, or in use. */
  transport?: TransportKind;
  /** The transport that worked last: reconnects go straight to it instead of repeating the fallback. */
  workingTransport?: TransportKind;
  connection?: UpstreamConnection;
  /** The last lists, kept while reconnecting so tools, prompts and resources stay exposed and their calls wait. */
  catalog: UpstreamCatalog;
  /** URIs the client subscribed to here: a new session subscribes to them again. */
  subscriptions: string[];
  /** The client's last `logging/setLevel`: a new session gets it too. */
  logLevel?: LoggingLevel;
  lastError?: UpstreamFailure;
  /** Where the user signs in while the upstream waits for them. */
  signInUrl?: string;
  /** The device flow's code to enter at `signInUrl`. */
  signInUserCode?: string;
  /** The wider scope a 403 asked for, for the next sign-in. */
  stepUpScope?: string;
  /** Step-up sign-ins so far; bounded by MAX_STEP_UPS. */
  stepUps: number;
  /**
   * A session the server forgot was replaced at once, and no session has been ready since: the next expiry waits
   * for the backoff, so a server that forgets every session is not re-initialized in a hot loop.
   */
  sessionRenewed: boolean;
  /** http-first / sse-first: why the first transport was refused, for the message when the other fails too. */
  firstTransportFailure?: UpstreamFailure;
  /** Calls forwarded on the ready path with no actor of their own (mutated in place: see ./in-flight.ts). */
  inFlight: InFlightCalls;
}

export type UpstreamEvent =
  /** The downstream client has initialized: its capabilities are known, so sessions can be opened. */
  | { type: 'client.initialized' }
  | { type: 'request.forward'; id: string; request: ForwardedRequest; reply: (outcome: CallOutcome) => void }
  | { type: 'logging.setLevel'; level: LoggingLevel }
  | { type: 'connection.lost'; failure: UpstreamFailure }
  | { type: 'connection.catalogChanged' }
  | { type: 'connection.alive' }
  | { type: 'auth.refresh' }
  /**
   * The user must sign in at `url`; `browserOpened` when a browser was started for it (not BROWSER=none);
   * `userCode`, in the device flow (RFC 8628), the code to enter there.
   */
  | { type: 'auth.waiting'; url: string; browserOpened: boolean; userCode?: string }
  | { type: 'auth.signedIn' }
  | { type: 'auth.failed'; failure: UpstreamFailure }
  /** A call forwarded on the ready path failed: a call actor decides what that means. */
  | { type: 'inFlight.failed'; call: InFlightCall }
  | CallToParentEvent;

type ForwardEvent = Extract<UpstreamEvent, { type: 'request.forward' }>;

/** What an upstream tells its supervisor. */
export type UpstreamToSupervisorEvent =
  | { type: 'upstream.catalog'; name: string; catalog: UpstreamCatalog }
  | { type: 'upstream.settled'; name: string }
  | { type: 'upstream.failed'; name: string; failure: UpstreamFailure }
  /** The user has to sign in at `url`, entering `userCode` if given (sent to the client as a log message too). */
  | { type: 'upstream.signIn'; name: string; url: string; userCode?: string };

interface ConnectInput {
  name: string;
}

const notProvided = (actor: string) => () => {
  throw new Error(`upstream machine: actor "${actor}" was not provided`);
};

function asFailure(error: unknown, fallbackMessage: string): UpstreamFailure {
  if (typeof error === 'object' && error !== null && 'kind' in error && 'code' in error && 'message' in error) {
    return error as UpstreamFailure;
  }
  return { kind: 'network', code: 'ERR_UPSTREAM_UNEXPECTED', message: fallbackMessage };
}

/** The error of an `xstate.error.actor.*` event (named guards and actions see the event untyped). */
function errorOf(event: { type: string }): unknown {
  return (event as { error?: unknown }).error;
}

function lostDuringCall(name: string, failure: UpstreamFailure): UpstreamFailure {
  return {
    kind: 'network',
    code: 'ERR_UPSTREAM_CONNECTION_LOST',
    message: `connection to upstream "${name}" was lost during the call (${failure.reason ?? failure.message}); it is reconnecting, try again`,
  };
}

/** "<url>", or "<url> and enter the code <code>" for the device flow: what the user is told to do. */
export function signInInstruction(url: string, userCode: string | undefined): string {
  return userCode === undefined ? url : `${url} and enter the code ${userCode}`;
}

/**
 * The call actors: the upstream's children spawned from the `call` machine (not its invoked actors). Calls
 * forwarded on the ready path have none (see `inFlightCount`).
 */
export function callsOf(self: AnyActorRef): CallRef[] {
  const children = (self.getSnapshot() as { children: Record<string, AnyActorRef> }).children;
  return Object.values(children).filter((child): child is CallRef => child.src === 'call');
}

/** Every call in flight on the upstream: those with an actor and those forwarded on the ready path. */
export function inFlightCount(self: AnyActorRef): number {
  return callsOf(self).length + (self.getSnapshot().context as UpstreamContext).inFlight.size;
}

/** A call actor's input for a call forwarded on the ready path that now needs its statechart. */
function adoptedCall(self: AnyActorRef, name: string, call: InFlightCall, lostFailure?: UpstreamFailure): CallInput {
  const { id, request, reply, connection, pending } = call;
  return { id, upstream: name, request, reply, parentRef: self, connection, settled: pending, lostFailure };
}

/** Where a failed list leads, from the first list and from a re-list alike. */
const LIST_FAILED = [
  { guard: 'sessionExpiredFirstTime', target: '#upstream.connecting', actions: 'recordSessionRenewed' },
  // A server may let initialize through and ask for sign-in (or a wider scope) on a list.
  { guard: 'widerScopeNeeded', target: '#upstream.authorizing', actions: 'recordStepUp' },
  { guard: 'insufficientScope', target: '#upstream.failed', actions: 'recordScopeRefused' },
  { guard: 'signInRequired', target: '#upstream.discovering' },
  { target: '#upstream.reconnecting', actions: 'recordListFailure' },
] as const;

export const upstreamMachine = setup({
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
      lastError: ({ context, event }) => {
        const failure = asFailure(
          errorOf(event),
          `upstream "${context.name}": connecting over ${context.transport === 'sse' ? 'SSE' : 'Streamable HTTP'} failed`,
        );
        const first = context.firstTransportFailure;
        return first !== undefined && failure.kind === 'fallback' ? bothRefused(context.name, first, failure) : failure;
      },
      firstTransportFailure: undefined,
    }),
    /** Falling back: the first transport's refusal is kept for the message if the other is refused too. */
    recordFallback: assign({
      firstTransportFailure: ({ context, event }) => asFailure(errorOf(event), `upstream "${context.name}": refused`),
    }),
    recordSessionRenewed: assign({ sessionRenewed: true }),
    /** Step-up: the scope a 403 asked for (from a call's event or a list's error), for the next sign-in. */
    recordStepUp: assign({
      stepUpScope: ({ event }) =>
        'scope' in event ? (event.scope as string | undefined) : asFailure(errorOf(event), '').reason,
      stepUps: ({ context }) => context.stepUps + 1,
    }),
    recordScopeRefused: assign({
      lastError: ({ context, event }) => ({
        kind: 'permanent' as const,
        code: 'ERR_UPSTREAM_SCOPE_REFUSED',
        message: `upstream "${context.name}" still asks for more permissions (scope ${asFailure(errorOf(event), '').reason ?? 'unknown'}) after ${MAX_STEP_UPS} step-up sign-ins; giving up`,
      }),
    }),
    recordAuthFailure: assign({
      lastError: ({ context, event }) => asFailure(errorOf(event), `upstream "${context.name}": sign-in failed`),
    }),
    replySignInNeeded: ({ context, event }) => {
      if (event.type !== 'request.forward') return;
      const where = context.signInUrl
        ? `: open ${signInInstruction(context.signInUrl, context.signInUserCode)}`
        : ' (the sign-in link is on stderr and in the log)';
      event.reply({
        type: 'failure',
        failure: {
          kind: 'auth',
          code: 'ERR_UPSTREAM_SIGN_IN_NEEDED',
          message: `upstream "${context.name}" needs you to sign in${where}, then try again`,
        },
      });
    },
    recordListFailure: assign({
      lastError: ({ context, event }) => asFailure(errorOf(event), `upstream "${context.name}": listing failed`),
    }),
    /** Saves the fresh lists for the next session's first answers; provided by src/ (a no-op here). */
    persistCatalog: ({ context }) => void context,
    /** Fresh lists: kept (they stay exposed while reconnecting) and passed to the supervisor. */
    adoptCatalog: enqueueActions(({ context, event, enqueue }) => {
      const catalog = (event as unknown as { output: UpstreamCatalog }).output;
      enqueue.assign({ catalog });
      if (context.parentRef) {
        enqueue.sendTo(context.parentRef, { type: 'upstream.catalog', name: context.name, catalog });
      }
    }),
    /** A new session knows nothing of the client's subscriptions and log level: tell it. */
    restoreSession: ({ context }) =>
      context.connection?.restore({ subscriptions: context.subscriptions, logLevel: context.logLevel }),
    adoptConnection: assign({
      connection: ({ event }) => (event as unknown as { output: UpstreamConnection }).output,
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
    /** Discovery found a refresh token: try it before the browser. */
    refreshTokenStored: ({ event }) => (event as unknown as { output: unknown }).output === 'refresh',
    /** The user did not finish signing in (timeout, closed tab): wait for a call to start again. */
    signInNotCompleted: ({ event }) => event.type === 'auth.failed' && event.failure.kind === 'auth',
    signInRefused: ({ event }) => event.type === 'auth.failed' && event.failure.kind === 'permanent',
    stepUpAllowed: ({ context }) => context.stepUps < MAX_STEP_UPS,
    signInRequired: ({ event }) => asFailure(errorOf(event), '').kind === 'auth',
    insufficientScope: ({ event }) => asFailure(errorOf(event), '').code === INSUFFICIENT_SCOPE,
    widerScopeNeeded: ({ context, event }) =>
      asFailure(errorOf(event), '').code === INSUFFICIENT_SCOPE && context.stepUps < MAX_STEP_UPS,
    /** The server forgot our session (it restarted, say): open a new one at once, once; then back off. */
    sessionExpiredFirstTime: ({ context, event }) =>
      asFailure(errorOf(event), '').kind === 'session-expired' && !context.sessionRenewed,
    /** An expiry report about the current session, which is renewed at once unless it was just renewed. */
    canRenewSession: ({ context, event }) => !context.sessionRenewed && reportsOn(context, event),
    /** http-first may try SSE (and sse-first HTTP) once, until one of them has worked. */
    mayFallBack: ({ context, event }) =>
      asFailure(errorOf(event), '').kind === 'fallback' &&
      context.workingTransport === undefined &&
      ((context.mode === 'http-first' && context.transport === 'http') ||
        (context.mode === 'sse-first' && context.transport === 'sse')),
    retryCannotFix: ({ event }) => ['fallback', 'permanent'].includes(asFailure(errorOf(event), '').kind),
    startsWithSse: ({ context }) =>
      (context.workingTransport ?? (context.mode === 'sse' || context.mode === 'sse-first' ? 'sse' : 'http')) === 'sse',
    isCurrentConnection: ({ context, event }) => reportsOn(context, event),
  },
  delays: {
    reconnectDelay: ({ context }) => reconnectDelayMs(context.attempt, context.random, context.lastError?.retryAfterMs),
  },
}).createMachine({
  id: 'upstream',
  context: ({ input }) => ({
    name: input.name,
    mode: input.transport,
    parentRef: input.parentRef,
    random: input.random ?? Math.random,
    attempt: 0,
    catalog: input.catalog ?? EMPTY_CATALOG,
    subscriptions: [],
    stepUps: 0,
    sessionRenewed: false,
    inFlight: new InFlightCalls(),
  }),
  initial: 'waitingForClient',
  on: {
    'request.forward': [
      // Ready: sent at once, no actor (the cost per call of spawning and stopping one grew with the calls in flight).
      { guard: stateIn({ connected: 'ready' }), actions: ['trackSubscriptions', 'forwardNow'] },
      {
        actions: [
          'trackSubscriptions',
          // A call that must wait (reconnecting, signing in, a saved catalog) is a child actor under its request id:
          // the snapshot's `children` are the waiting calls (no copy of them in context, which would cost a copy per
          // call).
          spawnChild('call', {
            id: ({ event }) => (event as ForwardEvent).id,
            input: ({ context, event: forwarded, self }) => {
              const event = forwarded as ForwardEvent;
              return {
                id: event.id,
                upstream: context.name,
                request: event.request,
                reply: event.reply,
                parentRef: self,
              };
            },
          }),
        ],
      },
    ],
    'inFlight.failed': {
      actions: spawnChild('call', {
        id: ({ event }) => (event as Extract<UpstreamEvent, { type: 'inFlight.failed' }>).call.id,
        input: ({ context, event, self }) => {
          const { call } = event as Extract<UpstreamEvent, { type: 'inFlight.failed' }>;
          return adoptedCall(self, context.name, call);
        },
      }),
    },
    // Kept for the next session; the current one, if ready, is told at once.
    'logging.setLevel': {
      actions: [
        assign({ logLevel: ({ event }) => event.level }),
        ({ context, event, self }) => {
          if (self.getSnapshot().matches({ connected: 'ready' })) context.connection?.setLogLevel(event.level);
        },
      ],
    },
    'call.settled': { actions: stopChild(({ event }) => event.id) },
  },
  states: {
    // Sessions declare the downstream client's capabilities, which are known once it has initialized. Calls to
    // tools of a saved catalog wait here like they do while reconnecting.
    waitingForClient: {
      on: { 'client.initialized': { target: 'connecting' } },
    },
    connecting: {
      initial: 'choosing',
      states: {
        choosing: {
          always: [{ guard: 'startsWithSse', target: 'sse' }, { target: 'http' }],
        },
        http: {
          entry: assign({ transport: 'http' }),
          invoke: {
            src: 'connectStreamableHttp',
            input: ({ context }) => ({ name: context.name }),
            onDone: { target: '#upstream.connected', actions: 'adoptConnection' },
            onError: [
              { guard: 'signInRequired', target: '#upstream.discovering' },
              { guard: 'mayFallBack', target: 'sse', actions: 'recordFallback' },
              { guard: 'retryCannotFix', target: '#upstream.failed', actions: 'recordConnectFailure' },
              { target: '#upstream.reconnecting', actions: 'recordConnectFailure' },
            ],
          },
        },
        sse: {
          entry: assign({ transport: 'sse' }),
          invoke: {
            src: 'connectSse',
            input: ({ context }) => ({ name: context.name }),
            onDone: { target: '#upstream.connected', actions: 'adoptConnection' },
            onError: [
              { guard: 'signInRequired', target: '#upstream.discovering' },
              { guard: 'mayFallBack', target: 'http', actions: 'recordFallback' },
              { guard: 'retryCannotFix', target: '#upstream.failed', actions: 'recordConnectFailure' },
              { target: '#upstream.reconnecting', actions: 'recordConnectFailure' },
            ],
          },
        },
      },
    },
    // OAuth: protected-resource and authorization-server metadata; then a refresh if there is a refresh token.
    discovering: {
      invoke: {
        src: 'discoverAuthorization',
        input: ({ context }) => ({ name: context.name }),
        onDone: [{ guard: 'refreshTokenStored', target: 'refreshing' }, { target: 'authorizing' }],
        onError: [
          { guard: 'retryCannotFix', target: 'failed', actions: 'recordAuthFailure' },
          { target: 'reconnecting', actions: 'recordAuthFailure' },
        ],
      },
    },
    refreshing: {
      invoke: {
        src: 'refreshTokens',
        input: ({ context }) => ({ name: context.name }),
        onDone: { target: 'connecting' },
        onError: [
          // invalid_grant or a revoked client: sign in again.
          { guard: 'signInRequired', target: 'authorizing' },
          { guard: 'retryCannotFix', target: 'failed', actions: 'recordAuthFailure' },
          { target: 'reconnecting', actions: 'recordAuthFailure' },
        ],
      },
    },
    // The browser flow. Once the user has to act, the upstream counts as settled and its calls say where to sign in.
    authorizing: {
      invoke: {
        src: 'authorize',
        input: ({ context }) => ({ name: context.name, scope: context.stepUpScope }),
      },
      initial: 'starting',
      states: {
        starting: {},
        waitingForUser: {
          on: { 'request.forward': { actions: 'replySignInNeeded' } },
        },
      },
      on: {
        // From `starting`, or again while waiting (a new link: the latest is the one that works).
        'auth.waiting': {
          target: '.waitingForUser',
          actions: [
            assign({ signInUrl: ({ event }) => event.url, signInUserCode: ({ event }) => event.userCode }),
            {
              type: 'tellSupervisor',
              params: ({ context, event }) => ({
                type: 'upstream.signIn',
                name: context.name,
                url: event.url,
                ...(event.userCode !== undefined && { userCode: event.userCode }),
              }),
            },
            { type: 'settleUnlessBrowserOpened', params: ({ event }) => event.browserOpened },
          ],
        },
        'auth.signedIn': { target: 'connecting', actions: assign({ signInUrl: undefined, signInUserCode: undefined }) },
        'auth.failed': [
          { guard: 'signInNotCompleted', target: 'needsSignIn' },
          {
            guard: 'signInRefused',
            target: 'failed',
            actions: { type: 'recordFailure', params: ({ event }) => event.failure },
          },
          { target: 'reconnecting', actions: { type: 'recordFailure', params: ({ event }) => event.failure } },
        ],
      },
    },
    // Sign-in was not completed in time. A call starts a new one (its URL goes to stderr and to the client's log).
    needsSignIn: {
      entry: { type: 'tellSupervisor', params: ({ context }) => ({ type: 'upstream.settled', name: context.name }) },
      on: { 'request.forward': { target: 'authorizing', actions: 'replySignInNeeded' } },
    },
    connected: {
      invoke: { src: 'watchConnection', input: ({ context }) => ({ connection: context.connection! }) },
      exit: 'closeConnection',
      on: {
        'connection.lost': {
          target: 'reconnecting',
          actions: [
            { type: 'recordFailure', params: ({ event }) => event.failure },
            {
              type: 'tellCalls',
              params: ({ context, event }) => ({
                type: 'upstream.lost',
                failure: lostDuringCall(context.name, event.failure),
              }),
            },
          ],
        },
        // A call failed on the network. One stale keep-alive socket must not fail every other call in flight:
        // the connection checks (one ping) and reports `lost` only if the upstream is really gone.
        'upstream.suspect': {
          guard: 'isCurrentConnection',
          actions: ({ context }) => context.connection?.checkAlive(),
        },
        // Step-up: sign in again asking for the wider scope, a few times at most (a server that always asks for
        // more must not loop through the browser).
        'upstream.stepUp': {
          guard: 'stepUpAllowed',
          target: 'authorizing',
          actions: 'recordStepUp',
        },
        // The server forgot our session (e.g. it restarted): open a new one at once, no backoff; but if the session
        // that replaced it is forgotten too before it was ever ready, back off like any other reconnect.
        'upstream.session.expired': [
          { guard: 'canRenewSession', target: 'connecting', actions: 'recordSessionRenewed' },
          {
            guard: 'isCurrentConnection',
            target: 'reconnecting',
            actions: { type: 'recordFailure', params: ({ context }) => sessionsForgotten(context.name) },
          },
          {
            // The report is about a session already replaced: if the new one is ready, the waiting call can go on.
            guard: stateIn({ connected: 'ready' }),
            actions: enqueueActions(({ context, event, enqueue, self }) => {
              const call = callsOf(self).find((ref) => ref.id === event.id);
              if (call) enqueue.sendTo(call, { type: 'upstream.ready', connection: context.connection! });
            }),
          },
        ],
        'auth.refresh': { target: 'refreshing' },
        // A liveness check passed: calls that waited on a suspicion (a request refused at connect) may go on.
        'connection.alive': {
          guard: stateIn({ connected: 'ready' }),
          actions: {
            type: 'tellCalls',
            params: ({ context }) => ({
              type: 'upstream.ready',
              connection: context.connection!,
              catalog: context.catalog,
            }),
          },
        },
      },
      initial: 'listing',
      states: {
        listing: {
          on: { 'connection.catalogChanged': { target: 'listing', reenter: true } },
          invoke: {
            src: 'listCatalog',
            input: ({ context }) => ({ connection: context.connection! }),
            onDone: { target: 'ready', actions: ['adoptCatalog', 'persistCatalog'] },
            onError: LIST_FAILED,
          },
        },
        ready: {
          exit: 'adoptInFlight',
          entry: [
            assign({ attempt: 0, lastError: undefined, sessionRenewed: false }),
            'restoreSession',
            {
              type: 'tellCalls',
              params: ({ context }) => ({
                type: 'upstream.ready',
                connection: context.connection!,
                catalog: context.catalog,
              }),
            },
            { type: 'tellSupervisor', params: ({ context }) => ({ type: 'upstream.settled', name: context.name }) },
          ],
          initial: 'idle',
          states: {
            idle: {
              on: { 'connection.catalogChanged': { target: 'relisting' } },
            },
            relisting: {
              // A change announced while listing: list again, the answer on the way may predate it.
              on: { 'connection.catalogChanged': { target: 'relisting', reenter: true } },
              invoke: {
                src: 'listCatalog',
                input: ({ context }) => ({ connection: context.connection! }),
                onDone: { target: 'idle', actions: ['adoptCatalog', 'persistCatalog'] },
                onError: LIST_FAILED,
              },
            },
          },
        },
      },
    },
    reconnecting: {
      entry: [
        assign({ attempt: ({ context }) => context.attempt + 1 }),
        // The first failed attempt settles the upstream for startup: one server that is down must not hold up
        // the lists of the others until the startup timeout.
        { type: 'tellSupervisor', params: ({ context }) => ({ type: 'upstream.settled', name: context.name }) },
      ],
      after: { reconnectDelay: { target: 'connecting' } },
    },
    failed: {
      entry: [
        assign({ catalog: EMPTY_CATALOG }),
        {
          type: 'tellCalls',
          params: ({ context }) => ({ type: 'upstream.failed', failure: context.lastError ?? failedFailure(context) }),
        },
        {
          type: 'tellSupervisor',
          params: ({ context }) => ({
            type: 'upstream.failed',
            name: context.name,
            failure: context.lastError ?? failedFailure(context),
          }),
        },
        { type: 'tellSupervisor', params: ({ context }) => ({ type: 'upstream.settled', name: context.name }) },
      ],
      on: {
        // Calls that reach a failed upstream are answered at once.
        'request.forward': {
          actions: ({ context, event }) =>
            event.reply({ type: 'failure', failure: context.lastError ?? failedFailure(context) }),
        },
      },
    },
  },
});

/** Both transports refused (http-first or sse-first): one message naming what each answered. */
function bothRefused(name: string, first: UpstreamFailure, second: UpstreamFailure): UpstreamFailure {
  const prefix = `upstream "${name}": `;
  const reason = (message: string) => (message.startsWith(prefix) ? message.slice(prefix.length) : message);
  return {
    ...second,
    code: 'ERR_UPSTREAM_NO_TRANSPORT',
    message: `${prefix}neither transport answered as MCP: ${reason(first.message)}; then ${reason(second.message)}`,
  };
}

/** Whether a call's report is about the connection in use (not one already replaced). */
function reportsOn(context: UpstreamContext, event: { type: string }): boolean {
  const { connection } = event as { connection?: UpstreamConnection };
  return connection !== undefined && connection === context.connection;
}

function sessionsForgotten(name: string): UpstreamFailure {
  return {
    kind: 'session-expired',
    code: 'ERR_UPSTREAM_SESSION_EXPIRED',
    message: `upstream "${name}" forgets every new session; retrying with backoff`,
  };
}

function failedFailure(context: UpstreamContext): UpstreamFailure {
  return { kind: 'permanent', code: 'ERR_UPSTREAM_FAILED', message: `upstream "${context.name}" failed` };
}
