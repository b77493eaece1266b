/**
 * The call statechart alone, on a SimulatedClock: the upstream actor is stood in for by an actor that records
 * what the call tells it, and the connection by a fake whose answers the test controls. Whatever happens, the
 * caller's `reply` gets exactly one outcome and the parent gets `call.settled`.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, waitFor } from 'xstate';
import { callMachine, LOST_GRACE_MS } from '../../machines/call/index.js';
import type { CallOutcome, ForwardedRequest, UpstreamConnection } from '../../machines/types.js';
import { EMPTY_CATALOG, type UpstreamCatalog } from '../../src/catalog/index.js';
import { NOT_SENT, type UpstreamFailure } from '../../src/errors/index.js';
import { deferred, FakeConnection, recorder } from '../helpers/machine-fakes.js';

const TIMEOUT_MS = 5_000;

const ok: CallOutcome = { type: 'result', result: { content: [{ type: 'text', text: 'found' }] } };
const expired: CallOutcome = {
  type: 'failure',
  failure: { kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'upstream "jira" forgot us' },
};
const lost: UpstreamFailure = {
  kind: 'network',
  code: 'ERR_UPSTREAM_CONNECTION_LOST',
  message: 'connection to upstream "jira" was lost during the call',
};
const forbidden: UpstreamFailure = { kind: 'permanent', code: 'ERR_UPSTREAM_FORBIDDEN', message: 'jira: 403' };

function startCall({ connection, signal }: { connection?: UpstreamConnection; signal?: AbortSignal } = {}) {
  const clock = new SimulatedClock();
  const { ref: parentRef, events: toParent } = recorder();
  const outcomes: CallOutcome[] = [];
  const request: ForwardedRequest = {
    method: 'tools/call',
    params: { name: 'search', arguments: { q: 'x' } },
    label: 'tools/call "search"',
    timeoutMs: TIMEOUT_MS,
    signal,
  };
  const actor = createActor(callMachine, {
    clock,
    input: {
      id: 'call-7',
      upstream: 'jira',
      request,
      reply: (outcome) => outcomes.push(outcome),
      parentRef,
      connection,
    },
  }).start();
  return { actor, clock, outcomes, toParent, request };
}

const settled = { type: 'call.settled', id: 'call-7' };

describe('call machine: waiting for the upstream', () => {
  it('waits without a connection and runs once the upstream is ready', async () => {
    const { actor, outcomes, toParent, request } = startCall();
    expect(actor.getSnapshot().value).toBe('waiting');

    const connection = FakeConnection.answering(Promise.resolve(ok));
    actor.send({ type: 'upstream.ready', connection });
    expect(actor.getSnapshot().value).toEqual({ running: 'active' });
    expect(connection.requests).toEqual([request]);
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([ok]);
    expect(toParent).toEqual([settled]);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('gives up after the request timeout with ERR_UPSTREAM_NOT_READY naming the upstream', async () => {
    const { actor, clock, outcomes, toParent } = startCall();
    clock.increment(TIMEOUT_MS - 1);
    expect(outcomes).toEqual([]);
    clock.increment(1);
    expect(outcomes).toMatchObject([
      {
        type: 'failure',
        failure: {
          kind: 'network',
          code: 'ERR_UPSTREAM_NOT_READY',
          message: `upstream "jira" is not connected: gave up waiting after 5000 ms (it keeps reconnecting; try again later)`,
        },
      },
    ]);
    expect(toParent).toEqual([settled]);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('settles when the client cancels while it waits, and the timeout no longer fires', async () => {
    const controller = new AbortController();
    const { actor, clock, outcomes, toParent } = startCall({ signal: controller.signal });
    controller.abort();
    const cancelled: CallOutcome = {
      type: 'failure',
      failure: {
        kind: 'network',
        code: 'ERR_CALL_CANCELLED',
        message: 'tools/call "search" on upstream "jira" was cancelled by the client',
      },
    };
    expect(outcomes).toMatchObject([cancelled]);
    clock.increment(TIMEOUT_MS);
    expect(outcomes).toMatchObject([cancelled]);
    expect(toParent).toEqual([settled]);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('settles at once when the client cancelled before the call was made', () => {
    const controller = new AbortController();
    controller.abort();
    const { outcomes } = startCall({ signal: controller.signal });
    expect(outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.code)).toEqual([
      'ERR_CALL_CANCELLED',
    ]);
  });

  it('settles with the failure when the upstream fails while it waits', () => {
    const { actor, outcomes, toParent } = startCall();
    actor.send({ type: 'upstream.failed', failure: forbidden });
    expect(outcomes).toEqual([{ type: 'failure', failure: forbidden }]);
    expect(toParent).toEqual([settled]);
  });

  it('keeps waiting when told the connection was lost (there is nothing in flight to lose)', () => {
    const { actor, outcomes } = startCall();
    actor.send({ type: 'upstream.lost', failure: lost });
    expect(actor.getSnapshot().value).toBe('waiting');
    expect(outcomes).toEqual([]);
  });
});

describe('call machine: running', () => {
  it('runs at once when spawned with a connection and passes the answer on', async () => {
    const rpcError: CallOutcome = { type: 'rpc-error', code: -32602, message: 'bad arguments', data: { at: 'q' } };
    const connection = FakeConnection.answering(Promise.resolve(rpcError));
    const { actor, outcomes, toParent } = startCall({ connection });
    expect(actor.getSnapshot().value).toEqual({ running: 'active' });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([rpcError]);
    expect(toParent).toEqual([settled]);
  });

  it('settles with the failure when the connection is lost, though the answer never comes', () => {
    const { actor, clock, outcomes, toParent } = startCall({ connection: FakeConnection.answering() });
    actor.send({ type: 'upstream.lost', failure: lost });
    // Its own outcome may still say it was never sent: it is given a moment (closing the connection ends it).
    expect(outcomes).toEqual([]);
    clock.increment(LOST_GRACE_MS);
    expect(outcomes).toEqual([{ type: 'failure', failure: lost }]);
    expect(toParent).toEqual([settled]);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('passes on an answer that arrives just after the connection was reported lost, and replies once', async () => {
    const answer = deferred<CallOutcome>();
    const { actor, clock, outcomes } = startCall({ connection: FakeConnection.answering(answer.promise) });
    actor.send({ type: 'upstream.lost', failure: lost });
    answer.resolve(ok);
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    clock.increment(LOST_GRACE_MS);
    expect(outcomes).toEqual([ok]);
  });

  it('fails as lost when its request ends with the connection', async () => {
    const answer = deferred<CallOutcome>();
    const { actor, outcomes } = startCall({ connection: FakeConnection.answering(answer.promise) });
    actor.send({ type: 'upstream.lost', failure: lost });
    answer.resolve({ type: 'failure', failure: { ...lost, message: 'Connection closed' } });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([{ type: 'failure', failure: lost }]);
  });

  it('settles with the failure when the upstream fails while it runs', () => {
    const { actor, outcomes } = startCall({ connection: FakeConnection.answering() });
    actor.send({ type: 'upstream.failed', failure: forbidden });
    expect(outcomes).toEqual([{ type: 'failure', failure: forbidden }]);
  });

  it('asks the upstream actor to check the connection it failed on after a network failure', async () => {
    const dropped: CallOutcome = {
      type: 'failure',
      failure: { kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE', message: 'upstream "jira": socket hang up' },
    };
    const connection = FakeConnection.answering(Promise.resolve(dropped));
    const { actor, outcomes, toParent } = startCall({ connection });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([dropped]);
    expect(toParent).toEqual([{ type: 'call.connectionSuspect', id: 'call-7', connection }, settled]);
  });

  it('does not report an upstream-side failure (the connection is fine)', async () => {
    const timedOut: CallOutcome = {
      type: 'failure',
      failure: { kind: 'upstream', code: 'ERR_UPSTREAM_TIMEOUT', message: 'upstream "jira" took too long' },
    };
    const { actor, outcomes, toParent } = startCall({
      connection: FakeConnection.answering(Promise.resolve(timedOut)),
    });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([timedOut]);
    expect(toParent).toEqual([settled]);
  });

  it('turns a request that rejects (it must not) into a named failure', async () => {
    const answer = deferred<CallOutcome>();
    const { actor, outcomes } = startCall({ connection: FakeConnection.answering(answer.promise) });
    answer.reject(new Error('bug'));
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toMatchObject([
      {
        type: 'failure',
        failure: {
          kind: 'network',
          code: 'ERR_UPSTREAM_CALL',
          message: 'tools/call "search" on upstream "jira" failed unexpectedly',
        },
      },
    ]);
  });
});

describe('call machine: expired session', () => {
  it('tells the upstream, waits, and runs again on the new connection', async () => {
    const first = FakeConnection.answering(Promise.resolve(expired));
    const { actor, outcomes, toParent, request } = startCall({ connection: first });
    await waitFor(actor, (snapshot) => snapshot.matches('waiting'));
    expect(toParent).toEqual([{ type: 'call.sessionExpired', id: 'call-7', connection: first }]);
    expect(actor.getSnapshot().value).toBe('waiting');
    expect(actor.getSnapshot().context.connection).toBeUndefined();
    expect(outcomes).toEqual([]);

    const second = FakeConnection.answering(Promise.resolve(ok));
    actor.send({ type: 'upstream.ready', connection: second });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(second.requests).toEqual([request]);
    expect(outcomes).toEqual([ok]);
    expect(toParent).toEqual([{ type: 'call.sessionExpired', id: 'call-7', connection: first }, settled]);
  });

  it('returns a second expired session as the failure instead of retrying again', async () => {
    const first = FakeConnection.answering(Promise.resolve(expired));
    const { actor, outcomes, toParent } = startCall({ connection: first });
    await waitFor(actor, (snapshot) => snapshot.matches('waiting'));
    const second = FakeConnection.answering(Promise.resolve(expired));
    actor.send({ type: 'upstream.ready', connection: second });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([expired]);
    expect(toParent).toEqual([{ type: 'call.sessionExpired', id: 'call-7', connection: first }, settled]);
    expect(second.requests).toHaveLength(1);
  });

  it('waits for the new session no longer than the request timeout', async () => {
    const { actor, clock, outcomes } = startCall({ connection: FakeConnection.answering(Promise.resolve(expired)) });
    await waitFor(actor, (snapshot) => snapshot.matches('waiting'));
    clock.increment(TIMEOUT_MS - 1);
    expect(outcomes).toEqual([]);
    clock.increment(1);
    expect(outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.code)).toEqual([
      'ERR_UPSTREAM_NOT_READY',
    ]);
  });
});

describe('call machine: what the upstream never saw, and what is gone', () => {
  const refused: CallOutcome = {
    type: 'failure',
    failure: { kind: 'network', code: NOT_SENT, message: 'upstream "jira" refused the connection' },
  };
  const withTools = (...names: string[]): UpstreamCatalog => ({
    ...EMPTY_CATALOG,
    tools: names.map((name) => ({ name, inputSchema: { type: 'object' as const } })),
  });

  it('waits for the reconnect after a refused connection, then sends the call once more', async () => {
    const first = FakeConnection.answering(Promise.resolve(refused));
    const { actor, outcomes, toParent } = startCall({ connection: first });
    await waitFor(actor, (snapshot) => snapshot.matches('waiting'));
    expect(actor.getSnapshot().value).toBe('waiting');
    expect(outcomes).toEqual([]);
    // The upstream is asked to check: a refused connection usually means it is gone.
    expect(toParent).toEqual([{ type: 'call.connectionSuspect', id: 'call-7', connection: first }]);
    const second = FakeConnection.answering(Promise.resolve(ok));
    actor.send({ type: 'upstream.ready', connection: second, catalog: withTools('search') });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([ok]);
    expect(second.requests).toHaveLength(1);
  });

  it('sends a refused call once more only', async () => {
    const { actor, outcomes } = startCall({ connection: FakeConnection.answering(Promise.resolve(refused)) });
    await waitFor(actor, (snapshot) => snapshot.matches('waiting'));
    actor.send({ type: 'upstream.ready', connection: FakeConnection.answering(Promise.resolve(refused)) });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(outcomes).toEqual([refused]);
  });

  it('answers that the tool is gone when the upstream is ready without it', async () => {
    const { actor, outcomes, toParent } = startCall();
    const connection = FakeConnection.answering(Promise.resolve(ok));
    actor.send({ type: 'upstream.ready', connection, catalog: withTools('other') });
    expect(connection.requests).toEqual([]);
    expect(outcomes).toMatchObject([
      {
        type: 'failure',
        failure: {
          kind: 'upstream',
          code: 'ERR_TARGET_GONE',
          message: 'upstream "jira" no longer offers tool "search"; list the tools again',
        },
      },
    ]);
    expect(toParent).toEqual([settled]);
  });

  it('aborts its request to the upstream when it ends for any reason', async () => {
    const signals: AbortSignal[] = [];
    const connection = FakeConnection.answering();
    connection.request = (_request: ForwardedRequest, ended?: AbortSignal) => {
      signals.push(ended!);
      return new Promise(() => {});
    };
    const { actor, clock } = startCall({ connection });
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(false);
    actor.send({ type: 'upstream.lost', failure: lost });
    clock.increment(LOST_GRACE_MS);
    expect(signals[0]!.aborted).toBe(true);
  });
});
