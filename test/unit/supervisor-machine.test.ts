/**
 * The supervisor statechart on a SimulatedClock, with real upstream children whose connect actor is a fake the
 * test drives: startup and the first tools/list, the registry (collisions, changes, failures) and call routing.
 */
import type { Prompt, Resource, Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock, waitFor } from 'xstate';
import {
  type RequestTarget,
  type RouteOutcome,
  type SupervisedUpstream,
  type SupervisorEmitted,
  supervisorMachine,
} from '../../machines/supervisor/index.js';
import type { ForwardedMethod, UpstreamConnection } from '../../machines/types.js';
import { upstreamMachine } from '../../machines/upstream/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';
import { deferred, FakeServer, flush, SERVER_ANSWER } from '../helpers/machine-fakes.js';

const STARTUP_TIMEOUT_MS = 10_000;

const forbidden: UpstreamFailure = { kind: 'permanent', code: 'ERR_UPSTREAM_FORBIDDEN', message: 'b: 403' };
const unreachable: UpstreamFailure = { kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE', message: 'ECONNREFUSED' };
const ok = SERVER_ANSWER;

function tool(name: string, description = `${name} things`): Tool {
  return { name, description, inputSchema: { type: 'object' } };
}

type UpstreamOptions = Partial<SupervisedUpstream> & { name: string };

const supervised = (upstream: UpstreamOptions): SupervisedUpstream => ({
  transport: 'http',
  filter: () => true,
  timeoutMs: 60_000,
  ...upstream,
});

/** `later`: upstreams a reload may add, whose servers exist from the start. */
function startSupervisor(upstreams: UpstreamOptions[], later: string[] = []) {
  const clock = new SimulatedClock();
  const servers = Object.fromEntries(
    [...upstreams.map(({ name }) => name), ...later].map((name) => [name, new FakeServer()]),
  );
  // Either transport reaches the same fake server.
  const connect = fromPromise<UpstreamConnection, { name: string }>(({ input }) => servers[input.name]!.connect());
  const machine = supervisorMachine.provide({
    actors: {
      upstream: upstreamMachine.provide({ actors: { connectStreamableHttp: connect, connectSse: connect } }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      startupTimeoutMs: STARTUP_TIMEOUT_MS,
      upstreams: upstreams.map(supervised),
    },
  });
  const emitted: SupervisorEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  actor.send({ type: 'client.initialized' });

  /** Asks for the catalog; the returned array fills in with the exposed tool names when it is answered. */
  const list = () => {
    const answers: string[][] = [];
    actor.send({
      type: 'catalog.get',
      reply: (catalog) => answers.push(catalog.tools.items.map(({ definition }) => definition.name)),
    });
    return answers;
  };
  let requests = 0;
  /** The first answer to each routed request, by the list of its answers (see `answered`). */
  const firstAnswers = new WeakMap<RouteOutcome[], Promise<RouteOutcome>>();
  /** Routes a request; returns what it is answered. */
  const route = (method: ForwardedMethod, target: RequestTarget, params: Record<string, unknown>) => {
    const first = deferred<RouteOutcome>();
    const outcomes: RouteOutcome[] = [];
    firstAnswers.set(outcomes, first.promise);
    actor.send({
      type: 'request.route',
      id: `request-${++requests}`,
      target,
      request: { method, params, label: method },
      reply: (outcome) => {
        outcomes.push(outcome);
        first.resolve(outcome);
      },
    });
    return outcomes;
  };
  const call = (name: string, args: Record<string, unknown> = {}) =>
    route('tools/call', { kind: 'tool', name }, { name, arguments: args });
  const exposed = () =>
    actor.getSnapshot().context.catalog.tools.items.map(({ exposedName, upstream }) => `${upstream}:${exposedName}`);
  /** Settles with the first answer to the request whose answers are `outcomes`. */
  const answered = (outcomes: RouteOutcome[]) => firstAnswers.get(outcomes)!;
  return {
    actor,
    clock,
    servers: servers as Record<string, FakeServer>,
    emitted,
    list,
    call,
    route,
    exposed,
    answered,
  };
}

describe('supervisor machine: startup', () => {
  it('spawns one upstream actor per configured upstream', () => {
    const { actor } = startSupervisor([{ name: 'a' }, { name: 'b', transport: 'sse-first' }]);
    const { refs } = actor.getSnapshot().context;
    expect(Object.keys(refs)).toEqual(['a', 'b']);
    expect(refs.a!.getSnapshot().context).toMatchObject({ name: 'a', mode: 'http' });
    expect(refs.b!.getSnapshot().context).toMatchObject({ name: 'b', mode: 'sse-first' });
    expect(actor.system.get('upstream:b')).toBe(refs.b);
  });

  it('answers the first tools/list once every upstream has settled', async () => {
    const { servers, list } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    const answers = list();
    await servers.a!.accept([tool('search')]);
    expect(answers).toEqual([]);
    await servers.b!.accept([tool('create')]);
    expect(answers).toEqual([['search', 'create']]);
  });

  it('counts an upstream that failed its first attempt as settled', async () => {
    const { servers, list } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    const answers = list();
    await servers.a!.refuse(unreachable);
    expect(answers).toEqual([]);
    await servers.b!.accept([tool('create')]);
    expect(answers).toEqual([['create']]);
  });

  it('answers the first tools/list after the startup timeout with what is ready by then', async () => {
    const { actor, clock, servers, list } = startSupervisor([{ name: 'a' }, { name: 'slow' }]);
    const first = list();
    const second = list();
    await servers.a!.accept([tool('search')]);
    clock.increment(STARTUP_TIMEOUT_MS - 1);
    expect(first).toEqual([]);
    clock.increment(1);
    expect(actor.getSnapshot().value).toBe('running');
    expect(first).toEqual([['search']]);
    expect(second).toEqual([['search']]);
  });

  it('answers later tools/list requests at once', async () => {
    const { servers, list } = startSupervisor([{ name: 'a' }]);
    await servers.a!.accept([tool('search')]);
    expect(list()).toEqual([['search']]);
  });
});

describe('supervisor machine: the registry', () => {
  it('lets the upstream listed first keep a colliding name even when the other was ready first, warning once', async () => {
    const { servers, emitted, list, exposed } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.b!.accept([tool('search', 'b search')]);
    expect(exposed()).toEqual(['b:search']);

    await servers.a!.accept([tool('search', 'a search')]);
    expect(exposed()).toEqual(['a:search', 'b:b_search']);
    const warning = {
      type: 'warning',
      message: 'tool "search" of upstream "b" collides with upstream "a"; exposed as "b_search"',
    };
    expect(emitted).toEqual([warning]);

    await servers.a!.changeTools([tool('search', 'a search'), tool('create')]);
    expect(exposed()).toEqual(['a:search', 'a:create', 'b:b_search']);
    expect(emitted).toEqual([warning, { type: 'catalog.changed', kinds: ['tools'] }]);
    expect(list()).toEqual([['search', 'create', 'b_search']]);
  });

  it('emits catalog.changed only once the first list was answered, and only for a real change', async () => {
    const { clock, servers, emitted } = startSupervisor([{ name: 'a' }, { name: 'slow' }]);
    await servers.a!.accept([tool('search')]);
    await servers.a!.changeTools([tool('search'), tool('create')]);
    expect(emitted).toEqual([]);
    clock.increment(STARTUP_TIMEOUT_MS);

    await servers.a!.changeTools([tool('search'), tool('create')]);
    expect(emitted).toEqual([]);

    await servers.a!.changeTools([tool('search', 'now with filters'), tool('create')]);
    expect(emitted).toEqual([{ type: 'catalog.changed', kinds: ['tools'] }]);

    await servers.a!.changeTools([tool('search', 'now with filters')]);
    expect(emitted).toEqual([
      { type: 'catalog.changed', kinds: ['tools'] },
      { type: 'catalog.changed', kinds: ['tools'] },
    ]);
  });

  it('applies filters and prefixes from the config', async () => {
    const { servers, exposed } = startSupervisor([
      { name: 'jira', toolPrefix: 'jira_', filter: (toolName) => !toolName.startsWith('delete') },
    ]);
    await servers.jira!.accept([tool('search'), tool('delete_issue')]);
    expect(exposed()).toEqual(['jira:jira_search']);
  });

  it('keeps the tools of a reconnecting upstream and drops those of a failed one', async () => {
    const { clock, servers, emitted, exposed } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('search'), tool('create')]);
    expect(exposed()).toEqual(['a:search', 'b:b_search', 'b:create']);
    emitted.length = 0;

    servers.b!.drop();
    expect(exposed()).toEqual(['a:search', 'b:b_search', 'b:create']);
    clock.increment(1_000);
    await servers.b!.refuse(forbidden);
    expect(exposed()).toEqual(['a:search']);
    expect(emitted).toEqual([{ type: 'catalog.changed', kinds: ['tools'] }]);
  });
});

