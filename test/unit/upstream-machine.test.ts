/**
 * The upstream statechart on a SimulatedClock, with fake connect actors and fake connections: transports and their
 * fallback, the backoff schedule, reconnects, relists, `failed`, what the supervisor is told, and the calls it owns.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import type { CallOutcome, ForwardedRequest, TransportMode } from '../../machines/types.js';
import {
  callsOf,
  inFlightCount,
  RECONNECT_BASE_MS,
  reconnectDelayMs,
  upstreamMachine,
} from '../../machines/upstream/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';
import { catalogOf, connector, deferred, FakeConnection, flush, recorder, tool } from '../helpers/machine-fakes.js';

const NAME = 'jira';

const unreachable: UpstreamFailure = {
  kind: 'network',
  code: 'ERR_UPSTREAM_UNREACHABLE',
  message: 'jira: ECONNREFUSED',
};
const notSpoken: UpstreamFailure = { kind: 'fallback', code: 'ERR_UPSTREAM_TRANSPORT', message: 'jira: 405' };
const unauthorized: UpstreamFailure = { kind: 'auth', code: 'ERR_UPSTREAM_AUTH', message: 'jira: 401' };
const forbidden: UpstreamFailure = { kind: 'permanent', code: 'ERR_UPSTREAM_FORBIDDEN', message: 'jira: 403' };
const dropped: UpstreamFailure = { kind: 'network', code: 'ERR_UPSTREAM_CONNECTION_LOST', message: 'stream ended' };

const alwaysUnreachable = () => connector(() => unreachable);

interface StartOptions {
  transport?: TransportMode;
  http?: ReturnType<typeof connector>;
  sse?: ReturnType<typeof connector>;
  random?: () => number;
}

function startUpstream({
  transport = 'http-first',
  http = alwaysUnreachable(),
  sse = alwaysUnreachable(),
  random = () => 1,
}: StartOptions) {
  const clock = new SimulatedClock();
  const supervisor = recorder();
  const discovered: string[] = [];
  const machine = upstreamMachine.provide({
    actors: {
      connectStreamableHttp: http.logic,
      connectSse: sse.logic,
      // OAuth has its own tests: here it is enough to see the chart get to discovery.
      discoverAuthorization: fromPromise<'refresh' | 'sign-in', { name: string }>(({ input }) => {
        discovered.push(input.name);
        return new Promise<'refresh' | 'sign-in'>(() => {});
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { name: NAME, transport, parentRef: supervisor.ref, random },
  }).start();
  actor.send({ type: 'client.initialized' });
  return { actor, clock, told: supervisor.events, discovered, http, sse };
}

/** Advances the simulated clock, then lets the connect attempt it triggers settle. */
async function advance(clock: SimulatedClock, ms: number) {
  clock.increment(ms);
  await flush();
}

