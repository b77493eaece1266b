/**
 * One in-flight request (`tools/call`, `prompts/get`, `resources/read`, …), as an actor spawned by the upstream
 * actor that owns its target. It waits while its
 * upstream is (re)connecting, forwards the call once a connection is ready, and delivers exactly one outcome to
 * the caller's `reply`, whatever happens: the upstream answers, the connection drops, the wait times out, the
 * upstream fails for good, or the client cancels.
 */
import { type AnyActorRef, and, assign, fromCallback, fromPromise, sendTo, setup, stateIn } from 'xstate';
import {
  type CallOutcome,
  type ForwardedRequest,
  INSUFFICIENT_SCOPE,
  NOT_SENT,
  type UpstreamCatalog,
  type UpstreamConnection,
  type UpstreamFailure,
} from './types.js';

export interface CallInput {
  id: string;
  upstream: string;
  request: ForwardedRequest;
  reply: (outcome: CallOutcome) => void;
  /** The upstream actor; told when the call sees the connection drop or the session expire, and when it is done. */
  parentRef: AnyActorRef;
  /** Set when the upstream is ready at spawn time. */
  connection?: UpstreamConnection;
  /**
   * A call forwarded without an actor (./in-flight.ts) that now needs one: its request, already on its way on
   * `connection`, or the outcome it already has. Run instead of sending the request again.
   */
  settled?: Promise<CallOutcome>;
  /** Such a call taken over because its connection was lost: what it is answered with unless its outcome says more. */
  lostFailure?: UpstreamFailure;
}

export interface CallContext extends CallInput {
  /**
   * A call the upstream provably never saw (its session was gone, or the connection was refused) is sent once
   * more on the next session; once only, so a broken upstream cannot keep a call going round.
   */
  retried: boolean;
  /** The connection dropped while the call ran: what it is answered with unless its own outcome says more. */
  lostFailure?: UpstreamFailure;
}

/**
 * After its connection dropped, a running call waits this long at most for its own outcome (closing the connection
 * ends every request on it at once): a request that was refused at connect was never sent, and can wait for the
 * reconnect instead of failing as lost.
 */
export const LOST_GRACE_MS = 1_000;

export type CallEvent =
  /** The upstream is ready; `catalog` is what it lists now (a waiting call's tool may be gone from it). */
  | { type: 'upstream.ready'; connection: UpstreamConnection; catalog?: UpstreamCatalog }
  | { type: 'upstream.lost'; failure: UpstreamFailure }
  | { type: 'upstream.failed'; failure: UpstreamFailure }
  | { type: 'call.cancelled' };

/** Parent-bound events a call sends. */
export type CallToParentEvent =
  | { type: 'call.settled'; id: string }
  /** The upstream asked for a wider scope than the token has. */
  | { type: 'upstream.stepUp'; scope?: string }
  /** The call failed on the network: one bad socket or a dead server? The upstream checks. */
  | { type: 'upstream.suspect'; connection: UpstreamConnection }
  | { type: 'upstream.session.expired'; id: string; connection: UpstreamConnection };

function failure(code: string, message: string): CallOutcome {
  return { type: 'failure', failure: { kind: 'network', code, message } };
}

/** The outcome a `done` event of forwardCall carries (named guards see the event untyped). */
function outputOf(event: { type: string }): CallOutcome {
  return (event as unknown as { output: CallOutcome }).output;
}

function failureKind(outcome: CallOutcome): string | undefined {
  return outcome.type === 'failure' ? outcome.failure.kind : undefined;
}

/** The tool or prompt a waiting call is for, when the upstream's fresh lists no longer have it. */
function goneTarget(request: ForwardedRequest, catalog: UpstreamCatalog | undefined): string | undefined {
  if (catalog === undefined) return undefined;
  const name = request.params.name as string | undefined;
  if (request.method === 'tools/call' && !catalog.tools.some((tool) => tool.name === name)) return `tool "${name}"`;
  if (request.method === 'prompts/get' && !catalog.prompts.some((prompt) => prompt.name === name)) {
    return `prompt "${name}"`;
  }
  return undefined;
}