describe('supervisor machine: calls', () => {
  it('replies unknown-target to a tool name it does not expose', async () => {
    const { servers, call } = startSupervisor([{ name: 'a' }]);
    await servers.a!.accept([tool('search')]);
    expect(call('a_search')).toEqual([{ type: 'unknown-target', target: { kind: 'tool', name: 'a_search' } }]);
    expect(servers.a!.requests).toEqual([]);
  });

  it("routes a call to the owning upstream with the tool's original name and the upstream's timeout", async () => {
    const { servers, call, answered } = startSupervisor([
      { name: 'a', timeoutMs: 1_000 },
      { name: 'b', timeoutMs: 2_000 },
    ]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('search')]);

    const outcomes = call('b_search', { q: 'bug' });
    await answered(outcomes);
    expect(servers.a!.requests).toEqual([]);
    expect(servers.b!.requests).toEqual([{ name: 'search', arguments: { q: 'bug' }, timeoutMs: 2_000 }]);
    expect(outcomes).toEqual([{ ...ok, upstream: 'b' }]);
  });

  it('routes to a prefixed tool by its original name', async () => {
    const { servers, call } = startSupervisor([{ name: 'jira', toolPrefix: 'jira_', timeoutMs: 3_000 }]);
    await servers.jira!.accept([tool('search')]);
    call('jira_search');
    await flush();
    expect(servers.jira!.requests).toEqual([{ name: 'search', arguments: {}, timeoutMs: 3_000 }]);
  });

  it('holds a call to a name not known yet until startup settles, then routes it', async () => {
    const { servers, call, answered } = startSupervisor([
      { name: 'a', timeoutMs: 1_000 },
      { name: 'b', timeoutMs: 2_000 },
    ]);
    await servers.a!.accept([tool('search')]);
    const outcomes = call('create');
    await flush();
    expect(outcomes).toEqual([]);

    await servers.b!.accept([tool('create')]);
    expect(servers.b!.requests).toEqual([{ name: 'create', arguments: {}, timeoutMs: 2_000 }]);
    await answered(outcomes);
    expect(outcomes).toEqual([{ ...ok, upstream: 'b' }]);
  });

  it('replies unknown-target to a held call whose name is still unknown when the startup timeout ends', async () => {
    const { clock, servers, call } = startSupervisor([{ name: 'a' }, { name: 'slow' }]);
    await servers.a!.accept([tool('search')]);
    const outcomes = call('create');
    clock.increment(STARTUP_TIMEOUT_MS - 1);
    expect(outcomes).toEqual([]);
    clock.increment(1);
    expect(outcomes).toEqual([{ type: 'unknown-target', target: { kind: 'tool', name: 'create' } }]);
  });

  it('no longer routes to the tools of an upstream once it failed', async () => {
    const { clock, servers, call } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('create')]);
    servers.b!.drop();
    clock.increment(1_000);
    await servers.b!.refuse(forbidden);
    expect(call('create')).toEqual([{ type: 'unknown-target', target: { kind: 'tool', name: 'create' } }]);
    expect(servers.b!.requests).toEqual([]);
  });
});

