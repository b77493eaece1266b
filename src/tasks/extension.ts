/**
 * The 2026-07-28 `io.modelcontextprotocol/tasks` extension (SEP-2663), for a client of that era that declares it in
 * a request's capabilities, made out of the 2025-11-25 tasks its upstreams speak.
 *
 * The two lifecycles differ, and this is the translation:
 * - A `tools/call` of a tool the upstream runs as a task is sent task-augmented; its CreateTaskResult (`{ task }`)
 *   is answered as the extension's (`resultType: "task"`, the task's fields inline, `ttlMs`, `pollIntervalMs`).
 * - `tasks/get` is the upstream's `tasks/get`, and more: the extension has no `tasks/result`, a terminal task
 *   carries its outcome. So once the upstream says the task ended, the proxy fetches `tasks/result` and answers
 *   `completed` with the `result`, or `failed` with the JSON-RPC `error` it raised (2025 says `failed` of a tool
 *   result with `isError` too; the extension says `completed` of any result: the result decides).
 * - `input_required`: a 2025 upstream asks its questions (elicitation, sampling) over a `tasks/result` in flight,
 *   which then waits for the task's end. So the proxy starts one such fetch per task when it first sees the task
 *   need input; each question the upstream asks over it is held and shown in `tasks/get` as an `inputRequest`, and
 *   the client's `tasks/update` answers it. Until a question has arrived the task is shown `working` (the extension
 *   requires the requests with the status, and the proxy has none yet to show).
 * - `tasks/cancel` is the upstream's; the extension's answer is an empty acknowledgement, also when the upstream
 *   refuses because the task already ended (the extension's cancel is only an intent).
 * - No `tasks/list` (the extension has none), and no status notifications (the extension's go over
 *   `subscriptions/listen`, which the proxy does not offer for tasks; clients must poll anyway).
 *
 * Bounds: the state kept per task (its fetch, the questions waiting) lives as long as the task's route (routes.ts)
 * and is swept with it; a question lives as long as the upstream's request for it (its signal), and the fetch as
 * long as the upstream's `tasks/result` (bounded by max_call_ms).
 */
