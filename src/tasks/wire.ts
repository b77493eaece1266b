/**
 * The 2025-11-25 experimental tasks on the wire, as far as the proxy needs them. The SDK (v2) keeps the task types
 * but has no task runtime: its typed `request()` refuses `tasks/*` (no result schema), and its `tools/call` result
 * check refuses a CreateTaskResult. So the proxy gives those requests the schemas below: loose ones, because a
 * proxy passes answers on as they are and reads only the task id and status it routes by.
 */
import type { ServerCapabilities, StandardSchemaV1 } from '@modelcontextprotocol/client';
import * as z from 'zod';

export const TASK_METHODS = ['tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel'] as const;
export type TaskMethod = (typeof TASK_METHODS)[number];

/** Statuses after which a task changes no more (its result stays retrievable until its ttl runs out). */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

export function isTaskMethod(method: string): method is TaskMethod {
  return (TASK_METHODS as readonly string[]).includes(method);
}

/** A request the client asked to run as a task (`params.task`, 2025-11-25). */
export function isTaskAugmented(params: Record<string, unknown> | undefined): boolean {
  return typeof params?.task === 'object' && params.task !== null;
}

const TaskShape = z.looseObject({
  taskId: z.string(),
  status: z.string(),
  // Milliseconds from creation; null: the receiver keeps the task as long as it likes.
  ttl: z.number().nullable().optional(),
});
export type WireTask = z.infer<typeof TaskShape>;

const CreateTaskResultShape = z.looseObject({ task: TaskShape });
const ListTasksResultShape = z.looseObject({ tasks: z.array(TaskShape), nextCursor: z.string().optional() });

/** The task a `tools/call` created, if its answer is a CreateTaskResult rather than the tool's result. */
export function createdTask(result: unknown): WireTask | undefined {
  const parsed = CreateTaskResultShape.safeParse(result);
  return parsed.success ? parsed.data.task : undefined;
}

/**
 * Any JSON object, with no schema library: what the proxy passes on as it is. The client's SDK validates it against
 * the method's schema anyway, so a second full validation here cost a zod parse of every result (large ones too)
 * for nothing.
 */
const PassedOn: StandardSchemaV1<Record<string, unknown>> = {
  '~standard': {
    version: 1,
    vendor: 'mcp-upstream-proxy',
    validate: (value) =>
      typeof value === 'object' && value !== null && !Array.isArray(value)
        ? { value: value as Record<string, unknown> }
        : { issues: [{ message: 'expected a JSON object' }] },
  },
};

/**
 * The schema an upstream's answer is checked against where the SDK's own does not fit or is not needed; undefined
 * where the proxy reads the answer and the SDK's schema is the one to read it with.
 * - `tools/call`, `resources/read`, `prompts/get`: passed on as they are (the client's SDK checks them). A
 *   task-augmented `tools/call` may be answered with a CreateTaskResult or, by an upstream that ignores `task` (as
 *   the spec lets one that does not do tasks), with the tool's result: either is an object.
 */
export function upstreamResultSchema(method: string): StandardSchemaV1 | undefined {
  switch (method) {
    case 'tools/call':
    case 'resources/read':
    case 'prompts/get':
      return PassedOn;
    case 'tasks/get':
    case 'tasks/cancel':
      return TaskShape;
    case 'tasks/list':
      return ListTasksResultShape;
    case 'tasks/result':
      // The original request's result, whatever it is.
      return PassedOn;
    default:
      return undefined;
  }
}

/** Whether an upstream runs `tools/call` as tasks: only then are its tools' `execution.taskSupport` shown. */
export function runsToolCallsAsTasks(capabilities: ServerCapabilities | undefined): boolean {
  const tasks = (capabilities as { tasks?: { requests?: { tools?: { call?: unknown } } } } | undefined)?.tasks;
  return tasks?.requests?.tools?.call !== undefined;
}

/** Whether an upstream answers `tasks/list` (its capability says so). */
export function listsTasks(capabilities: ServerCapabilities | undefined): boolean {
  return (capabilities as { tasks?: { list?: unknown } } | undefined)?.tasks?.list !== undefined;
}
