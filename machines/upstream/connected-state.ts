/**
 * `connected`: a session is open. It lists the catalog, then stays `ready`, answering calls on the ready path,
 * and hears what its calls report (a suspect connection, a forgotten session, a wider scope).
 */
import { assign, enqueueActions, stateIn } from 'xstate';
import type { UpstreamCatalog } from '../../src/catalog/index.js';
import type { UpstreamConnection } from '../types.js';
import { failureOf, lostDuringCall, sessionsForgotten } from './failures.js';
import { drainingState } from './retiring.js';
import { callsOf } from './selectors.js';
import { actorError, upstreamSetup } from './setup.js';

/** Fresh lists: kept, passed to the supervisor and saved. */
const LISTED = [
  { type: 'adoptCatalog', params: ({ event }: { event: { output: UpstreamCatalog } }) => event.output },
  { type: 'persistCatalog', params: ({ event }: { event: { output: UpstreamCatalog } }) => event.output },
] as const;

/** Lists everything on the open session (the first list and every re-list). */
const LIST_CATALOG = {
  src: 'listCatalog',
  input: ({ context }: { context: { connection?: UpstreamConnection } }) => ({ connection: context.connection! }),
} as const;

/** Where a failed list leads, from the first list and from a re-list alike. */
const LIST_FAILED = [
  {
    guard: { type: 'sessionExpiredFirstTime', params: actorError },
    target: '#upstream.connecting',
    actions: 'recordSessionRenewed',
  },
  // A server may let initialize through and ask for sign-in (or a wider scope) on a list.
  {
    guard: { type: 'widerScopeNeeded', params: actorError },
    target: '#upstream.authorizing',
    actions: {
      type: 'recordStepUp',
      params: ({ event }: { event: { error: unknown } }) => ({ scope: failureOf(event.error)?.reason }),
    },
  },
  {
    guard: { type: 'insufficientScope', params: actorError },
    target: '#upstream.failed',
    actions: { type: 'recordScopeRefused', params: actorError },
  },
  { guard: { type: 'signInRequired', params: actorError }, target: '#upstream.discovering' },
  { target: '#upstream.reconnecting', actions: { type: 'recordListFailure', params: actorError } },
] as const;

export const connectedState = upstreamSetup.createStateConfig({
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
    'call.connectionSuspect': {
      guard: { type: 'isCurrentConnection', params: ({ event }) => event },
      actions: ({ context }) => context.connection?.checkAlive(),
    },
    // Step-up: sign in again asking for the wider scope, a few times at most (a server that always asks for
    // more must not loop through the browser).
    'call.stepUpNeeded': {
      guard: 'stepUpAllowed',
      target: 'authorizing',
      actions: { type: 'recordStepUp', params: ({ event }) => ({ scope: event.scope }) },
    },
    // The server forgot our session (e.g. it restarted): open a new one at once, no backoff; but if the session
    // that replaced it is forgotten too before it was ever ready, back off like any other reconnect.
    'call.sessionExpired': [
      {
        guard: { type: 'canRenewSession', params: ({ event }) => event },
        target: 'connecting',
        actions: 'recordSessionRenewed',
      },
      {
        guard: { type: 'isCurrentConnection', params: ({ event }) => event },
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
    // A reload removed or changed the upstream: the calls sent may finish on this session first.
    'upstream.retire': { target: '.draining', actions: { type: 'recordRetirement', params: ({ event }) => event } },
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
      invoke: { ...LIST_CATALOG, onDone: { target: 'ready', actions: LISTED }, onError: LIST_FAILED },
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
          invoke: { ...LIST_CATALOG, onDone: { target: 'idle', actions: LISTED }, onError: LIST_FAILED },
        },
      },
    },
    draining: drainingState,
  },
});
