/**
 * The 2026-07-28 tasks extension (`io.modelcontextprotocol/tasks`) through the proxy, made out of the 2025-11-25
 * tasks of server-everything's task tool (`simulate-research-query`: four one-second stages, then a report that
 * names its topic; asked `ambiguous`, it needs the client to pick an interpretation first). Each behaviour is shown
 * against the upstream directly first, with its own (2025) task API, then through the proxy with a 2026-07-28
 * client that declares the extension.
 *
 * The SDK's 2026-07-28 client refuses any `resultType` but `complete` and `input_required` (it has no runtime for
 * the extension): the extension's requests go as raw JSON-RPC over the same client's transport, with the envelope
 * the client itself would send.
 */
import { type Client, type JSONRPCMessage, ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import * as z from 'zod';
import { type EverythingServer, startEverything } from '../fixtures/everything.js';
import { connectDirect } from '../helpers/direct.js';
import { startTestProxy } from '../helpers/proxy.js';
import { waitUntil } from '../helpers/session.js';

const TASK_TOOL = 'simulate-research-query';
const EXTENSION = 'io.modelcontextprotocol/tasks';

const Task2025 = z.looseObject({ taskId: z.string(), status: z.string() });
const CreateTaskResult2025 = z.looseObject({ task: Task2025 });
const ToolResult = z.looseObject({
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
});

/** The extension's Task, as `tasks/get` answers it (the outcome inline once it ended). */
const Task = z.looseObject({
  resultType: z.string(),
  taskId: z.string(),
  status: z.string(),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  ttlMs: z.number().nullable(),
  pollIntervalMs: z.number().optional(),
  result: ToolResult.optional(),
  inputRequests: z.record(z.string(), z.looseObject({ method: z.string(), params: z.unknown() })).optional(),
});
type Task = z.infer<typeof Task>;

type RawAnswer = { result: Record<string, unknown> } | { error: { code: number; message: string; data?: unknown } };

/**
 * Sends raw requests over a connected 2026-07-28 client's transport, with its per-request envelope (protocol
 * version, client info, capabilities), and takes their answers before the client sees them.
 */
function rawSender(client: Client) {
  const transport = client.transport!;
  const waiting = new Map<string, (answer: RawAnswer) => void>();
  const onmessage = transport.onmessage!;
  transport.onmessage = (message: JSONRPCMessage, extra) => {
    const id = (message as { id?: unknown }).id;
    const reply = typeof id === 'string' ? waiting.get(id) : undefined;
    if (!reply) return onmessage(message, extra);
    waiting.delete(id as string);
    reply(message as unknown as RawAnswer);
  };
  const envelope = (client as unknown as { _outboundMetaEnvelope(): Record<string, unknown> })._outboundMetaEnvelope();
  let next = 0;
  return (method: string, params: Record<string, unknown>) =>
    new Promise<RawAnswer>((resolve) => {
      const id = `raw-${++next}`;
      waiting.set(id, resolve);
      void transport.send({ jsonrpc: '2.0', id, method, params: { ...params, _meta: envelope } } as JSONRPCMessage);
    });
}

type Send = ReturnType<typeof rawSender>;

function resultOf(answer: RawAnswer): Record<string, unknown> {
  if ('error' in answer) throw new Error(`unexpected error ${answer.error.code}: ${answer.error.message}`);
  return answer.result;
}

/** An acknowledgement (an empty result), without the `_meta` every 2026-07-28 answer may carry. */
function ack(answer: RawAnswer): Record<string, unknown> {
  const { _meta: _any, ...rest } = resultOf(answer);
  return rest;
}

function errorOf(answer: RawAnswer): { code: number; message: string; data?: unknown } {
  if (!('error' in answer)) throw new Error(`unexpected result ${JSON.stringify(answer.result)}`);
  return answer.error;
}

const getTask = async (send: Send, taskId: string): Promise<Task> =>
  Task.parse(resultOf(await send('tasks/get', { taskId })));

/** Polls tasks/get (raw) until `done` holds of the task; returns every status seen, in order, without repeats. */
async function pollUntil(
  send: Send,
  taskId: string,
  done: (task: Task) => boolean,
): Promise<{ seen: string[]; last: Task }> {
  const seen: string[] = [];
  let last: Task | undefined;
  await waitUntil(
    `task ${taskId}`,
    () => last !== undefined && done(last),
    15_000,
    async () => {
      last = await getTask(send, taskId);
      if (seen.at(-1) !== last.status) seen.push(last.status);
    },
  );
  return { seen, last: last! };
}

const ended = (task: Task) => ['completed', 'failed', 'cancelled'].includes(task.status);

describe("the tasks extension (2026-07-28) through the proxy, from server-everything's 2025-11-25 tasks", () => {
  let everything: EverythingServer;
  beforeAll(async () => {
    everything = await startEverything('streamableHttp');
  });
  afterAll(() => everything?.close());

  /** A 2026-07-28 client of the proxy; `extension`: it declares the tasks extension (on every request). */
  async function modernClient(extension: boolean) {
    const proxy = await startTestProxy([{ name: 'everything', url: everything.url, transport: 'http' }], {
      client: {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        capabilities: { elicitation: { form: {} }, ...(extension && { extensions: { [EXTENSION]: {} } }) },
      },
    });
    onTestFinished(() => proxy.close());
    expect(proxy.client.getProtocolEra()).toBe('modern');
    return { client: proxy.client, send: rawSender(proxy.client) };
  }

  async function directClient() {
    const client = await connectDirect(everything.url, 'http', { capabilities: { elicitation: { form: {} } } });
    onTestFinished(() => client.close());
    const request = client.request.bind(client) as unknown as (
      request: { method: string; params?: Record<string, unknown> },
      schema: z.ZodType,
    ) => Promise<unknown>;
    return { client, request };
  }

  it('runs the tool as a task: created, polled with tasks/get until completed, the result inline', async () => {
    // Directly: a task-augmented call, tasks/get until completed, then tasks/result.
    const direct = await directClient();
    const { task } = CreateTaskResult2025.parse(
      await direct.request(
        { method: 'tools/call', params: { name: TASK_TOOL, arguments: { topic: 'octopus cognition' }, task: {} } },
        CreateTaskResult2025,
      ),
    );
    expect(task.status).toBe('working');
    let status = task.status;
    await waitUntil(
      'the upstream task to complete',
      () => status === 'completed',
      15_000,
      async () => {
        status = Task2025.parse(
          await direct.request({ method: 'tasks/get', params: { taskId: task.taskId } }, Task2025),
        ).status;
      },
    );
    const upstreamResult = ToolResult.parse(
      await direct.request({ method: 'tasks/result', params: { taskId: task.taskId } }, ToolResult),
    );
    expect(upstreamResult.content[0]?.text).toContain('# Research Report: octopus cognition');

    // Through the proxy: the extension's shape, no `task` wrapper, the outcome in tasks/get.
    const { client, send } = await modernClient(true);
    expect((client.getServerCapabilities() as { extensions?: Record<string, unknown> }).extensions).toEqual({
      [EXTENSION]: {},
    });
    const created = resultOf(await send('tools/call', { name: TASK_TOOL, arguments: { topic: 'octopus cognition' } }));
    expect(created).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 300_000, pollIntervalMs: 1_000 });
    expect(created).not.toHaveProperty('task');
    expect(created).not.toHaveProperty('ttl');
    const taskId = String(created.taskId);
    const { seen, last } = await pollUntil(send, taskId, ended);
    expect(seen.at(-1)).toBe('completed');
    expect(seen).not.toContain('input_required');
    expect(last.resultType).toBe('complete');
    expect(last.result?.content[0]?.text).toContain('# Research Report: octopus cognition');
    // Asked again, the ended task still answers with its outcome.
    expect((await getTask(send, taskId)).result?.content[0]?.text).toContain('# Research Report: octopus cognition');
  });

  it("carries the upstream's question as an inputRequest, and its answer given with tasks/update", async () => {
    // Directly: the task needs input; the question comes with tasks/result, answered, and the report names it.
    const questions: string[] = [];
    const direct = await connectDirect(everything.url, 'http', {
      capabilities: { elicitation: { form: {} } },
      setup: (client) =>
        client.setRequestHandler('elicitation/create', ({ params }) => {
          questions.push(params.message);
          return { action: 'accept', content: { interpretation: 'historical' } };
        }),
    });
    onTestFinished(() => direct.close());
    const request = direct.request.bind(direct) as unknown as (r: object, schema: z.ZodType) => Promise<unknown>;
    const { task } = CreateTaskResult2025.parse(
      await request(
        {
          method: 'tools/call',
          params: { name: TASK_TOOL, arguments: { topic: 'python', ambiguous: true }, task: {} },
        },
        CreateTaskResult2025,
      ),
    );
    let status = task.status;
    await waitUntil(
      'the upstream task to need input',
      () => status === 'input_required',
      10_000,
      async () => {
        status = Task2025.parse(
          await request({ method: 'tasks/get', params: { taskId: task.taskId } }, Task2025),
        ).status;
      },
    );
    const upstreamResult = ToolResult.parse(
      await request({ method: 'tasks/result', params: { taskId: task.taskId } }, ToolResult),
    );
    expect(questions).toEqual([expect.stringContaining('The research query "python" could have multiple')]);
    expect(upstreamResult.content[0]?.text).toContain('# Research Report: python (historical)');

    // Through the proxy: tasks/get shows input_required with the question; tasks/update answers it.
    const { send } = await modernClient(true);
    const created = resultOf(
      await send('tools/call', { name: TASK_TOOL, arguments: { topic: 'python', ambiguous: true } }),
    );
    const taskId = String(created.taskId);
    const { last: asking } = await pollUntil(send, taskId, (t) => t.status === 'input_required' || ended(t));
    expect(asking.status).toBe('input_required');
    const [[key, question]] = Object.entries(asking.inputRequests ?? {}) as [
      [string, { method: string; params: { message: string } }],
    ];
    expect(question.method).toBe('elicitation/create');
    expect(question.params.message).toContain('The research query "python" could have multiple');
    // Asked again before it is answered, the same question under the same key.
    expect(Object.keys((await getTask(send, taskId)).inputRequests ?? {})).toEqual([key]);

    const updated = await send('tasks/update', {
      taskId,
      inputResponses: { [key]: { action: 'accept', content: { interpretation: 'historical' } } },
    });
    expect(ack(updated)).toEqual({ resultType: 'complete' });
    const { seen, last } = await pollUntil(send, taskId, ended);
    expect(seen).not.toContain('input_required');
    expect(last.status).toBe('completed');
    expect(last.result?.content[0]?.text).toContain('# Research Report: python (historical)');
  });

  it('cancels a running task with an acknowledgement, also once it has ended', async () => {
    // Directly: tasks/cancel answers with the cancelled task; a second one is refused (it is terminal).
    const direct = await directClient();
    const { task } = CreateTaskResult2025.parse(
      await direct.request(
        { method: 'tools/call', params: { name: TASK_TOOL, arguments: { topic: 'to be cancelled' }, task: {} } },
        CreateTaskResult2025,
      ),
    );
    const cancelled = Task2025.parse(
      await direct.request({ method: 'tasks/cancel', params: { taskId: task.taskId } }, Task2025),
    );
    expect(cancelled.status).toBe('cancelled');
    const again = await direct
      .request({ method: 'tasks/cancel', params: { taskId: task.taskId } }, Task2025)
      .catch((error: unknown) => error);
    expect(again).toBeInstanceOf(ProtocolError);
    expect((again as ProtocolError).code).toBe(ProtocolErrorCode.InvalidParams);

    // Through the proxy: the extension's empty acknowledgement, both times; tasks/get shows it cancelled.
    const { send } = await modernClient(true);
    const taskId = String(resultOf(await send('tools/call', { name: TASK_TOOL, arguments: { topic: 'x' } })).taskId);
    expect(ack(await send('tasks/cancel', { taskId }))).toEqual({ resultType: 'complete' });
    expect((await getTask(send, taskId)).status).toBe('cancelled');
    expect(ack(await send('tasks/cancel', { taskId }))).toEqual({ resultType: 'complete' });
  });

  it('refuses a task id it did not hand out, for every task method (never guessing an upstream)', async () => {
    const { send } = await modernClient(true);
    for (const [method, params] of [
      ['tasks/get', {}],
      ['tasks/cancel', {}],
      ['tasks/update', { inputResponses: {} }],
    ] as const) {
      expect(errorOf(await send(method, { taskId: 'no-such-task', ...params })).code).toBe(
        ProtocolErrorCode.InvalidParams,
      );
    }
    // 2025's other task methods are not the extension's.
    expect(errorOf(await send('tasks/result', { taskId: 'no-such-task' })).code).toBe(ProtocolErrorCode.MethodNotFound);
    expect(errorOf(await send('tasks/list', {})).code).toBe(ProtocolErrorCode.MethodNotFound);
  });

  it('refuses a client without the extension the tool that runs only as a task (-32021, naming the extension)', async () => {
    // Directly (2025), the tool is not run without a task either.
    const direct = await directClient();
    const plain = await direct.client.callTool({ name: TASK_TOOL, arguments: { topic: 'x' } });
    expect(plain.isError).toBe(true);

    const { client, send } = await modernClient(false);
    const refused = errorOf(await send('tools/call', { name: TASK_TOOL, arguments: { topic: 'x' } }));
    expect(refused.code).toBe(ProtocolErrorCode.MissingRequiredClientCapability);
    expect(refused.data).toEqual({ requiredCapabilities: { extensions: { [EXTENSION]: {} } } });
    // The other tools are called as ever.
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'still there' } });
    expect(JSON.stringify(echoed.content)).toContain('still there');
  });
});
