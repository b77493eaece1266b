/**
 * The OAuth part of the upstream chart, with fake actors: discovery chooses refresh or sign-in, a failed refresh
 * leads to sign-in, a user who must act settles the upstream and makes calls say where to sign in, and a sign-in
 * that times out waits in needsSignIn until a call starts a new one.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import type { CallOutcome, UpstreamConnection } from '../../machines/types.js';
import { type UpstreamEvent, upstreamMachine } from '../../machines/upstream/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';
import { FakeConnection, recorder } from '../helpers/machine-fakes.js';

const needsAuth: UpstreamFailure = { kind: 'auth', code: 'ERR_UPSTREAM_AUTH_REQUIRED', message: 'sign in' };

interface Script {
  /** Connect attempts answer in order; the last answer repeats. */
  connects: Array<UpstreamConnection | UpstreamFailure>;
  discover?: 'refresh' | 'sign-in';
  refresh?: UpstreamFailure;
  /** What the authorize actor does once started. */
  authorize?: (sendBack: (event: UpstreamEvent) => void) => void;
}

function start(script: Script) {
  const { ref: parent, events: told } = recorder();
  let attempts = 0;
  const counts = { refresh: 0, authorize: 0 };
  const machine = upstreamMachine.provide({
    actors: {
      connectStreamableHttp: fromPromise(async () => {
        const answer = script.connects[Math.min(attempts++, script.connects.length - 1)]!;
        if ('kind' in answer) throw answer;
        return answer;
      }),
      discoverAuthorization: fromPromise(async () => script.discover ?? 'sign-in'),
      refreshTokens: fromPromise(async () => {
        counts.refresh++;
        if (script.refresh) throw script.refresh;
      }),
      authorize: fromCallback<UpstreamEvent, { name: string }>(({ sendBack }) => {
        counts.authorize++;
        script.authorize?.(sendBack);
      }),
    },
  });
  const actor = createActor(machine, { input: { name: 'jira', transport: 'http', parentRef: parent } }).start();
  actor.send({ type: 'client.initialized' });
  return { actor, told, counts, attempts: () => attempts };
}

function call(actor: ReturnType<typeof start>['actor']) {
  const outcomes: CallOutcome[] = [];
  actor.send({
    type: 'request.forward',
    id: `call-${Math.random()}`,
    request: { method: 'tools/call', params: { name: 'search' }, label: 'tools/call "search"', timeoutMs: 1_000 },
    reply: (outcome) => outcomes.push(outcome),
  });
  return outcomes;
}

