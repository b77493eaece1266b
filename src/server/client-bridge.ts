/**
 * The downstream client as the upstream sessions see it: its declared capabilities, its answers to sampling,
 * elicitation and roots requests, and where upstream log messages and resource updates go.
 */
import { randomUUID } from 'node:crypto';
import type { ClientCapabilities, LoggingLevel, Server } from '@modelcontextprotocol/server';
import type { ClientBridge, ClientRequestMethod } from '../upstream/bridge.js';

/**
 * A person may take a while to answer an elicitation, a model to sample. The upstream cancels sooner if it wants
 * to (its cancellation aborts ours); this bound only keeps a request from waiting forever on a silent client.
 */
const CLIENT_REQUEST_TIMEOUT_MS = 10 * 60_000;

/**
 * At most this many notifications go to the client per turn of the event loop; the rest wait in one queue, drained
 * a batch per turn, each batch after the last was written (the stdio transport's backpressure). A reply is then
 * never written behind thousands of notifications one upstream flooded us with, and the other upstreams' calls
 * keep their latency. Until the budget is spent a notification goes out at once, so in the usual case an upstream's
 * log message still reaches the client before the result it preceded. A small batch also keeps the writes waiting
 * for `drain` few (each holds a listener on stdout).
 */
const RELAY_BATCH = 16;
/** Log messages held at most; beyond, they are dropped and counted, and one message says how many. */
const RELAY_BACKLOG_LIMIT = 10_000;

const SEVERITY: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

export function isLoggingLevel(value: unknown): value is LoggingLevel {
  return SEVERITY.includes(value as LoggingLevel);
}

export interface DownstreamClientBridge extends ClientBridge {
  /**
   * The client's `logging/setLevel` (or a 2026-07-28 client's per-request level): messages below it are not passed
   * on (upstreams may ignore the level). `off`: none are; `undefined`: all are.
   */
  setLogLevel(level: LoggingLevel | 'off' | undefined): void;
  /** The client said its roots changed. */
  rootsChanged(): void;
  /**
   * Queues a progress notification behind the log messages; while one for the same `key` (the client's progress
   * token) still waits, the newer replaces it: a client behind on progress needs only the latest.
   */
  relayProgress(key: string | number, send: () => Promise<void>): void;
  /** The request of that progress token was answered: progress still queued for it is of no use any more. */
  forgetProgress(key: string | number): void;
}

/** A notification waiting to be sent; `send` is replaced when a newer progress for the same key arrives. */
interface Pending {
  send: () => Promise<void>;
  progressKey?: string | number;
}

/** The notification queue, drained RELAY_BATCH at a time; log messages over the limit are counted per upstream. */
function createRelay() {
  const queue: Pending[] = [];
  let head = 0;
  let logsQueued = 0;
  const progress = new Map<string | number, Pending>();
  const dropped = new Map<string, number>();
  let scheduled = false;

  const drain = () => {
    const batch: Array<Promise<void>> = [];
    while (batch.length < RELAY_BATCH && head < queue.length) {
      const pending = queue[head++]!;
      if (pending.progressKey === undefined) logsQueued--;
      else if (progress.get(pending.progressKey) === pending) progress.delete(pending.progressKey);
      else continue; // forgotten
      batch.push(pending.send().catch(() => {}));
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      reportDropped();
    } else if (head > 1_024 && head * 2 > queue.length) {
      // Compact now and then rather than shift() per message (O(n) each on a long queue).
      queue.splice(0, head);
      head = 0;
    }
    if (queue.length === 0 && batch.length === 0) {
      scheduled = false;
      return;
    }
    void Promise.all(batch).then(() => setImmediate(drain));
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };
  /** Sent at once this turn (nothing waiting, budget left)? */
  let sentThisTurn = 0;
  const sendNow = (send: () => Promise<void>): boolean => {
    if (scheduled || sentThisTurn >= RELAY_BATCH) return false;
    if (sentThisTurn++ === 0) setImmediate(() => (sentThisTurn = 0));
    send().catch(() => {});
    return true;
  };
  let report: (upstream: string, count: number) => void = () => {};
  const reportDropped = () => {
    for (const [upstream, count] of dropped) report(upstream, count);
    dropped.clear();
  };

  return {
    onDropped(listener: (upstream: string, count: number) => void) {
      report = listener;
    },
    log(upstream: string, send: () => Promise<void>) {
      if (logsQueued >= RELAY_BACKLOG_LIMIT) {
        dropped.set(upstream, (dropped.get(upstream) ?? 0) + 1);
        return;
      }
      if (sendNow(send)) return;
      logsQueued++;
      queue.push({ send });
      schedule();
    },
    progress(key: string | number, send: () => Promise<void>) {
      const waiting = progress.get(key);
      if (waiting) {
        waiting.send = send;
        return;
      }
      if (sendNow(send)) return;
      const pending = { send, progressKey: key };
      progress.set(key, pending);
      queue.push(pending);
      schedule();
    },
    forget(key: string | number) {
      progress.delete(key);
    },
  };
}