describe('reconnectDelayMs', () => {
  it('doubles from 1 s and stops at 30 s', () => {
    const top = () => 1;
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((attempt) => reconnectDelayMs(attempt, top))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('jitters between 75% and 100% of the step', () => {
    expect(reconnectDelayMs(1, () => 0)).toBe(750);
    expect(reconnectDelayMs(1, () => 0.5)).toBe(875);
    expect(reconnectDelayMs(3, () => 0)).toBe(3_000);
    expect(reconnectDelayMs(9, () => 0)).toBe(22_500);
    expect(reconnectDelayMs(9, () => 0.5)).toBe(26_250);
  });
});

describe('upstream machine: backoff', () => {
  it('retries after 1 s, 2 s, 4 s, 8 s, 16 s, then every 30 s, counting attempts in context', async () => {
    const { actor, clock, http } = startUpstream({ transport: 'http', random: () => 1 });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    expect(http.attempts).toBe(1);
    expect(actor.getSnapshot().value).toBe('reconnecting');

    const schedule = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    for (const [index, delay] of schedule.entries()) {
      expect(actor.getSnapshot().context.attempt).toBe(index + 1);
      await advance(clock, delay - 1);
      expect(http.attempts).toBe(index + 1);
      await advance(clock, 1);
      expect(http.attempts).toBe(index + 2);
    }
    expect(actor.getSnapshot().context.lastError).toEqual(unreachable);
  });

  it('waits only 75% of each step when the jitter draws 0', async () => {
    const { clock, http } = startUpstream({ transport: 'http', random: () => 0 });
    await flush();
    for (const [index, delay] of [750, 1_500, 3_000, 6_000, 12_000, 22_500, 22_500].entries()) {
      await advance(clock, delay - 1);
      expect(http.attempts).toBe(index + 1);
      await advance(clock, 1);
      expect(http.attempts).toBe(index + 2);
    }
  });

  it('resets the attempt count and the last error once ready', async () => {
    const connection = new FakeConnection('http');
    const http = connector((attempt) => (attempt <= 2 ? unreachable : connection));
    const { actor, clock } = startUpstream({ transport: 'http', http, random: () => 0.5 });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    await advance(clock, 875);
    expect(actor.getSnapshot().context.attempt).toBe(2);
    await advance(clock, 1_750);
    expect(http.attempts).toBe(3);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(actor.getSnapshot().context.attempt).toBe(0);
    expect(actor.getSnapshot().context.lastError).toBeUndefined();
    expect(actor.getSnapshot().context.catalog.tools).toEqual([tool('search')]);
  });
});

describe('upstream machine: transports and fallback', () => {
  it('http-first falls back to SSE when Streamable HTTP is not spoken', async () => {
    const sseConnection = new FakeConnection('sse');
    const { actor, http, sse } = startUpstream({
      transport: 'http-first',
      http: connector(() => notSpoken),
      sse: connector(() => sseConnection),
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: { ready: 'idle' } }));
    expect([http.attempts, sse.attempts]).toEqual([1, 1]);
    const { value, context } = actor.getSnapshot();
    expect(value).toEqual({ connected: { ready: 'idle' } });
    expect(context.transport).toBe('sse');
    expect(context.workingTransport).toBe('sse');
    expect(context.connection).toBe(sseConnection);
  });

  it('http-first does not fall back on a network failure: it reconnects over HTTP', async () => {
    const { actor, clock, http, sse } = startUpstream({ transport: 'http-first' });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    expect(actor.getSnapshot().value).toBe('reconnecting');
    await advance(clock, 1_000);
    expect([http.attempts, sse.attempts]).toEqual([2, 0]);
  });

  it('http-first does not fall back on an auth failure: it discovers authorization', async () => {
    const { actor, discovered, sse } = startUpstream({ transport: 'http-first', http: connector(() => unauthorized) });
    await waitFor(actor, (snapshot) => snapshot.matches('discovering'));
    expect(actor.getSnapshot().value).toBe('discovering');
    expect(discovered).toEqual([NAME]);
    expect(sse.attempts).toBe(0);
  });

  it('sse-first falls back to Streamable HTTP', async () => {
    const httpConnection = new FakeConnection('http');
    const { actor, http, sse } = startUpstream({
      transport: 'sse-first',
      http: connector(() => httpConnection),
      sse: connector(() => notSpoken),
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect([sse.attempts, http.attempts]).toEqual([1, 1]);
    expect(actor.getSnapshot().context.workingTransport).toBe('http');
    expect(actor.getSnapshot().context.connection).toBe(httpConnection);
  });

  it.each([
    { mode: 'http' as const, attempts: { http: 1, sse: 0 } },
    { mode: 'sse' as const, attempts: { http: 0, sse: 1 } },
  ])('$mode mode never falls back: a fallback failure fails the upstream', async ({ mode, attempts }) => {
    const { actor, http, sse } = startUpstream({
      transport: mode,
      http: connector(() => notSpoken),
      sse: connector(() => notSpoken),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('failed'));
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.lastError).toEqual(notSpoken);
    expect({ http: http.attempts, sse: sse.attempts }).toEqual(attempts);
  });

  it('fails when neither transport is spoken, without going back and forth', async () => {
    const sseRefusal: UpstreamFailure = { ...notSpoken, message: 'jira: SSE 404' };
    const { actor, http, sse } = startUpstream({
      transport: 'http-first',
      http: connector(() => notSpoken),
      sse: connector(() => sseRefusal),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('failed'));
    expect(actor.getSnapshot().value).toBe('failed');
    // One message naming what each transport answered.
    expect(actor.getSnapshot().context.lastError).toMatchObject({
      ...sseRefusal,
      code: 'ERR_UPSTREAM_NO_TRANSPORT',
      message: `upstream "${NAME}": neither transport answered as MCP: ${notSpoken.message}; then ${sseRefusal.message}`,
    });
    expect([http.attempts, sse.attempts]).toEqual([1, 1]);
  });

  it('reconnects straight over SSE once the fallback worked', async () => {
    const first = new FakeConnection('sse');
    const second = new FakeConnection('sse');
    const { actor, clock, http, sse } = startUpstream({
      transport: 'http-first',
      http: connector(() => notSpoken),
      sse: connector((attempt) => (attempt === 1 ? first : second)),
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    first.signal({ type: 'lost', failure: dropped });
    expect(actor.getSnapshot().value).toBe('reconnecting');
    await advance(clock, 1_000);
    expect([http.attempts, sse.attempts]).toEqual([1, 2]);
    expect(actor.getSnapshot().context.connection).toBe(second);
  });

  it('fails on a permanent failure and keeps it as lastError', async () => {
    const { actor, clock, http } = startUpstream({ transport: 'http-first', http: connector(() => forbidden) });
    await waitFor(actor, (snapshot) => snapshot.matches('failed'));
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.lastError).toEqual(forbidden);
    await advance(clock, 60_000);
    expect(http.attempts).toBe(1);
  });
});

describe('upstream machine: a live connection', () => {
  it('reconnects after the connection is lost, closing the old one and listing tools again', async () => {
    const first = new FakeConnection('http', [tool('search')]);
    const second = new FakeConnection('http', [tool('search'), tool('create')]);
    const http = connector((attempt) => (attempt === 1 ? first : second));
    const { actor, clock, told } = startUpstream({ transport: 'http', http });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    told.length = 0;

    first.signal({ type: 'lost', failure: dropped });
    const lost = actor.getSnapshot();
    expect(lost.value).toBe('reconnecting');
    expect(lost.context.lastError).toEqual(dropped);
    expect(lost.context.connection).toBeUndefined();
    expect(lost.context.catalog.tools).toEqual([tool('search')]);
    expect(first.closeCount).toBe(1);

    await advance(clock, 1_000);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(actor.getSnapshot().context.connection).toBe(second);
    expect(second.listCount).toBe(1);
    expect(told).toEqual([
      { type: 'upstream.settled', name: NAME },
      { type: 'upstream.catalog', name: NAME, catalog: catalogOf([tool('search'), tool('create')]) },
      { type: 'upstream.settled', name: NAME },
    ]);
  });

  it('relists on catalog-changed and tells the supervisor the new list', async () => {
    const connection = new FakeConnection('http', [tool('search')]);
    const { actor, told } = startUpstream({ transport: 'http', http: connector(() => connection) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    told.length = 0;

    connection.tools = [tool('search'), tool('delete')];
    connection.signal({ type: 'catalog-changed' });
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'relisting' } });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: { ready: 'idle' } }));
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(connection.listCount).toBe(2);
    expect(actor.getSnapshot().context.catalog.tools).toEqual([tool('search'), tool('delete')]);
    expect(told.filter((event) => event.type === 'upstream.catalog')).toEqual([
      { type: 'upstream.catalog', name: NAME, catalog: catalogOf([tool('search'), tool('delete')]) },
    ]);
  });

  it('closes the connection when a call reports its session expired, and opens a new one at once', async () => {
    const first = new FakeConnection('http');
    const second = new FakeConnection('http');
    const { actor } = startUpstream({ transport: 'http', http: connector((n) => (n === 1 ? first : second)) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    actor.send({ type: 'call.sessionExpired', id: 'call-1', connection: first });
    expect(first.closeCount).toBe(1);
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect(actor.getSnapshot().context.connection).toBe(second);
    expect(actor.getSnapshot().context.attempt).toBe(0);
  });

  it('opens a new session at once when tools/list finds the session expired', async () => {
    const expired = new FakeConnection('http');
    expired.listCatalog = () =>
      Promise.reject({ kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'gone' });
    const fresh = new FakeConnection('http');
    const http = connector((n) => (n === 1 ? expired : fresh));
    const { actor } = startUpstream({ transport: 'http', http });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: { ready: 'idle' } }));
    // No backoff: the second attempt happened without the clock moving.
    expect(http.attempts).toBe(2);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(actor.getSnapshot().context.attempt).toBe(0);
    expect(expired.closeCount).toBe(1);
  });

  it('backs off when the new session is forgotten too before it was ever ready (no hot loop)', async () => {
    const forgetful = () => {
      const connection = new FakeConnection('http');
      connection.listCatalog = () =>
        Promise.reject({ kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'gone' });
      return connection;
    };
    const http = connector(() => forgetful());
    const { actor, clock } = startUpstream({ transport: 'http', http });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    // The first expiry is renewed at once; the second waits for the backoff like any other reconnect.
    expect(http.attempts).toBe(2);
    expect(actor.getSnapshot().value).toBe('reconnecting');
    await flush();
    expect(http.attempts).toBe(2);
    await advance(clock, RECONNECT_BASE_MS);
    expect(http.attempts).toBe(3);
    expect(actor.getSnapshot().value).toBe('reconnecting');
    expect(actor.getSnapshot().context.attempt).toBe(2);
  });

  it('waits at least as long as the server asked with Retry-After', async () => {
    const busy: UpstreamFailure = { ...unreachable, code: 'ERR_UPSTREAM_HTTP', retryAfterMs: 7_000 };
    const http = connector((n) => (n === 1 ? busy : new FakeConnection('http')));
    const { actor, clock } = startUpstream({ transport: 'http', http });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    expect(actor.getSnapshot().value).toBe('reconnecting');
    await advance(clock, RECONNECT_BASE_MS);
    expect(http.attempts).toBe(1);
    await advance(clock, 6_000);
    expect(http.attempts).toBe(2);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
  });

  it('ignores a session-expired report about a connection it already replaced', async () => {
    const current = new FakeConnection('http');
    const { actor } = startUpstream({ transport: 'http', http: connector(() => current) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    actor.send({ type: 'call.sessionExpired', id: 'call-1', connection: new FakeConnection('http') });
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(current.closeCount).toBe(0);
  });
});

describe('upstream machine: what the supervisor is told', () => {
  it('sends its tools, then settled, when ready', async () => {
    const { told } = startUpstream({ transport: 'http', http: connector(() => new FakeConnection('http')) });
    await flush();
    expect(told).toEqual([
      { type: 'upstream.catalog', name: NAME, catalog: catalogOf([tool('search')]) },
      { type: 'upstream.settled', name: NAME },
    ]);
  });

  it('sends settled on the first failed attempt, so one dead upstream does not hold up startup', async () => {
    const { told } = startUpstream({ transport: 'http' });
    await flush();
    expect(told).toEqual([{ type: 'upstream.settled', name: NAME }]);
  });

  it('sends failed with the failure, then settled, when it fails', async () => {
    const { told } = startUpstream({ transport: 'http', http: connector(() => forbidden) });
    await flush();
    expect(told).toEqual([
      { type: 'upstream.failed', name: NAME, failure: forbidden },
      { type: 'upstream.settled', name: NAME },
    ]);
  });
});

describe('upstream machine: calls', () => {
  const request = (timeoutMs = 10_000): ForwardedRequest => ({
    method: 'tools/call',
    params: { name: 'search', arguments: { q: 'x' } },
    label: 'tools/call "search"',
    timeoutMs,
  });
  const ok: CallOutcome = { type: 'result', result: { content: [{ type: 'text', text: 'found' }] } };

  /** A caller's `reply`, what it was answered, and `answered`: settled with its first answer. */
  function replies() {
    const outcomes: CallOutcome[] = [];
    const first = deferred<CallOutcome>();
    const reply = (outcome: CallOutcome) => {
      outcomes.push(outcome);
      first.resolve(outcome);
    };
    return { outcomes, reply, answered: first.promise };
  }

  it('forwards a call at once when ready, with no call actor, and forgets it once answered', async () => {
    const connection = new FakeConnection('http');
    const answer = deferred<CallOutcome>();
    connection.answers.push(answer.promise);
    const { actor } = startUpstream({ transport: 'http', http: connector(() => connection) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));

    const { outcomes, reply, answered } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    expect(connection.requests).toEqual([request()]);
    expect(inFlightCount(actor)).toBe(1);
    expect(callsOf(actor)).toEqual([]);

    answer.resolve(ok);
    await answered;
    expect(outcomes).toEqual([ok]);
    expect(inFlightCount(actor)).toBe(0);
    expect(Object.keys(actor.getSnapshot().children)).not.toContain('call-1');
  });

  it('answers a call on the ready path whose request rejects (request() never should) through a call actor', async () => {
    const connection = new FakeConnection('http');
    const rejected = Promise.reject(new Error('boom'));
    rejected.catch(() => {}); // handled by the call actor, later than Node's unhandled-rejection check
    connection.answers.push(rejected);
    const { actor } = startUpstream({ transport: 'http', http: connector(() => connection) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const { outcomes, reply, answered } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    await answered;
    expect(outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.code)).toEqual([
      'ERR_UPSTREAM_CALL',
    ]);
    expect(inFlightCount(actor)).toBe(0);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
  });

  it('holds a call made while reconnecting and forwards it once reconnected', async () => {
    const connection = new FakeConnection('http');
    connection.answers.push(Promise.resolve(ok));
    const { actor, clock } = startUpstream({
      transport: 'http',
      http: connector((attempt) => (attempt === 1 ? unreachable : connection)),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    expect(actor.getSnapshot().value).toBe('reconnecting');

    const { outcomes, reply } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    await flush();
    expect(connection.requests).toEqual([]);
    expect(outcomes).toEqual([]);

    await advance(clock, 1_000);
    expect(connection.requests).toEqual([request()]);
    expect(outcomes).toEqual([ok]);
    expect(callsOf(actor)).toEqual([]);
  });

  it('fails a call in flight at once when the connection is lost, naming the upstream', async () => {
    const connection = new FakeConnection('http');
    const { actor } = startUpstream({ transport: 'http', http: connector(() => connection) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const { outcomes, reply, answered } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    await flush();

    connection.signal({ type: 'lost', failure: dropped });
    await answered;
    expect(outcomes).toMatchObject([
      {
        type: 'failure',
        failure: {
          kind: 'network',
          code: 'ERR_UPSTREAM_CONNECTION_LOST',
          message: `connection to upstream "jira" was lost during the call (stream ended); it is reconnecting, try again`,
        },
      },
    ]);
    expect(callsOf(actor)).toEqual([]);
    expect(Object.keys(actor.getSnapshot().children)).not.toContain('call-1');
  });

  it('names the bare cause of the loss when the failure carries one', async () => {
    const connection = new FakeConnection('http');
    const { actor } = startUpstream({ transport: 'http', http: connector(() => connection) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const { outcomes, reply, answered } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });

    connection.signal({
      type: 'lost',
      failure: { ...dropped, message: 'upstream "jira": ECONNRESET', reason: 'ECONNRESET' },
    });
    await answered;
    expect(outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.message)).toEqual([
      'connection to upstream "jira" was lost during the call (ECONNRESET); it is reconnecting, try again',
    ]);
  });

  it('checks the connection when a call reports a network failure, without failing the other calls', async () => {
    const first = new FakeConnection('http');
    const failing: CallOutcome = { type: 'failure', failure: { ...dropped, message: 'socket hang up' } };
    const answer = deferred<CallOutcome>();
    first.answers.push(answer.promise);
    const { actor } = startUpstream({ transport: 'http', http: connector(() => first) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const one = replies();
    const two = replies();
    actor.send({ type: 'request.forward', id: 'one', request: request(), reply: one.reply });
    actor.send({ type: 'request.forward', id: 'two', request: request(), reply: two.reply });

    answer.resolve(failing);
    await one.answered;
    expect(one.outcomes).toEqual([failing]);
    // One bad socket is not a dead upstream: the other call goes on, and the connection is asked to check.
    expect(two.outcomes).toEqual([]);
    expect(first.checkAliveCount).toBe(1);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(first.closeCount).toBe(0);
    // The failed call's actor (started to handle its failure) is gone; the other runs on the ready path still.
    expect(callsOf(actor)).toEqual([]);
    expect(inFlightCount(actor)).toBe(1);

    // The check found the upstream gone: now the other call fails at once.
    first.signal({ type: 'lost', failure: dropped });
    await two.answered;
    expect(two.outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.code)).toEqual([
      'ERR_UPSTREAM_CONNECTION_LOST',
    ]);
    expect(actor.getSnapshot().value).toBe('reconnecting');
  });

  it('retries a call whose session expired on a new session', async () => {
    const first = new FakeConnection('http');
    const second = new FakeConnection('http');
    first.answers.push(
      Promise.resolve({
        type: 'failure',
        failure: { kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'gone' },
      }),
    );
    second.answers.push(Promise.resolve(ok));
    const { actor } = startUpstream({ transport: 'http', http: connector((n) => (n === 1 ? first : second)) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));

    const { outcomes, reply } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    await flush();
    expect(first.closeCount).toBe(1);
    expect(second.requests).toEqual([request()]);
    expect(outcomes).toEqual([ok]);
    expect(callsOf(actor)).toEqual([]);
  });

  // BUG (machines/call/call-machine.ts, running.onDone, with the upstream's `call.sessionExpired`): a call whose
  // session-expired answer arrives after the upstream already opened a new session goes back to `waiting` and
  // reports the old connection; the upstream drops that report (isCurrentConnection) and sends `upstream.ready`
  // only on entering `ready`, so the call waits with the upstream ready and fails with ERR_UPSTREAM_NOT_READY after
  // its timeout.
  it('retries on the new session a call whose session expired after the upstream reconnected', async () => {
    const first = new FakeConnection('http');
    const second = new FakeConnection('http');
    const expired: CallOutcome = {
      type: 'failure',
      failure: { kind: 'session-expired', code: 'ERR_UPSTREAM_SESSION_EXPIRED', message: 'gone' },
    };
    const early = deferred<CallOutcome>();
    const late = deferred<CallOutcome>();
    first.answers.push(early.promise, late.promise);
    second.answers.push(Promise.resolve(ok), Promise.resolve(ok));
    const { actor, clock } = startUpstream({ transport: 'http', http: connector((n) => (n === 1 ? first : second)) });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    const one = replies();
    const two = replies();
    actor.send({ type: 'request.forward', id: 'one', request: request(5_000), reply: one.reply });
    actor.send({ type: 'request.forward', id: 'two', request: request(5_000), reply: two.reply });

    early.resolve(expired);
    await flush();
    expect(actor.getSnapshot().context.connection).toBe(second);
    expect(one.outcomes).toEqual([ok]);

    late.resolve(expired);
    await flush();
    await advance(clock, 5_000);
    expect(two.outcomes).toEqual([ok]);
  });

  it('answers a call to a failed upstream at once with its failure', async () => {
    const { actor } = startUpstream({ transport: 'http', http: connector(() => forbidden) });
    await waitFor(actor, (snapshot) => snapshot.matches('failed'));
    const { outcomes, reply } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    expect(outcomes).toEqual([{ type: 'failure', failure: forbidden }]);
    expect(callsOf(actor)).toEqual([]);
  });

  it('fails the waiting calls when the upstream fails', async () => {
    const { actor, clock } = startUpstream({
      transport: 'http',
      http: connector((attempt) => (attempt === 1 ? unreachable : forbidden)),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('reconnecting'));
    const { outcomes, reply } = replies();
    actor.send({ type: 'request.forward', id: 'call-1', request: request(), reply });
    await advance(clock, 1_000);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(outcomes).toEqual([{ type: 'failure', failure: forbidden }]);
    expect(callsOf(actor)).toEqual([]);
  });
});
