/**
 * Retiring an upstream actor (a reload removed or changed its upstream), on a SimulatedClock with fake connections:
 * calls already sent finish on the open session within `drainMs`, the others are answered with the retirement's
 * failure, the session is closed and the supervisor told; and an actor spawned by a reload connects at once.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, waitFor } from 'xstate';
import type { CallOutcome, ForwardedRequest } from '../../machines/types.js';
import { callsOf, type UpstreamInput, upstreamMachine } from '../../machines/upstream/index.js';
import { type UpstreamFailure, UpstreamRemovedError } from '../../src/errors/index.js';
import { connector, deferred, FakeConnection, flush, recorder } from '../helpers/machine-fakes.js';

const removed = new UpstreamRemovedError('upstream "jira" was removed from the configuration');
const unreachable: UpstreamFailure = { kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE', message: 'ECONNREFUSED' };
const ok: CallOutcome = { type: 'result', result: { content: [] } };
const DRAIN_MS = 5_000;

function start(connect: ReturnType<typeof connector>, input: Partial<UpstreamInput> = {}) {
  const clock = new SimulatedClock();
  const supervisor = recorder();
  const actor = createActor(
    upstreamMachine.provide({ actors: { connectStreamableHttp: connect.logic, connectSse: connect.logic } }),
    { clock, input: { name: 'jira', transport: 'http', parentRef: supervisor.ref, random: () => 1, ...input } },
  ).start();
  return { actor, clock, told: supervisor.events };
}

function request(timeoutMs = 60_000): ForwardedRequest {
  return { method: 'tools/call', params: { name: 'search', arguments: {} }, label: 'tools/call "search"', timeoutMs };
}

function call(actor: ReturnType<typeof start>['actor'], id: string) {
  const answer = deferred<CallOutcome>();
  actor.send({ type: 'request.forward', id, request: request(), reply: answer.resolve });
  return answer.promise;
}

const retire = { type: 'upstream.retire', failure: removed, drainMs: DRAIN_MS } as const;

describe('upstream machine: retiring', () => {
  it('lets a call already sent finish on its session, then closes it and tells the supervisor', async () => {
    const connection = new FakeConnection('http');
    const answer = deferred<CallOutcome>();
    connection.answers.push(answer.promise);
    const { actor, told } = start(connector(() => connection));
    actor.send({ type: 'client.initialized' });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const sent = call(actor, 'call-1');

    actor.send(retire);
    expect(actor.getSnapshot().value).toEqual({ connected: 'draining' });
    expect(connection.closeCount).toBe(0);
    // Nothing new goes out on a session about to close.
    expect(await call(actor, 'call-2')).toEqual({ type: 'failure', failure: removed });
    expect(connection.requests).toHaveLength(1);

    answer.resolve(ok);
    expect(await sent).toEqual(ok);
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
    expect(actor.getSnapshot().value).toBe('retired');
    expect(connection.closeCount).toBe(1);
    expect(told).toContainEqual({ type: 'upstream.retired', name: 'jira', id: actor.id });
  });

  it('answers a call still running after drainMs with the retirement failure', async () => {
    const connection = new FakeConnection('http');
    const { actor, clock } = start(connector(() => connection));
    actor.send({ type: 'client.initialized' });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const sent = call(actor, 'call-1');
    actor.send(retire);

    clock.increment(DRAIN_MS - 1);
    await flush();
    expect(actor.getSnapshot().value).toEqual({ connected: 'draining' });
    clock.increment(1);
    expect(await sent).toEqual({ type: 'failure', failure: removed });
    expect(actor.getSnapshot().status).toBe('done');
    expect(connection.closeCount).toBe(1);
  });

  it('answers a call waiting for a session at once, whatever the state', async () => {
    const { actor, told } = start(connector(() => unreachable));
    actor.send({ type: 'client.initialized' });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    const waiting = call(actor, 'call-1');
    expect(callsOf(actor)).toHaveLength(1);

    actor.send(retire);
    expect(await waiting).toEqual({ type: 'failure', failure: removed });
    expect(actor.getSnapshot().status).toBe('done');
    expect(told).toContainEqual({ type: 'upstream.retired', name: 'jira', id: actor.id });
  });

  it('answers a call that waited in draining for a session of its own (its session was forgotten)', async () => {
    const connection = new FakeConnection('http');
    const expired: CallOutcome = {
      type: 'failure',
      failure: { kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'session gone' },
    };
    const answer = deferred<CallOutcome>();
    connection.answers.push(answer.promise);
    const { actor } = start(connector(() => connection));
    actor.send({ type: 'client.initialized' });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const sent = call(actor, 'call-1');
    actor.send(retire);

    // Outside draining it would wait for a new session; here there is none to come.
    answer.resolve(expired);
    expect(await sent).toEqual({ type: 'failure', failure: removed });
    await waitFor(actor, (snapshot) => snapshot.status === 'done');
  });

  it('connects at once when a reload spawns it after the client initialized, with what it is to restore', async () => {
    const connection = new FakeConnection('http');
    const { actor } = start(
      connector(() => connection),
      {
        clientInitialized: true,
        subscriptions: ['file:///a'],
        logLevel: 'debug',
      },
    );
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect(actor.getSnapshot().context).toMatchObject({ subscriptions: ['file:///a'], logLevel: 'debug' });
  });

  it('waits for the client when spawned before it initialized', async () => {
    const connect = connector(() => new FakeConnection('http'));
    const { actor } = start(connect);
    await flush();
    expect(actor.getSnapshot().value).toBe('waitingForClient');
    expect(connect.attempts).toBe(0);
  });
});