function prompt(name: string): Prompt {
  return { name, description: `${name} prompt`, arguments: [{ name: 'topic', required: true }] };
}

function resource(uri: string): Resource {
  return { uri, name: uri.split('/').pop()! };
}

describe('supervisor machine: prompts and resources', () => {
  it('names prompts like tools (prefix, collisions by config order) and routes them by their original name', async () => {
    const { actor, servers, route, emitted } = startSupervisor([{ name: 'a' }, { name: 'b', toolPrefix: 'b.' }]);
    await servers.a!.accept([], { prompts: [prompt('summarize'), prompt('b.review')] });
    await servers.b!.accept([], { prompts: [prompt('review')] });
    const names = actor.getSnapshot().context.catalog.prompts.items.map(({ definition }) => definition.name);
    expect(names).toEqual(['summarize', 'b_review', 'b_review_2']);
    expect(emitted).toContainEqual({
      type: 'warning',
      message: 'prompt "review" of upstream "b" collides with upstream "a"; exposed as "b_review_2"',
    });

    route('prompts/get', { kind: 'prompt', name: 'b_review_2' }, { name: 'b_review_2', arguments: { topic: 'x' } });
    route(
      'completion/complete',
      { kind: 'prompt', name: 'b_review_2' },
      { ref: { type: 'ref/prompt', name: 'b_review_2' }, argument: { name: 'topic', value: 'x' } },
    );
    await flush();
    expect(servers.a!.requests).toEqual([]);
    expect(servers.b!.requests).toEqual([
      { method: 'prompts/get', name: 'review', arguments: { topic: 'x' }, timeoutMs: 60_000 },
      {
        method: 'completion/complete',
        ref: { type: 'ref/prompt', name: 'review' },
        argument: { name: 'topic', value: 'x' },
        timeoutMs: 60_000,
      },
    ]);
  });

  it('routes a resource URI to the upstream that lists it, or whose template matches it; the first listed wins', async () => {
    const { servers, route, emitted } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([], { resources: [resource('file:///shared/readme')] });
    await servers.b!.accept([], {
      resources: [resource('file:///shared/readme'), resource('mem://b/1')],
      resourceTemplates: [{ uriTemplate: 'mem://b/items/{id}', name: 'item' }],
    });
    expect(emitted).toContainEqual({
      type: 'warning',
      message: 'resource file:///shared/readme of upstream "b" is also listed by upstream "a"; the first is kept',
    });

    route('resources/read', { kind: 'resource', uri: 'file:///shared/readme' }, { uri: 'file:///shared/readme' });
    route('resources/read', { kind: 'resource', uri: 'mem://b/items/42' }, { uri: 'mem://b/items/42' });
    const unknown = route('resources/read', { kind: 'resource', uri: 'mem://c/1' }, { uri: 'mem://c/1' });
    await flush();
    expect(servers.a!.requests).toEqual([
      { method: 'resources/read', uri: 'file:///shared/readme', timeoutMs: 60_000 },
    ]);
    expect(servers.b!.requests).toEqual([{ method: 'resources/read', uri: 'mem://b/items/42', timeoutMs: 60_000 }]);
    // Two upstreams have resources: an unlisted URI that no template matches could be either's.
    expect(unknown).toEqual([{ type: 'unknown-target', target: { kind: 'resource', uri: 'mem://c/1' } }]);
  });

  it('sends a task request to the upstream the target names, unchanged; an unknown upstream is an unknown target', async () => {
    const { servers, route, answered } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('search')]);
    const outcomes = route('tasks/get', { kind: 'task', upstream: 'b', taskId: 't-1' }, { taskId: 't-1' });
    const unknown = route('tasks/get', { kind: 'task', upstream: 'gone', taskId: 't-1' }, { taskId: 't-1' });
    await answered(outcomes);
    expect(servers.a!.requests).toEqual([]);
    expect(servers.b!.requests).toEqual([{ method: 'tasks/get', taskId: 't-1', timeoutMs: 60_000 }]);
    expect(outcomes).toEqual([{ ...ok, upstream: 'b' }]);
    expect(unknown).toEqual([{ type: 'unknown-target', target: { kind: 'task', upstream: 'gone', taskId: 't-1' } }]);
  });

  it('sends an unlisted URI to the one upstream that has resources', async () => {
    const { servers, route, answered } = startSupervisor([{ name: 'tools-only' }, { name: 'docs' }]);
    await servers['tools-only']!.accept([tool('search')]);
    await servers.docs!.accept([], { resources: [resource('docs://index')] });
    const outcomes = route('resources/read', { kind: 'resource', uri: 'docs://page/7' }, { uri: 'docs://page/7' });
    await answered(outcomes);
    expect(servers.docs!.requests).toEqual([{ method: 'resources/read', uri: 'docs://page/7', timeoutMs: 60_000 }]);
    expect(outcomes).toEqual([{ ...ok, upstream: 'docs' }]);
  });

  it('emits catalog.changed for the kinds that changed', async () => {
    const { clock, servers, emitted } = startSupervisor([{ name: 'a' }]);
    await servers.a!.accept([tool('search')]);
    clock.increment(STARTUP_TIMEOUT_MS);
    servers.a!.catalog = { ...servers.a!.catalog, prompts: [prompt('summarize')] };
    await servers.a!.changeTools([tool('search')]);
    expect(emitted).toEqual([{ type: 'catalog.changed', kinds: ['prompts'] }]);
  });
});