export interface BridgedServer {
  /** The server the client talks to now (none before the client opened the connection). */
  current(): Server | undefined;
  /** What the client declared. */
  capabilities(): ClientCapabilities;
  /** An upstream's task status as the client should get it (its task id translated), or undefined to drop it. */
  taskStatus?(upstream: string, params: Record<string, unknown>): Record<string, unknown> | undefined;
}

/**
 * A 2026-07-28 upstream's URL elicitation has no `elicitationId` (that revision dropped it, with the completion
 * notification it keyed); a 2025-era client requires one, so it gets one of ours. Nothing is ever completed by it.
 */
function withElicitationId(
  method: ClientRequestMethod,
  params: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (method !== 'elicitation/create' || params?.mode !== 'url' || typeof params.elicitationId === 'string')
    return params;
  return { ...params, elicitationId: randomUUID() };
}

export function createClientBridge({ current, capabilities, taskStatus }: BridgedServer): DownstreamClientBridge {
  const rootsListeners = new Set<() => void>();
  let threshold: number | undefined;
  const ignore = () => {};
  const relay = createRelay();
  const notify = (upstream: string, params: { level: string; data?: unknown; logger?: string }) =>
    current()?.notification({ method: 'notifications/message', params: { ...params, logger: upstream } }) ??
    Promise.resolve();
  // Said once the queue has room again, at the level of a warning (which the client's level lets through).
  relay.onDropped((upstream, count) => {
    const data = `mcp-upstream-proxy: dropped ${count} log messages from upstream "${upstream}": it sent them faster than the client read them`;
    notify(upstream, { level: 'warning', data }).catch(ignore);
  });
  return {
    get capabilities() {
      return capabilities();
    },
    request(_upstream: string, method: ClientRequestMethod, params, signal) {
      const server = current();
      if (!server) return Promise.reject(new Error('the client is not connected'));
      return server.request(
        { method, params: withElicitationId(method, params) },
        { signal, timeout: CLIENT_REQUEST_TIMEOUT_MS },
      );
    },
    log(upstream, params) {
      const level = SEVERITY.indexOf(params.level as LoggingLevel);
      // Past the last level (`off`), even a level we do not know is held back.
      if (threshold !== undefined && (threshold === SEVERITY.length || (level !== -1 && level < threshold))) return;
      relay.log(upstream, () => notify(upstream, params));
    },
    relayProgress(key, send) {
      relay.progress(key, send);
    },
    forgetProgress(key) {
      relay.forget(key);
    },
    resourceUpdated(_upstream, params) {
      current()?.sendResourceUpdated(params).catch(ignore);
    },
    taskStatus(upstream, params) {
      const shown = taskStatus?.(upstream, params);
      if (!shown) return;
      // Queued like progress, keyed by task: a client behind on a task's statuses needs only its latest.
      relay.progress(
        `task:${upstream}:${String(shown.taskId)}`,
        () =>
          (current()?.notification({ method: 'notifications/tasks/status', params: shown } as never) ??
            Promise.resolve()) as Promise<void>,
      );
    },
    onRootsChanged(listener) {
      rootsListeners.add(listener);
      return () => rootsListeners.delete(listener);
    },
    setLogLevel(level) {
      threshold = level === undefined ? undefined : level === 'off' ? SEVERITY.length : SEVERITY.indexOf(level);
    },
    rootsChanged() {
      for (const listener of rootsListeners) listener();
    },
  };
}
