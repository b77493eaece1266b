/**
 * One in-flight request (`tools/call`, `prompts/get`, `resources/read`, …), as an actor spawned by the upstream
 * actor that owns its target. It waits while its upstream is (re)connecting, forwards the call once a connection
 * is ready, and delivers exactly one outcome to the caller's `reply`, whatever happens: the upstream answers, the connection drops, the wait times out, the
 * upstream fails for good, or the client cancels.
 */
import { and, assign, enqueueActions, fromCallback, fromPromise, setup, stateIn } from 'xstate';
import type { UpstreamCatalog } from '../../src/catalog/index.js';
import {
  CallCancelledError,
  CallError,
  INSUFFICIENT_SCOPE,
  NOT_SENT,
  NotReadyError,
  TargetGoneError,
  type UpstreamError,
} from '../../src/errors/index.js';
import type { CallOutcome, ForwardedRequest, UpstreamConnection } from '../types.js';
import type { CallContext, CallEvent, CallInput, CallToUpstreamEvent } from './types.js';

/**
 * After its connection dropped, a running call waits this long at most for its own outcome (closing the connection
 * ends every request on it at once): a request that was refused at connect was never sent, and can wait for the
 * reconnect instead of failing as lost.
 */
export const LOST_GRACE_MS = 1_000;

function failure(error: UpstreamError): CallOutcome {
  return { type: 'failure', failure: error };
}

/** The outcome of forwardCall, as the guards of its `done` transitions are given it. */
type Forwarded = { type: string; output: CallOutcome };
const outcome = ({ event }: { event: Forwarded }): CallOutcome => event.output;

/** Back to `waiting` to send the call once more, after telling the upstream what went wrong (`tell`). */
function waitToRetry(tell: (args: { context: CallContext }) => CallToUpstreamEvent) {
  return { target: 'waiting', actions: [{ type: 'tellUpstream', params: tell }, 'prepareRetry'] } as const;
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
    /** What the call reports goes to the upstream actor that owns it (its parentRef). */
    tellUpstream: enqueueActions(({ context, enqueue }, event: CallToUpstreamEvent) => {
      enqueue.sendTo(context.parentRef, event);
    }),
  },
  guards: {
    hasConnection: ({ context }) => context.connection !== undefined,
    /** Taken over from the ready path after its connection was lost. */
    lostAlready: ({ context }) => context.lostFailure !== undefined,
    /** The upstream never saw the call (its session was gone): worth one retry on a new session. */
    sessionExpiredFirstTime: ({ context }, output: CallOutcome) =>
      failureKind(output) === 'session-expired' && !context.retried,
    /** Refused at connect: the upstream never saw the call, which can wait for the reconnect and go then. */
    neverSentFirstTime: ({ context }, output: CallOutcome) =>
      output.type === 'failure' && output.failure.code === NOT_SENT && !context.retried,
    failed: (_, output: CallOutcome) => output.type === 'failure',
    targetGone: ({ context, event }) =>
      event.type === 'upstream.ready' && goneTarget(context.request, event.catalog) !== undefined,
    widerScopeNeeded: (_, output: CallOutcome) =>
      output.type === 'failure' && output.failure.code === INSUFFICIENT_SCOPE,
    /** Network (one bad socket, or a dead server?) or auth (a refresh that failed): the upstream should check. */
    connectionSuspect: (_, output: CallOutcome) => ['network', 'auth'].includes(failureKind(output) ?? ''),
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
                new NotReadyError(
                  `upstream "${context.upstream}" is not connected: gave up waiting after ${context.request.timeoutMs} ms (it keeps reconnecting; try again later)`,
                ),
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
                failure(
                  new TargetGoneError(
                    `upstream "${context.upstream}" no longer offers ${goneTarget(context.request, event.catalog)}; list the tools again`,
                  ),
                ),
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
                new CallCancelledError(
                  `${context.request.label} on upstream "${context.upstream}" was cancelled by the client`,
                  { kind: 'network' },
                ),
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
            guard: { type: 'sessionExpiredFirstTime', params: outcome },
            ...waitToRetry(({ context }) => ({
              type: 'call.sessionExpired',
              id: context.id,
              connection: context.connection!,
            })),
          },
          {
            // Refused at connect: the upstream is probably down. Its actor checks, and the call waits for the
            // reconnect (within its timeout) instead of failing a request that was never sent.
            guard: { type: 'neverSentFirstTime', params: outcome },
            ...waitToRetry(({ context }) => ({
              type: 'call.connectionSuspect',
              id: context.id,
              connection: context.connection!,
            })),
          },
          {
            // The connection dropped meanwhile: that is what the call failed of.
            guard: and([{ type: 'failed', params: outcome }, stateIn({ running: 'lost' })]),
            target: 'done',
            actions: {
              type: 'settle',
              params: ({ context }) => ({ type: 'failure' as const, failure: context.lostFailure! }),
            },
          },
          {
            // The upstream wants a wider scope: its actor signs in again asking for it (step-up).
            guard: { type: 'widerScopeNeeded', params: outcome },
            target: 'done',
            actions: [
              {
                type: 'tellUpstream',
                params: ({ event }) => ({
                  type: 'call.stepUpNeeded',
                  scope: event.output.type === 'failure' ? event.output.failure.reason : undefined,
                }),
              },
              { type: 'settle', params: ({ event }) => event.output },
            ],
          },
          {
            // Network (one bad socket, or a dead server?) or auth (a refresh that failed): the upstream checks.
            guard: { type: 'connectionSuspect', params: outcome },
            target: 'done',
            actions: [
              {
                type: 'tellUpstream',
                params: ({ context }) => ({
                  type: 'call.connectionSuspect',
                  id: context.id,
                  connection: context.connection!,
                }),
              },
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
                new CallError(`${context.request.label} on upstream "${context.upstream}" failed unexpectedly`, {
                  kind: 'network',
                }),
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
      entry: { type: 'tellUpstream', params: ({ context }) => ({ type: 'call.settled', id: context.id }) },
    },
  },
});