describe('supervisor machine: session state', () => {
  it('gives every upstream the log level, at once when ready, and again with subscriptions after a reconnect', async () => {
    const { actor, clock, servers, route } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([], { resources: [resource('mem://a/1')] });
    actor.send({ type: 'logging.setLevel', level: 'warning' });
    expect(servers.a!.logLevels).toEqual(['warning']);
    // b is still connecting: it gets the level with its session state once ready.
    expect(servers.b!.logLevels).toEqual([]);
    await servers.b!.accept([tool('x')]);
    expect(servers.b!.restored).toEqual([{ subscriptions: [], logLevel: 'warning' }]);

    route('resources/subscribe', { kind: 'resource', uri: 'mem://a/1' }, { uri: 'mem://a/1' });
    route('resources/subscribe', { kind: 'resource', uri: 'mem://a/2' }, { uri: 'mem://a/2' });
    route('resources/unsubscribe', { kind: 'resource', uri: 'mem://a/2' }, { uri: 'mem://a/2' });
    await flush();
    servers.a!.drop();
    clock.increment(1_000);
    await servers.a!.accept([], { resources: [resource('mem://a/1')] });
    expect(servers.a!.restored.at(-1)).toEqual({ subscriptions: ['mem://a/1'], logLevel: 'warning' });
  });
});