describe('upstream chart: OAuth states', () => {
  it('refreshes stored tokens after a 401 when discovery finds a refresh token, with no sign-in', async () => {
    const { actor, counts, attempts } = start({ connects: [needsAuth, new FakeConnection()], discover: 'refresh' });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect(counts).toEqual({ refresh: 1, authorize: 0 });
    expect(attempts()).toBe(2);
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
  });

  it('signs in when the refresh is refused (invalid_grant), then connects', async () => {
    const { actor, counts } = start({
      connects: [needsAuth, new FakeConnection()],
      discover: 'refresh',
      refresh: { kind: 'auth', code: 'ERR_UPSTREAM_AUTH_EXPIRED', message: 'expired' },
      authorize: (sendBack) => setImmediate(() => sendBack({ type: 'auth.signedIn' })),
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect(counts).toEqual({ refresh: 1, authorize: 1 });
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
  });

  it('settles and answers calls with the sign-in link while the user has to act', async () => {
    let finish: (() => void) | undefined;
    const { actor, told } = start({
      connects: [needsAuth, new FakeConnection()],
      authorize: (sendBack) => {
        sendBack({ type: 'auth.waiting', url: 'https://as.example/authorize?x=1', browserOpened: false });
        finish = () => sendBack({ type: 'auth.signedIn' });
      },
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ authorizing: 'waitingForUser' }));
    expect(actor.getSnapshot().value).toEqual({ authorizing: 'waitingForUser' });
    expect(told).toContainEqual({ type: 'upstream.signIn', name: 'jira', url: 'https://as.example/authorize?x=1' });
    expect(told).toContainEqual({ type: 'upstream.settled', name: 'jira' });
    const outcomes = call(actor);
    expect(outcomes).toMatchObject([
      {
        type: 'failure',
        failure: {
          kind: 'auth',
          code: 'ERR_UPSTREAM_SIGN_IN_NEEDED',
          message: 'upstream "jira" needs you to sign in: open https://as.example/authorize?x=1, then try again',
        },
      },
    ]);
    finish!();
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: { ready: 'idle' } }));
    expect(actor.getSnapshot().value).toEqual({ connected: { ready: 'idle' } });
    expect(actor.getSnapshot().context.signInUrl).toBeUndefined();
  });

  it('device flow: tells the supervisor and every call the code to enter, and forgets it once signed in', async () => {
    let finish: (() => void) | undefined;
    const url = 'https://as.example/device?user_code=BCDF-GHJK';
    const { actor, told } = start({
      connects: [needsAuth, new FakeConnection()],
      authorize: (sendBack) => {
        sendBack({ type: 'auth.waiting', url, browserOpened: false, userCode: 'BCDF-GHJK' });
        finish = () => sendBack({ type: 'auth.signedIn' });
      },
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ authorizing: 'waitingForUser' }));
    expect(told).toContainEqual({ type: 'upstream.signIn', name: 'jira', url, userCode: 'BCDF-GHJK' });
    // A printed code, like a printed link: nobody may be looking, the first list does not wait.
    expect(told).toContainEqual({ type: 'upstream.settled', name: 'jira' });
    const [outcome] = call(actor);
    expect(outcome).toMatchObject({
      type: 'failure',
      failure: {
        kind: 'auth',
        code: 'ERR_UPSTREAM_SIGN_IN_NEEDED',
        message: `upstream "jira" needs you to sign in: open ${url} and enter the code BCDF-GHJK, then try again`,
      },
    });
    finish!();
    await waitFor(actor, (snapshot) => snapshot.matches({ connected: 'ready' }));
    expect(actor.getSnapshot().context.signInUserCode).toBeUndefined();
  });

  it('does not settle while a browser is open for the sign-in: the first list waits for it', async () => {
    const { actor, told } = start({
      connects: [needsAuth, new FakeConnection()],
      authorize: (sendBack) => {
        sendBack({ type: 'auth.waiting', url: 'https://as.example/authorize?x=1', browserOpened: true });
      },
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ authorizing: 'waitingForUser' }));
    expect(actor.getSnapshot().value).toEqual({ authorizing: 'waitingForUser' });
    expect(told).toContainEqual({ type: 'upstream.signIn', name: 'jira', url: 'https://as.example/authorize?x=1' });
    expect(told).not.toContainEqual({ type: 'upstream.settled', name: 'jira' });
  });

  it('takes a new sign-in link while waiting, and answers calls with the latest', async () => {
    let again: (() => void) | undefined;
    const { actor, told } = start({
      connects: [needsAuth, new FakeConnection()],
      authorize: (sendBack) => {
        sendBack({ type: 'auth.waiting', url: 'https://as.example/authorize?x=1', browserOpened: false });
        again = () => sendBack({ type: 'auth.waiting', url: 'https://as.example/authorize?x=2', browserOpened: false });
      },
    });
    await waitFor(actor, (snapshot) => snapshot.matches({ authorizing: 'waitingForUser' }));
    again!();
    expect(actor.getSnapshot().value).toEqual({ authorizing: 'waitingForUser' });
    expect(actor.getSnapshot().context.signInUrl).toBe('https://as.example/authorize?x=2');
    expect(told.filter((event) => event.type === 'upstream.signIn').map((event) => event.url)).toEqual([
      'https://as.example/authorize?x=1',
      'https://as.example/authorize?x=2',
    ]);
    const [outcome] = call(actor);
    expect(outcome).toMatchObject({ failure: { message: expect.stringContaining('authorize?x=2') } });
  });

  it('waits in needsSignIn after a sign-in times out, and a call starts a new one', async () => {
    const { actor, counts } = start({
      connects: [needsAuth],
      authorize: (sendBack) =>
        setImmediate(() =>
          sendBack({
            type: 'auth.failed',
            failure: { kind: 'auth', code: 'ERR_UPSTREAM_SIGN_IN_NEEDED', message: 'timed out' },
          }),
        ),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('needsSignIn'));
    expect(actor.getSnapshot().value).toBe('needsSignIn');
    const outcomes = call(actor);
    expect(outcomes.map((outcome) => outcome.type === 'failure' && outcome.failure.code)).toEqual([
      'ERR_UPSTREAM_SIGN_IN_NEEDED',
    ]);
    expect(counts.authorize).toBe(2);
  });

  it('fails for good on a permanent sign-in failure, and retries later on a network one', async () => {
    const permanent = start({
      connects: [needsAuth],
      authorize: (sendBack) =>
        sendBack({ type: 'auth.failed', failure: { kind: 'permanent', code: 'ERR_X', message: 'no client' } }),
    });
    await waitFor(permanent.actor, (snapshot) => snapshot.matches('failed'));
    expect(permanent.actor.getSnapshot().value).toBe('failed');
    expect(permanent.actor.getSnapshot().context.lastError?.code).toBe('ERR_X');

    const network = start({
      connects: [needsAuth],
      authorize: (sendBack) =>
        sendBack({ type: 'auth.failed', failure: { kind: 'network', code: 'ERR_Y', message: 'AS down' } }),
    });
    await waitFor(network.actor, (snapshot) => snapshot.matches('reconnecting'));
    expect(network.actor.getSnapshot().value).toBe('reconnecting');
  });
});

describe('upstream chart: sign-in asked for by tools/list', () => {
  function refusingList(failure: UpstreamFailure): UpstreamConnection {
    const connection = new FakeConnection();
    connection.listCatalog = () => Promise.reject(failure);
    return connection;
  }

  it('goes to discovery when tools/list needs sign-in after an open initialize', async () => {
    const { actor } = start({ connects: [refusingList(needsAuth)], authorize: () => {} });
    await waitFor(actor, (snapshot) => snapshot.matches({ authorizing: 'starting' }));
    expect(actor.getSnapshot().value).toEqual({ authorizing: 'starting' });
  });

  it('steps up for the scope a 403 on tools/list asks for, and gives up after the allowed step-ups', async () => {
    const wider: UpstreamFailure = {
      kind: 'auth',
      code: 'ERR_UPSTREAM_INSUFFICIENT_SCOPE',
      message: 'more',
      reason: 'mcp:read mcp:write',
    };
    const { actor, counts } = start({
      connects: [refusingList(wider)],
      authorize: (sendBack) => setImmediate(() => sendBack({ type: 'auth.signedIn' })),
    });
    await waitFor(actor, (snapshot) => snapshot.matches('failed'));
    expect(counts.authorize).toBe(2);
    expect(actor.getSnapshot().context.stepUpScope).toBe('mcp:read mcp:write');
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.lastError?.code).toBe('ERR_UPSTREAM_SCOPE_REFUSED');
  });
});
