/**
 * Tasks through the proxy (2025-11-25 experimental tasks): a task-augmented `tools/call` goes as it is to the
 * upstream that owns the tool, and the task it creates is recorded as that upstream's; `tasks/get`,
 * `tasks/result` and `tasks/cancel` go to the upstream recorded for the task; `tasks/list` walks the upstreams
 * that list tasks, one after the other; `notifications/tasks/status` are passed on.
 *
 * A client of the 2026-07-28 era has no core tasks (a `task` it sends is dropped: that era says to ignore it). It is
 * offered the `io.modelcontextprotocol/tasks` extension instead, another lifecycle, translated from the 2025 one its
 * upstreams speak (extension.ts); its `tasks/get`, `tasks/update` and `tasks/cancel` go through the same map.
 */
import {
  ProtocolError,
  ProtocolErrorCode,
  RELATED_TASK_META_KEY,
  type Result,
  type Server,
  type ServerCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';
import * as z from 'zod';
import {
  createExtensionTasks,
  EXTENSION_CAPABILITIES,
  type ExtensionForwarding,
  type ExtensionTasks,
} from './extension.js';
import { TaskRoutes } from './routes.js';
import { createdTask, TASK_METHODS, type TaskMethod, type WireTask } from './wire.js';

export type Era = 'legacy' | 'modern';

export interface TaskForwarding {
  /** Sends a task request to one upstream; resolves with its answer, or throws the error the client gets. */
  send(upstream: string, method: TaskMethod, params: Record<string, unknown>, ctx: ServerContext): Promise<Result>;
  /** The configured upstreams, in config order. */
  upstreams(ctx: ServerContext): Promise<string[]>;
  /** An upstream's `tasks/result` on the proxy's own behalf (extension.ts); its questions go to `onClientRequest`. */
  fetchResult: ExtensionForwarding['fetchResult'];
}

/** What the proxy offers a 2025-era client: what it routes (task-augmented tools/call, list, cancel). */
export const LEGACY_TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

/**
 * The `tasks/list` cursor the client gets back: the upstream being walked and that upstream's own cursor. Opaque
 * to the client (base64url JSON), checked when it comes back.
 */
const ListCursor = z.object({ upstream: z.string(), cursor: z.string().optional() });
type ListCursor = z.infer<typeof ListCursor>;

export interface TaskRouting {
  readonly routes: TaskRoutes;
  /** The tasks of 2026-07-28 clients (the extension). */
  readonly extension: ExtensionTasks;
  /** The `tasks` capability for a 2025-era server; the tasks extension for a 2026-07-28 one. */
  capabilities(era: Era): Pick<ServerCapabilities, 'tasks' | 'extensions'>;
  /** The `tools/call` params to forward: a 2026-07-28 client's `task` is dropped. */
  callParams(era: Era, params: Record<string, unknown>): Record<string, unknown>;
  /** A `tools/call` answer from `upstream`: a task it created is recorded, and shown under the client's id. */
  answered(upstream: string | undefined, result: Result): Result;
  /** A status notification of an upstream, as the client should get it (undefined: not for this client). */
  statusForClient(era: Era, upstream: string, params: Record<string, unknown>): Record<string, unknown> | undefined;
  /** Answers a task request of the client (what `register` installs). */
  handle(method: TaskMethod, params: Record<string, unknown>, ctx: ServerContext): Promise<Result>;
  /**
   * Registers `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` on a 2025-era server; the extension's
   * `tasks/get`, `tasks/update` and `tasks/cancel` on a 2026-07-28 one.
   */
  register(server: Server, era: Era): void;
}

type LooseHandler = (request: { params?: Record<string, unknown> }, ctx: ServerContext) => Promise<Result>;

export function createTaskRouting(forwarding: TaskForwarding, routes = new TaskRoutes()): TaskRouting {
  /** The task as the client sees it: recorded (or its status updated), under the id the client knows it by. */
  const expose = (upstream: string, task: WireTask): WireTask => ({ ...task, taskId: routes.remember(upstream, task) });

  const routeOf = (params: Record<string, unknown> | undefined) => {
    const taskId = params?.taskId;
    const route = typeof taskId === 'string' ? routes.lookup(taskId) : undefined;
    // The spec's answer for a task the receiver does not know; never a guess at its upstream.
    if (!route || typeof taskId !== 'string') {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: ${JSON.stringify(taskId ?? null)}`);
    }
    return { taskId, route };
  };

  /** Forwards a request about one task to its upstream, under the upstream's id for it. */
  const sendForTask = async (method: TaskMethod, params: Record<string, unknown>, ctx: ServerContext) => {
    const { taskId, route } = routeOf(params);
    try {
      return {
        route,
        result: await forwarding.send(route.upstream, method, { ...params, taskId: route.upstreamId }, ctx),
      };
    } catch (error) {
      // The upstream no longer knows it (expired, or it restarted): neither does the proxy, from now on. Not on
      // tasks/cancel, whose invalid params also mean "already terminal", of a task that is still there.
      const unknownThere = error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidParams;
      if (unknownThere && method !== 'tasks/cancel') routes.forget(taskId);
      throw error;
    }
  };

  const taskAnswer = async (
    method: 'tasks/get' | 'tasks/cancel',
    params: Record<string, unknown>,
    ctx: ServerContext,
  ) => {
    const { route, result } = await sendForTask(method, params, ctx);
    return expose(route.upstream, result as WireTask) as Result;
  };

  const listTasks = async (params: Record<string, unknown>, ctx: ServerContext): Promise<Result> => {
    const upstreams = await forwarding.upstreams(ctx);
    let at: ListCursor | undefined =
      params.cursor === undefined ? { upstream: upstreams[0] ?? '' } : decodeCursor(params.cursor, upstreams);
    const tasks: WireTask[] = [];
    // One upstream page per answer, but an upstream with nothing to list is skipped over rather than answered empty.
    while (at && upstreams.length > 0) {
      const { upstream, cursor }: ListCursor = at;
      const page = (await forwarding
        .send(upstream, 'tasks/list', cursor === undefined ? {} : { cursor }, ctx)
        // One upstream failing to list costs its own tasks only.
        .catch(() => ({ tasks: [] }))) as { tasks?: WireTask[]; nextCursor?: string };
      for (const task of page.tasks ?? []) tasks.push(expose(upstream, task));
      const next = upstreams[upstreams.indexOf(upstream) + 1];
      at =
        page.nextCursor !== undefined
          ? { upstream, cursor: page.nextCursor }
          : next === undefined
            ? undefined
            : { upstream: next };
      if (tasks.length > 0) break;
    }
    return { tasks, ...(at && { nextCursor: encodeCursor(at) }) } as Result;
  };

  const extension = createExtensionTasks(routes, {
    get: async (params, ctx) => {
      const { route, result } = await sendForTask('tasks/get', { taskId: params.taskId }, ctx);
      return { task: expose(route.upstream, result as WireTask) };
    },
    cancel: async (params, ctx) => {
      const { route, result } = await sendForTask('tasks/cancel', { taskId: params.taskId }, ctx);
      expose(route.upstream, result as WireTask);
    },
    fetchResult: forwarding.fetchResult,
  });

  const handle = async (method: TaskMethod, params: Record<string, unknown>, ctx: ServerContext): Promise<Result> => {
    switch (method) {
      case 'tasks/get':
      case 'tasks/cancel':
        return taskAnswer(method, params, ctx);
      case 'tasks/result': {
        const { route, result } = await sendForTask('tasks/result', params, ctx);
        return relatedTaskShown(result, routes.exposedId(route.upstream, route.upstreamId));
      }
      case 'tasks/list':
        return listTasks(params, ctx);
    }
  };

  return {
    routes,
    extension,
    handle,
    capabilities: (era) => (era === 'legacy' ? { tasks: LEGACY_TASKS_CAPABILITY } : EXTENSION_CAPABILITIES),
    callParams(era, params) {
      if (era === 'legacy' || !('task' in params)) return params;
      const { task: _ignored, ...rest } = params;
      return rest;
    },
    answered(upstream, result) {
      const task = createdTask(result);
      if (!task || upstream === undefined) return result;
      return { ...result, task: expose(upstream, task) } as Result;
    },
    statusForClient(era, upstream, params) {
      if (era !== 'legacy' || typeof params.taskId !== 'string' || typeof params.status !== 'string') return undefined;
      return expose(upstream, params as WireTask);
    },
    register(server, era) {
      if (era === 'modern') return registerExtension(server, extension);
      // The SDK's typed surface leaves the task methods out (it has no task runtime); its dispatcher still knows
      // them as 2025-era methods and checks their params.
      const on = server.setRequestHandler.bind(server) as unknown as (
        method: TaskMethod,
        handler: LooseHandler,
      ) => void;
      for (const method of TASK_METHODS) on(method, (request, ctx) => handle(method, request.params ?? {}, ctx));
    },
  };
}

/**
 * The extension's methods on a 2026-07-28 server. That era's SDK dispatcher knows `tasks/get` and `tasks/cancel`
 * only as 2025 methods and refuses them, unless registered with schemas of one's own (which it takes as the
 * extension's reuse of the names); `tasks/update` is no spec method at all, and needs schemas anyway.
 */
function registerExtension(server: Server, extension: ExtensionTasks): void {
  const on = server.setRequestHandler.bind(server) as unknown as (
    method: string,
    schemas: { params: z.ZodType },
    handler: (params: Record<string, unknown>, ctx: ServerContext) => Result | Promise<Result>,
  ) => void;
  const TaskParams = z.looseObject({ taskId: z.string() });
  on('tasks/get', { params: TaskParams }, (params, ctx) => extension.get(params, ctx));
  on('tasks/cancel', { params: TaskParams }, (params, ctx) => extension.cancel(params, ctx));
  // The SDK lifts `inputResponses` off every 2026-07-28 request (those of an entry it cannot parse dropped) and
  // hands them over in the context.
  on('tasks/update', { params: TaskParams }, (params, ctx) =>
    extension.update({ ...params, inputResponses: ctx.mcpReq.inputResponses ?? params.inputResponses }),
  );
}

/** `tasks/result` says which task it is the result of (`_meta`): under the id the client knows. */
function relatedTaskShown(result: Result, exposedId: string | undefined): Result {
  const meta = result._meta as Record<string, unknown> | undefined;
  const related = meta?.[RELATED_TASK_META_KEY] as { taskId?: unknown } | undefined;
  if (exposedId === undefined || !related || related.taskId === exposedId) return result;
  return { ...result, _meta: { ...meta, [RELATED_TASK_META_KEY]: { ...related, taskId: exposedId } } };
}

function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(raw: unknown, upstreams: readonly string[]): ListCursor {
  try {
    const cursor = ListCursor.parse(JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8')));
    if (upstreams.includes(cursor.upstream)) return cursor;
  } catch {
    // Falls through to the error below.
  }
  throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Invalid cursor for tasks/list');
}
