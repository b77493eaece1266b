/**
 * The fakes the statechart tests share (test/unit/*-machine.test.ts, upstream-auth-states.test.ts): a connection
 * whose answers and signals the test controls, connect actors that answer in a script, and a stand-in parent that
 * records what a machine tells it. No I/O: the machines run on them alone.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { type AnyEventObject, createActor, fromCallback, fromPromise } from 'xstate';
import type {
  CallOutcome,
  ConnectionSignal,
  ForwardedRequest,
  SessionState,
  TransportKind,
  UpstreamConnection,
} from '../../machines/types.js';
import { EMPTY_CATALOG, type UpstreamCatalog } from '../../src/catalog/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';

/**
 * Lets fake promise actors settle and the machine process what they send back. For a test that checks that
 * something did not happen meanwhile; to wait for something that does, use xstate's `waitFor`.
 */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export function tool(name: string): Tool {
  return { name, inputSchema: { type: 'object' } };
}

export function catalogOf(tools: Tool[]): UpstreamCatalog {
  return { ...EMPTY_CATALOG, tools };
}

/** An actor standing in for a parent (the supervisor, or a call's upstream): records what it is told. */
export function recorder() {
  const events: AnyEventObject[] = [];
  const ref = createActor(
    fromCallback<AnyEventObject>(({ receive }) => {
      receive((event) => {
        events.push(event);
      });
    }),
  ).start();
  return { ref, events };
}

/** A live session whose tools, call answers and signals the test controls. */
export class FakeConnection implements UpstreamConnection {
  listCount = 0;
  closeCount = 0;
  checkAliveCount = 0;
  readonly requests: ForwardedRequest[] = [];
  /** Requests still waiting for an answer; closing the connection ends them, as the SDK client's close does. */
  private readonly pending = new Set<(outcome: CallOutcome) => void>();
  private listener: ((signal: ConnectionSignal) => void) | undefined;

  /** `answers`: to requests, in order; a request beyond them waits until the connection is closed. */
  constructor(
    readonly transport: TransportKind = 'http',
    public tools: Tool[] = [tool('search')],
    readonly answers: Array<Promise<CallOutcome>> = [],
  ) {}

  /** A connection whose requests get `answers`, in order. */
  static answering(...answers: Array<Promise<CallOutcome>>): FakeConnection {
    return new FakeConnection('http', [tool('search')], answers);
  }

  listCatalog(): Promise<UpstreamCatalog> {
    this.listCount++;
    return Promise.resolve(catalogOf(this.tools));
  }
  restore(): void {}
  setLogLevel(): void {}
  request(request: ForwardedRequest, _ended?: AbortSignal): Promise<CallOutcome> {
    this.requests.push(request);
    const answer = this.answers.shift();
    if (answer) return answer;
    return new Promise((resolve) => this.pending.add(resolve));
  }
  watch(listener: (signal: ConnectionSignal) => void): () => void {
    this.listener = listener;
    return () => {
      this.listener = undefined;
    };
  }
  close(): Promise<void> {
    this.closeCount++;
    const closed: CallOutcome = {
      type: 'failure',
      failure: { kind: 'network', code: 'ERR_UPSTREAM_CONNECTION_LOST', message: 'Connection closed' },
    };
    for (const resolve of this.pending) resolve(closed);
    this.pending.clear();
    return Promise.resolve();
  }
  checkAlive(): void {
    this.checkAliveCount++;
  }
  signal(signal: ConnectionSignal): void {
    if (!this.listener) throw new Error('nobody watches this connection');
    this.listener(signal);
  }
}

/** A connect actor that answers attempt n (from 1) with `answer(n)`: a connection, or a failure it throws. */
export function connector(answer: (attempt: number) => UpstreamConnection | UpstreamFailure) {
  const calls: string[] = [];
  const logic = fromPromise<UpstreamConnection, { name: string }>(async ({ input }) => {
    calls.push(input.name);
    const outcome = answer(calls.length);
    if ('kind' in outcome) throw outcome;
    return outcome;
  });
  return {
    logic,
    get attempts() {
      return calls.length;
    },
  };
}

/** What a FakeServer answers every request with. */
export const SERVER_ANSWER: CallOutcome = { type: 'result', result: { content: [{ type: 'text', text: 'done' }] } };

/** One upstream server: each connect attempt waits until the test accepts or refuses it. */
export class FakeServer implements UpstreamConnection {
  readonly transport = 'http' as const;
  catalog: UpstreamCatalog = { tools: [], prompts: [], resources: [], resourceTemplates: [] };
  /** What each request carried, with the timeout it got (tools/call params are `{ name, arguments }`). */
  readonly requests: Array<Record<string, unknown>> = [];
  readonly restored: SessionState[] = [];
  readonly logLevels: string[] = [];
  private attempt: { resolve: (connection: UpstreamConnection) => void; reject: (error: unknown) => void } | undefined;
  private listener: ((signal: ConnectionSignal) => void) | undefined;

  connect(): Promise<UpstreamConnection> {
    return new Promise((resolve, reject) => {
      this.attempt = { resolve, reject };
    });
  }
  /** Accepts the pending connect attempt and serves `tools` (and whatever else the catalog has). */
  async accept(tools: Tool[], more: Partial<UpstreamCatalog> = {}): Promise<void> {
    this.catalog = { ...this.catalog, ...more, tools };
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
    this.listener?.({
      type: 'lost',
      failure: { kind: 'network', code: 'ERR_UPSTREAM_CONNECTION_LOST', message: 'stream ended' },
    });
  }
  async changeTools(tools: Tool[]): Promise<void> {
    this.catalog = { ...this.catalog, tools };
    this.listener?.({ type: 'catalog-changed' });
    await flush();
  }

  listCatalog(): Promise<UpstreamCatalog> {
    // Fresh objects every time, as a real list would be.
    return Promise.resolve(structuredClone(this.catalog));
  }
  request(request: ForwardedRequest): Promise<CallOutcome> {
    const { method, params, timeoutMs } = request;
    this.requests.push(method === 'tools/call' ? { ...params, timeoutMs } : { method, ...params, timeoutMs });
    return Promise.resolve(SERVER_ANSWER);
  }
  restore(state: SessionState): void {
    this.restored.push(structuredClone(state));
  }
  setLogLevel(level: string): void {
    this.logLevels.push(level);
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
