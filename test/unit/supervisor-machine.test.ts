/**
 * The supervisor statechart on a SimulatedClock, with real upstream children whose connect actor is a fake the
 * test drives: startup and the first tools/list, the registry (collisions, changes, failures) and call routing.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { type SupervisedUpstream, type SupervisorEmitted, supervisorMachine } from '../../machines/supervisor.js';
import type {
  CallOutcome,
  ConnectionSignal,
  ToolCallRequest,
  UpstreamConnection,
  UpstreamFailure,
} from '../../machines/types.js';
import { upstreamMachine } from '../../machines/upstream.js';

const STARTUP_TIMEOUT_MS = 10_000;

const forbidden: UpstreamFailure = { kind: 'permanent', code: 'ERR_UPSTREAM_FORBIDDEN', message: 'b: 403' };
const unreachable: UpstreamFailure = { kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE', message: 'ECONNREFUSED' };
const dropped: UpstreamFailure = { kind: 'network', code: 'ERR_UPSTREAM_CONNECTION_LOST', message: 'stream ended' };
const ok: CallOutcome = { type: 'result', result: { content: [{ type: 'text', text: 'done' }] } };

function tool(name: string, description = `${name} things`): Tool {
  return { name, description, inputSchema: { type: 'object' } };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One upstream server: each connect attempt waits until the test accepts or refuses it. */
class FakeServer implements UpstreamConnection {
  readonly transport = 'http' as const;
  tools: Tool[] = [];
  readonly requests: ToolCallRequest[] = [];
  private attempt: { resolve: (connection: UpstreamConnection) => void; reject: (error: unknown) => void } | undefined;
  private listener: ((signal: ConnectionSignal) => void) | undefined;

  connect(): Promise<UpstreamConnection> {
    return new Promise((resolve, reject) => {
      this.attempt = { resolve, reject };
    });
  }
  /** Accepts the pending connect attempt and serves `tools`. */
  async accept(tools: Tool[]): Promise<void> {
    this.tools = tools;
    this.pending().resolve(this);
    await flush();
  }
  async refuse(failure: UpstreamFailure): Promise<void> {
    this.pending().reject(failure);
    await flush();
  }
  checkAlive(): void {}
  /** Drops the live connection (the upstream then reconnects after its backoff). */
  drop(): void {
    this.listener?.({ type: 'lost', failure: dropped });
  }
  async changeTools(tools: Tool[]): Promise<void> {
    this.tools = tools;
    this.listener?.({ type: 'tools-changed' });
    await flush();
  }

  listTools(): Promise<Tool[]> {
    // Fresh objects every time, as a real list would be.
    return Promise.resolve(structuredClone(this.tools));
  }
  callTool(request: ToolCallRequest): Promise<CallOutcome> {
    this.requests.push(request);
    return Promise.resolve(ok);
  }
  watch(listener: (signal: ConnectionSignal) => void): () => void {
    this.listener = listener;
    return () => {
      this.listener = undefined;
    };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  private pending() {
    const { attempt } = this;
    if (!attempt) throw new Error('no connect attempt is pending');
    this.attempt = undefined;
    return attempt;
  }
}

type UpstreamOptions = Partial<SupervisedUpstream> & { name: string };

function startSupervisor(upstreams: UpstreamOptions[]) {
  const clock = new SimulatedClock();
  const servers = Object.fromEntries(upstreams.map(({ name }) => [name, new FakeServer()]));
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
      upstreams: upstreams.map(
        (upstream): SupervisedUpstream => ({
          transport: 'http',
          filter: () => true,
          timeoutMs: 60_000,
          ...upstream,
        }),
      ),
    },
  });
  const emitted: SupervisorEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();

  /** Sends `tools.list`; the returned array fills in when it is answered. */
  const list = () => {
    const answers: string[][] = [];
    actor.send({ type: 'tools.list', reply: (tools) => answers.push(tools.map((definition) => definition.name)) });
    return answers;
  };
  const call = (name: string, args: Record<string, unknown> = {}) => {
    const outcomes: Array<CallOutcome | { type: 'unknown-tool'; name: string }> = [];
    actor.send({
      type: 'tool.call',
      id: `call-${name}`,
      name,
      request: { arguments: args },
      reply: (outcome) => outcomes.push(outcome),
    });
    return outcomes;
  };
  const exposed = () =>
    actor.getSnapshot().context.registry.tools.map(({ exposedName, upstream }) => `${upstream}:${exposedName}`);
  return { actor, clock, servers: servers as Record<string, FakeServer>, emitted, list, call, exposed };
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
    expect(emitted).toEqual([warning, { type: 'tools.changed' }]);
    expect(list()).toEqual([['search', 'create', 'b_search']]);
  });

  it('emits tools.changed only once the first list was answered, and only for a real change', async () => {
    const { clock, servers, emitted } = startSupervisor([{ name: 'a' }, { name: 'slow' }]);
    await servers.a!.accept([tool('search')]);
    await servers.a!.changeTools([tool('search'), tool('create')]);
    expect(emitted).toEqual([]);
    clock.increment(STARTUP_TIMEOUT_MS);

    await servers.a!.changeTools([tool('search'), tool('create')]);
    expect(emitted).toEqual([]);

    await servers.a!.changeTools([tool('search', 'now with filters'), tool('create')]);
    expect(emitted).toEqual([{ type: 'tools.changed' }]);

    await servers.a!.changeTools([tool('search', 'now with filters')]);
    expect(emitted).toEqual([{ type: 'tools.changed' }, { type: 'tools.changed' }]);
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
    expect(emitted).toEqual([{ type: 'tools.changed' }]);
  });
});