import {
  type ClientCapabilities,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type Result,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { ClientRequestHandler } from '../../machines/types.js';
import type { TaskRoutes } from './routes.js';
import { TERMINAL_STATUSES, type WireTask } from './wire.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** What a 2026-07-28 server says it supports: the extension, no settings (none are defined). */
export const EXTENSION_CAPABILITIES = { extensions: { [TASKS_EXTENSION]: {} } };

/** How long a `tasks/get` of a task that needs input waits for the upstream's question to reach the proxy. */
export const QUESTION_WAIT_MS = 2_000;

/**
 * The longest a `tasks/get` of an ended task waits for its outcome (the upstream's `tasks/result` of an ended task
 * answers at once); without one by then the poll fails and the next one asks again.
 */
const MAX_WAIT_MS = 60_000;

/** Whether a request's capabilities (a 2026-07-28 client declares them per request) include the extension. */
export function declaresTasksExtension(capabilities: ClientCapabilities | undefined): boolean {
  const extensions = (capabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return typeof extensions?.[TASKS_EXTENSION] === 'object' && extensions[TASKS_EXTENSION] !== null;
}

/** The error for a client that calls a tool that runs only as a task without declaring the extension. */
export function extensionRequired(): Error {
  return new MissingRequiredClientCapabilityError({ requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } });
}

/** Marks a `tools/call` answer as the extension's CreateTaskResult (the SDK's checks let it through, server.ts). */
export function isExtensionTaskResult(result: unknown): boolean {
  return (result as { resultType?: unknown } | null)?.resultType === 'task';
}

/** A 2025 task as the extension shows it: same fields, but `ttlMs` (required, null: unlimited), `pollIntervalMs`. */
export function extensionTask(task: WireTask): Record<string, unknown> {
  const { ttl, pollInterval, ...rest } = task as WireTask & { pollInterval?: unknown };
  return {
    ...rest,
    ttlMs: typeof ttl === 'number' ? ttl : null,
    ...(typeof pollInterval === 'number' && { pollIntervalMs: pollInterval }),
  };
}

/** The extension's CreateTaskResult for a task an upstream created (already under the id the client knows). */
export function createTaskResult(task: WireTask): Result {
  return { ...extensionTask(task), resultType: 'task' } as Result;
}

/** How an upstream's `tasks/result` ended: the request's result, its JSON-RPC error, or no answer at all. */
export type TaskOutcome =
  | { type: 'result'; result: Result }
  | { type: 'error'; error: { code: number; message: string; data?: unknown } }
  | { type: 'unavailable'; error: Error };

export interface ExtensionForwarding {
  /** The upstream's `tasks/get` of the task the client named (routed, the id translated, as for 2025 clients). */
  get(params: Record<string, unknown>, ctx: ServerContext): Promise<{ task: WireTask }>;
  cancel(params: Record<string, unknown>, ctx: ServerContext): Promise<void>;
  /** The upstream's `tasks/result`; its questions meanwhile go to `onClientRequest`. */
  fetchResult(
    upstream: string,
    upstreamId: string,
    onClientRequest: ClientRequestHandler,
    signal: AbortSignal,
  ): Promise<TaskOutcome>;
}

interface Question {
  request: { method: string; params?: Record<string, unknown> };
  answer: (result: Result) => void;
}

/** One task's fetch of its outcome, and the questions its upstream asked over it that wait for an answer. */
interface Fetch {
  readonly questions: Map<string, Question>;
  outcome?: TaskOutcome;
  readonly abort: AbortController;
  /** Polls waiting for a question or the end (several `tasks/get` may wait at once). */
  readonly waiting: Set<() => void>;
  asked: number;
}

export interface ExtensionTasks {
  get(params: Record<string, unknown>, ctx: ServerContext): Promise<Result>;
  update(params: Record<string, unknown>): Result;
  cancel(params: Record<string, unknown>, ctx: ServerContext): Promise<Result>;
  /** Tasks with state kept (for tests of the bounds). */
  readonly size: number;
}

export function createExtensionTasks(
  routes: TaskRoutes,
  forwarding: ExtensionForwarding,
  questionWaitMs = QUESTION_WAIT_MS,
): ExtensionTasks {
  /** By the id the client knows the task by. */
  const fetches = new Map<string, Fetch>();

  /** State of tasks whose route is gone (expired, evicted, unknown upstream) goes with it. */
  const sweep = () => {
    for (const [taskId, fetch] of fetches) {
      if (routes.lookup(taskId)) continue;
      fetch.abort.abort(new Error('task no longer routed'));
      fetches.delete(taskId);
    }
  };

  const routeOf = (params: Record<string, unknown>) => {
    const taskId = params.taskId;
    const route = typeof taskId === 'string' ? routes.lookup(taskId) : undefined;
    if (!route || typeof taskId !== 'string') {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: ${JSON.stringify(taskId ?? null)}`);
    }
    return { taskId, route };
  };

  /** The task's fetch, started if need be; a fetch that got no answer is started again (the next poll retries). */
  const fetchOf = (taskId: string): Fetch => {
    const known = fetches.get(taskId);
    if (known && known.outcome?.type !== 'unavailable') return known;
    const { route } = routeOf({ taskId });
    const fetch: Fetch = { questions: new Map(), abort: new AbortController(), asked: 0, waiting: new Set() };
    fetches.set(taskId, fetch);
    const ask: ClientRequestHandler = (method, params, signal) =>
      new Promise<Result>((answer, fail) => {
        // Unique over the task's life, as the extension requires of inputRequests keys.
        const key = `input-${++fetch.asked}`;
        fetch.questions.set(key, { request: params === undefined ? { method } : { method, params }, answer });
        signal.addEventListener(
          'abort',
          () => {
            fetch.questions.delete(key);
            fail(signal.reason as Error);
          },
          { once: true },
        );
        for (const wake of [...fetch.waiting]) wake();
      });
    void forwarding.fetchResult(route.upstream, route.upstreamId, ask, fetch.abort.signal).then((outcome) => {
      fetch.outcome = outcome;
      for (const wake of [...fetch.waiting]) wake();
    });
    return fetch;
  };

  /** Resolves when the fetch has a question or an outcome, or after `ms`. */
  const settled = (fetch: Fetch, ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (fetch.questions.size > 0 || fetch.outcome) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        fetch.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, MAX_WAIT_MS));
      signal.addEventListener('abort', done, { once: true });
      fetch.waiting.add(done);
    });

  /** A task that ended, with its outcome inline; throws when the upstream gave none (the client polls again). */
  const ended = async (task: WireTask, fetch: Fetch, signal: AbortSignal): Promise<Result> => {
    if (!fetch.outcome) await settled(fetch, MAX_WAIT_MS, signal);
    const outcome = fetch.outcome;
    if (!outcome)
      throw new ProtocolError(
        ProtocolErrorCode.InternalError,
        'The upstream has not given the outcome of the task yet',
      );
    switch (outcome.type) {
      case 'result':
        return { ...extensionTask(task), status: 'completed', result: outcome.result } as Result;
      case 'error':
        return { ...extensionTask(task), status: 'failed', error: outcome.error } as Result;
      case 'unavailable':
        throw new ProtocolError(ProtocolErrorCode.InternalError, outcome.error.message);
    }
  };

  return {
    get size() {
      return fetches.size;
    },
    async get(params, ctx) {
      sweep();
      routeOf(params);
      const { task } = await forwarding.get(params, ctx);
      const taskId = task.taskId;
      const signal = ctx.mcpReq.signal;
      switch (task.status) {
        case 'completed':
        case 'failed':
          return ended(task, fetchOf(taskId), signal);
        case 'input_required': {
          const fetch = fetchOf(taskId);
          await settled(fetch, questionWaitMs, signal);
          if (fetch.outcome && fetch.outcome.type !== 'unavailable') return ended(task, fetch, signal);
          if (fetch.questions.size === 0) return { ...extensionTask(task), status: 'working' } as Result;
          const inputRequests = Object.fromEntries([...fetch.questions].map(([key, { request }]) => [key, request]));
          return { ...extensionTask(task), inputRequests } as Result;
        }
        default:
          if (TERMINAL_STATUSES.has(task.status)) fetches.get(taskId)?.abort.abort(new Error('task ended'));
          return extensionTask(task) as Result;
      }
    },
    update(params) {
      sweep();
      const { taskId } = routeOf(params);
      const responses = params.inputResponses;
      const fetch = fetches.get(taskId);
      if (!fetch || typeof responses !== 'object' || responses === null) return {};
      // Keys not waiting (never asked, answered already) are ignored, as the extension says.
      for (const [key, response] of Object.entries(responses)) {
        const question = fetch.questions.get(key);
        if (!question) continue;
        fetch.questions.delete(key);
        question.answer(response as Result);
      }
      return {};
    },
    async cancel(params, ctx) {
      sweep();
      routeOf(params);
      try {
        await forwarding.cancel(params, ctx);
      } catch (error) {
        // The upstream's invalid params: the task already ended. The extension's cancel is an intent, acknowledged.
        if (!(error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidParams)) throw error;
      }
      return {};
    },
  };
}