export const callMachine = setup({
  types: {
    context: {} as CallContext,
    input: {} as CallInput,
    events: {} as CallEvent,
  },
  actors: {
    /** Connections never reject from request(); the machine still maps a rejection (see onError). */
    forwardCall: fromPromise<
      CallOutcome,
      { connection: UpstreamConnection; request: ForwardedRequest; settled?: Promise<CallOutcome> }
    >(
      // The actor's signal is aborted when it stops, which is when the call ends whatever the reason. An adopted
      // request has no such signal: it ends with its connection, which every way to stopping a call closes.
      ({ input, signal }) => input.settled ?? input.connection.request(input.request, signal),
    ),
    /** While waiting there is no upstream request to abort, so the client's cancellation is watched here. */
    watchCancellation: fromCallback<{ type: 'call.cancelled' }, { signal?: AbortSignal }>(({ input, sendBack }) => {
      const { signal } = input;
      if (!signal) return;
      const onAbort = () => sendBack({ type: 'call.cancelled' });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    }),
  },
  actions: {
    settle: ({ context }, outcome: CallOutcome) => context.reply(outcome),
    /** Back to waiting for a new session; the request is sent again there, once. */
    prepareRetry: assign({ retried: true, connection: undefined, settled: undefined, lostFailure: undefined }),
    notifySettled: sendTo(
      ({ context }) => context.parentRef,
      ({ context }) => ({
        type: 'call.settled' as const,
        id: context.id,
      }),
    ),
  },
  guards: {
    hasConnection: ({ context }) => context.connection !== undefined,
    /** Taken over from the ready path after its connection was lost. */
    lostAlready: ({ context }) => context.lostFailure !== undefined,
    /** The upstream never saw the call (its session was gone): worth one retry on a new session. */
    sessionExpiredFirstTime: ({ context, event }) =>
      failureKind(outputOf(event)) === 'session-expired' && !context.retried,
    /** Refused at connect: the upstream never saw the call, which can wait for the reconnect and go then. */
    neverSentFirstTime: ({ context, event }) => {
      const output = outputOf(event);
      return output.type === 'failure' && output.failure.code === NOT_SENT && !context.retried;
    },
    failed: ({ event }) => outputOf(event).type === 'failure',
    targetGone: ({ context, event }) =>
      event.type === 'upstream.ready' && goneTarget(context.request, event.catalog) !== undefined,
    widerScopeNeeded: ({ event }) => {
      const output = outputOf(event);
      return output.type === 'failure' && output.failure.code === INSUFFICIENT_SCOPE;
    },
    /** Network (one bad socket, or a dead server?) or auth (a refresh that failed): the upstream should check. */
    connectionSuspect: ({ event }) => ['network', 'auth'].includes(failureKind(outputOf(event)) ?? ''),
  },
  delays: {
    callTimeout: ({ context }) => context.request.timeoutMs,
    lostGrace: LOST_GRACE_MS,
  },
}).createMachine({
  id: 'call',
  context: ({ input }) => ({ ...input, retried: false }),
  initial: 'routing',
  states: {
    routing: {
      always: [{ guard: 'hasConnection', target: 'running' }, { target: 'waiting' }],
    },
    waiting: {
      invoke: { src: 'watchCancellation', input: ({ context }) => ({ signal: context.request.signal }) },
      after: {
        callTimeout: {
          target: 'done',
          actions: {
            type: 'settle',
            params: ({ context }) =>
              failure(
                'ERR_UPSTREAM_NOT_READY',
                `upstream "${context.upstream}" is not connected: gave up waiting after ${context.request.timeoutMs} ms (it keeps reconnecting; try again later)`,
              ),
          },
        },
      },
      on: {
        'upstream.ready': [
          {
            // Listed from the saved catalog, or before a re-list: the live catalog no longer has it.
            guard: 'targetGone',
            target: 'done',
            actions: {
              type: 'settle',
              params: ({ context, event }) =>
                ({
                  type: 'failure',
                  failure: {
                    kind: 'upstream',
                    code: 'ERR_TARGET_GONE',
                    message: `upstream "${context.upstream}" no longer offers ${goneTarget(context.request, event.catalog)}; list the tools again`,
                  },
                }) as const,
            },
          },
          { target: 'running', actions: assign({ connection: ({ event }) => event.connection }) },
        ],
        'upstream.failed': {
          target: 'done',
          actions: { type: 'settle', params: ({ event }) => ({ type: 'failure' as const, failure: event.failure }) },
        },
        'call.cancelled': {
          target: 'done',
          actions: {
            type: 'settle',
            params: ({ context }) =>
              failure(
                'ERR_CALL_CANCELLED',
                `${context.request.label} on upstream "${context.upstream}" was cancelled by the client`,
              ),
          },
        },
      },
    },
    running: {
      invoke: {
        src: 'forwardCall',
        input: ({ context }) => ({
          connection: context.connection!,
          request: context.request,
          settled: context.settled,
        }),
        onDone: [
          {
            // The upstream never saw the call: retry it once on a new session.
            guard: 'sessionExpiredFirstTime',
            target: 'waiting',
            actions: [
              sendTo(
                ({ context }) => context.parentRef,
                ({ context }) => ({
                  type: 'upstream.session.expired' as const,
                  id: context.id,
                  connection: context.connection!,
                }),
              ),
              'prepareRetry',
            ],
          },
          {
            // Refused at connect: the upstream is probably down. Its actor checks, and the call waits for the
            // reconnect (within its timeout) instead of failing a request that was never sent.
            guard: 'neverSentFirstTime',
            target: 'waiting',
            actions: [
              sendTo(
                ({ context }) => context.parentRef,
                ({ context }) => ({ type: 'upstream.suspect' as const, connection: context.connection! }),
              ),
              'prepareRetry',
            ],
          },
          {
            // The connection dropped meanwhile: that is what the call failed of.
            guard: and(['failed', stateIn({ running: 'lost' })]),
            target: 'done',
            actions: {
              type: 'settle',
              params: ({ context }) => ({ type: 'failure' as const, failure: context.lostFailure! }),
            },
          },
          {
            // The upstream wants a wider scope: its actor signs in again asking for it (step-up).
            guard: 'widerScopeNeeded',
            target: 'done',
            actions: [
              sendTo(
                ({ context }) => context.parentRef,
                ({ event }) => ({
                  type: 'upstream.stepUp' as const,
                  scope: (event.output as Extract<CallOutcome, { type: 'failure' }>).failure.reason,
                }),
              ),
              { type: 'settle', params: ({ event }) => event.output },
            ],
          },
          {
            // Network (one bad socket, or a dead server?) or auth (a refresh that failed): the upstream checks.
            guard: 'connectionSuspect',
            target: 'done',
            actions: [
              sendTo(
                ({ context }) => context.parentRef,
                ({ context }) => ({ type: 'upstream.suspect' as const, connection: context.connection! }),
              ),
              { type: 'settle', params: ({ event }) => event.output },
            ],
          },
          { target: 'done', actions: { type: 'settle', params: ({ event }) => event.output } },
        ],
        onError: {
          target: 'done',
          actions: {
            type: 'settle',
            params: ({ context }) =>
              failure(
                'ERR_UPSTREAM_CALL',
                `${context.request.label} on upstream "${context.upstream}" failed unexpectedly`,
              ),
          },
        },
      },
      initial: 'active',
      states: {
        active: {
          always: { guard: 'lostAlready', target: 'lost' },
          on: {
            // The connection is gone. The request ends with it at once, and its outcome tells whether it was sent.
            'upstream.lost': { target: 'lost', actions: assign({ lostFailure: ({ event }) => event.failure }) },
          },
        },
        lost: {
          after: {
            lostGrace: {
              target: '#call.done',
              actions: {
                type: 'settle',
                params: ({ context }) => ({ type: 'failure' as const, failure: context.lostFailure! }),
              },
            },
          },
        },
      },
      on: {
        'upstream.failed': {
          target: 'done',
          actions: { type: 'settle', params: ({ event }) => ({ type: 'failure' as const, failure: event.failure }) },
        },
      },
    },
    done: {
      type: 'final',
      entry: 'notifySettled',
    },
  },
});