describe('supervisor machine: calls', () => {
  it('replies unknown-tool to a name it does not expose', async () => {
    const { servers, call } = startSupervisor([{ name: 'a' }]);
    await servers.a!.accept([tool('search')]);
    expect(call('a_search')).toEqual([{ type: 'unknown-tool', name: 'a_search' }]);
    expect(servers.a!.requests).toEqual([]);
  });

  it("routes a call to the owning upstream with the tool's original name and the upstream's timeout", async () => {
    const { servers, call } = startSupervisor([
      { name: 'a', timeoutMs: 1_000 },
      { name: 'b', timeoutMs: 2_000 },
    ]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('search')]);

    const outcomes = call('b_search', { q: 'bug' });
    await flush();
    expect(servers.a!.requests).toEqual([]);
    expect(servers.b!.requests).toEqual([{ name: 'search', arguments: { q: 'bug' }, timeoutMs: 2_000 }]);
    expect(outcomes).toEqual([ok]);
  });

  it('routes to a prefixed tool by its original name', async () => {
    const { servers, call } = startSupervisor([{ name: 'jira', toolPrefix: 'jira_', timeoutMs: 3_000 }]);
    await servers.jira!.accept([tool('search')]);
    call('jira_search');
    await flush();
    expect(servers.jira!.requests).toEqual([{ name: 'search', arguments: {}, timeoutMs: 3_000 }]);
  });

  it('holds a call to a name not known yet until startup settles, then routes it', async () => {
    const { servers, call } = startSupervisor([
      { name: 'a', timeoutMs: 1_000 },
      { name: 'b', timeoutMs: 2_000 },
    ]);
    await servers.a!.accept([tool('search')]);
    const outcomes = call('create');
    await flush();
    expect(outcomes).toEqual([]);

    await servers.b!.accept([tool('create')]);
    expect(servers.b!.requests).toEqual([{ name: 'create', arguments: {}, timeoutMs: 2_000 }]);
    await flush();
    expect(outcomes).toEqual([ok]);
  });

  it('replies unknown-tool to a held call whose name is still unknown when the startup timeout ends', async () => {
    const { clock, servers, call } = startSupervisor([{ name: 'a' }, { name: 'slow' }]);
    await servers.a!.accept([tool('search')]);
    const outcomes = call('create');
    clock.increment(STARTUP_TIMEOUT_MS - 1);
    expect(outcomes).toEqual([]);
    clock.increment(1);
    expect(outcomes).toEqual([{ type: 'unknown-tool', name: 'create' }]);
  });

  it('no longer routes to the tools of an upstream once it failed', async () => {
    const { clock, servers, call } = startSupervisor([{ name: 'a' }, { name: 'b' }]);
    await servers.a!.accept([tool('search')]);
    await servers.b!.accept([tool('create')]);
    servers.b!.drop();
    clock.increment(1_000);
    await servers.b!.refuse(forbidden);
    expect(call('create')).toEqual([{ type: 'unknown-tool', name: 'create' }]);
    expect(servers.b!.requests).toEqual([]);
  });
});
