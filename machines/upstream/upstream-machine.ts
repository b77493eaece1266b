/**
 * One actor per configured upstream. It owns the connection, the last lists (tools, resources, prompts) and the
 * in-flight requests:
 *
 *   connecting (http | sse, with fallback) → connected.listing → connected.ready ⇄ reconnecting
 *   discovering → authorizing / refreshing carry OAuth, and `failed` is for what retrying cannot fix.
 *
 * I/O comes in through provided actors (connectStreamableHttp, connectSse, the OAuth ones; see ./setup.ts) and
 * through the `UpstreamConnection` interface, so the chart can be driven with a SimulatedClock and fakes.
 */
import { assign, enqueueActions, stateIn, stopChild } from 'xstate';
import { EMPTY_CATALOG } from '../../src/catalog/index.js';
import type { UpstreamConnection } from '../types.js';
import { connectedState } from './connected-state.js';
import { failedFailure } from './failures.js';
import { InFlightCalls } from './in-flight.js';
import { retiredState } from './retiring.js';
import { actorError, adoptedCall, upstreamSetup } from './setup.js';

/** A session opened, on either transport. */
const CONNECTED = {
  target: '#upstream.connected',
  actions: { type: 'adoptConnection', params: ({ event }: { event: { output: UpstreamConnection } }) => event.output },
} as const;

/** Opening a session over `transport` with the actor `src`; a refusal may fall back to `other`. */
function connectingOver(transport: 'http' | 'sse', src: 'connectStreamableHttp' | 'connectSse', other: 'http' | 'sse') {
  return upstreamSetup.createStateConfig({
    entry: assign({ transport }),
    invoke: { src, input: ({ context }) => ({ name: context.name }), onDone: CONNECTED, onError: connectFailed(other) },
  });
}

/** Where a failed connect leads; `other` is the transport a refusal may fall back to. */
function connectFailed(other: 'http' | 'sse') {
  return [
    { guard: { type: 'signInRequired', params: actorError }, target: '#upstream.discovering' },
    {
      guard: { type: 'mayFallBack', params: actorError },
      target: other,
      actions: { type: 'recordFallback', params: actorError },
    },
    {
      guard: { type: 'retryCannotFix', params: actorError },
      target: '#upstream.failed',
      actions: { type: 'recordConnectFailure', params: actorError },
    },
    { target: '#upstream.reconnecting', actions: { type: 'recordConnectFailure', params: actorError } },
  ] as const;
}

/** Where a failed discovery or refresh leads. */
const AUTH_FAILED = [
  {
    guard: { type: 'retryCannotFix', params: actorError },
    target: '#upstream.failed',
    actions: { type: 'recordAuthFailure', params: actorError },
  },
  { target: '#upstream.reconnecting', actions: { type: 'recordAuthFailure', params: actorError } },
] as const;

export const upstreamMachine = upstreamSetup.createMachine({
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
    clientInitialized: input.clientInitialized ?? false,
    ...(input.subscriptions && { subscriptions: input.subscriptions }),
    ...(input.logLevel && { logLevel: input.logLevel }),
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
          enqueueActions(({ context, event, enqueue, self }) => {
            const { id, request, reply } = event;
            enqueue.spawnChild('call', { id, input: { id, upstream: context.name, request, reply, parentRef: self } });
          }),
        ],
      },
    ],
    'inFlight.failed': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        enqueue.spawnChild('call', { id: event.call.id, input: adoptedCall(self, context.name, event.call) });
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
    // A reload removed or changed the upstream. With no session open, no call is running: each is answered now.
    // (`connected` lets the calls sent finish first: ./retiring.ts.)
    'upstream.retire': { target: '.retired', actions: { type: 'recordRetirement', params: ({ event }) => event } },
  },
  states: {
    // Sessions declare the downstream client's capabilities, which are known once it has initialized. Calls to
    // tools of a saved catalog wait here like they do while reconnecting.
    waitingForClient: {
      always: { guard: 'clientInitialized', target: 'connecting' },
      on: { 'client.initialized': { target: 'connecting' } },
    },
    connecting: {
      initial: 'choosing',
      states: {
        choosing: {
          always: [{ guard: 'startsWithSse', target: 'sse' }, { target: 'http' }],
        },
        http: connectingOver('http', 'connectStreamableHttp', 'sse'),
        sse: connectingOver('sse', 'connectSse', 'http'),
      },
    },
    // OAuth: protected-resource and authorization-server metadata; then a refresh if there is a refresh token.
    discovering: {
      invoke: {
        src: 'discoverAuthorization',
        input: ({ context }) => ({ name: context.name }),
        onDone: [
          { guard: { type: 'refreshTokenStored', params: ({ event }) => event.output }, target: 'refreshing' },
          { target: 'authorizing' },
        ],
        onError: AUTH_FAILED,
      },
    },
    refreshing: {
      invoke: {
        src: 'refreshTokens',
        input: ({ context }) => ({ name: context.name }),
        onDone: { target: 'connecting' },
        onError: [
          // invalid_grant or a revoked client: sign in again.
          { guard: { type: 'signInRequired', params: actorError }, target: 'authorizing' },
          ...AUTH_FAILED,
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
    connected: connectedState,
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
          params: ({ context }) => ({
            type: 'upstream.failed',
            failure: context.lastError ?? failedFailure(context.name),
          }),
        },
        {
          type: 'tellSupervisor',
          params: ({ context }) => ({
            type: 'upstream.failed',
            name: context.name,
            failure: context.lastError ?? failedFailure(context.name),
          }),
        },
        { type: 'tellSupervisor', params: ({ context }) => ({ type: 'upstream.settled', name: context.name }) },
      ],
      on: {
        // Calls that reach a failed upstream are answered at once.
        'request.forward': {
          actions: ({ context, event }) =>
            event.reply({ type: 'failure', failure: context.lastError ?? failedFailure(context.name) }),
        },
      },
    },
    retired: retiredState,
  },
});