describe('supervisor machine: reload', () => {
  const reload = (upstreams: UpstreamOptions[], restart: string[] = []) =>
    ({ type: 'config.reload', upstreams: upstreams.map(supervised), restart }) as const;

  it('keeps the actor of an unchanged upstream and spawns one for an added upstream, which connects at once', async () => {
    const { actor, servers, list, emitted } = startSupervisor([{ name: 'a' }], ['b']);
    await servers.a!.accept([tool('search')]);
    expect(list()).toEqual([['search']]);
    const kept = actor.getSnapshot().context.refs.a;
    actor.send({ type: 'logging.setLevel', level: 'debug' });

    actor.send(reload([{ name: 'a' }, { name: 'b' }]));
    expect(actor.getSnapshot().context.refs.a).toBe(kept);
    // No client.initialized for it: the client did that long ago.
    await servers.b!.accept([tool('create')]);
    expect(list()).toEqual([['search', 'create']]);
    expect(servers.b!.restored).toEqual([{ subscriptions: [], logLevel: 'debug' }]);
    expect(emitted).toContainEqual({ type: 'catalog.changed', kinds: ['tools'] });
  });

  it('retires a removed upstream: its tools go, and its actor is stopped once it has ended', async () => {
    const { actor, servers, list, call } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('create')]);
    const retiring = actor.getSnapshot().context.refs.b!;

    actor.send(reload([{ name: 'a' }]));
    expect(list()).toEqual([['search']]);
    expect(await call('create')).toEqual([{ type: 'unknown-target', target: { kind: 'tool', name: 'create' } }]);
    await waitFor(retiring, (snapshot) => snapshot.status === 'done');
    await flush();
    expect(Object.keys(actor.getSnapshot().children)).toEqual(['a']);
  });

  it('replaces the actor of a changed upstream, keeping its tools exposed and its calls waiting until it lists', async () => {
    const { actor, servers, call, answered } = startSupervisor([{ name: 'a' }], ['a']);
    await servers.a!.accept([tool('search')]);
    const old = actor.getSnapshot().context.refs.a!;

    actor.send(reload([{ name: 'a' }], ['a']));
    const replaced = actor.getSnapshot().context.refs.a!;
    expect(replaced).not.toBe(old);
    expect(replaced.id).toBe('a#2');
    expect(actor.getSnapshot().context.catalog.tools.items.map((item) => item.exposedName)).toEqual(['search']);
    const outcomes = call('search');
    await servers.a!.accept([tool('search')]);
    expect(await answered(outcomes)).toEqual({ ...ok, upstream: 'a' });
    await waitFor(old, (snapshot) => snapshot.status === 'done');
  });

  it('applies new filters to a kept upstream without a new session', async () => {
    const { actor, servers, exposed, emitted } = startSupervisor([{ name: 'a' }]);
    await servers.a!.accept([tool('search'), tool('delete')]);
    const kept = actor.getSnapshot().context.refs.a;

    actor.send(reload([{ name: 'a', filter: (name) => name !== 'delete' }]));
    expect(exposed()).toEqual(['a:search']);
    expect(actor.getSnapshot().context.refs.a).toBe(kept);
    expect(emitted).toContainEqual({ type: 'catalog.changed', kinds: ['tools'] });
  });
});
