/**
 * Tasks (2025-11-25 experimental tasks) through the proxy, against server-everything's task tool
 * (`simulate-research-query`: a task that goes through four one-second stages, then completes with a report that
 * names its topic). Each behaviour is asserted against the upstream directly first, then through the proxy.
 *
 * The test clients speak 2025-11-25 to the proxy: the 2026-07-28 era has no core tasks (see src/tasks/routing.ts);
 * its tasks extension is tested in tasks-2026.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Client,
  type ClientCapabilities,
  type Notification,
  ProtocolError,
  ProtocolErrorCode,
} from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import * as z from 'zod';
import { type EverythingServer, startEverything } from '../fixtures/everything.js';
import { startUpstream } from '../fixtures/upstreams.js';
import { connectDirect } from '../helpers/direct.js';
import { startTestProxy, type TestUpstream } from '../helpers/proxy.js';
import { VIAS, type Via, waitUntil } from '../helpers/session.js';

const TASK_TOOL = 'simulate-research-query';
const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const LEGACY_VERSIONS = ['2025-11-25'];

const Task = z.looseObject({ taskId: z.string(), status: z.string(), statusMessage: z.string().optional() });
type Task = z.infer<typeof Task>;
const CreateTaskResult = z.looseObject({ task: Task });
const ListTasksResult = z.looseObject({ tasks: z.array(Task), nextCursor: z.string().optional() });
const ToolResult = z.looseObject({
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  _meta: z.record(z.string(), z.unknown()).optional(),
});

interface TaskClient {
  client: Client;
  /** Every `notifications/tasks/status` received, in order. */
  statuses: Task[];
}

/** A client straight to the upstream, or through a proxy in front of these upstreams; closed after the test. */
async function openClient(
  via: Via,
  upstreams: TestUpstream[],
  options: { capabilities?: ClientCapabilities; setup?: (client: Client) => void } = {},
): Promise<TaskClient> {
  const statuses: Task[] = [];
  const { capabilities } = options;
  // The SDK's typed surface has no task notifications: the fallback handler gets them.
  const setup = (client: Client) => {
    options.setup?.(client);
    client.fallbackNotificationHandler = async (notification: Notification) => {
      if (notification.method === 'notifications/tasks/status') statuses.push(Task.parse(notification.params));
    };
  };
  if (via === 'direct') {
    const { url, transport } = upstreams[0]!;
    const client = await connectDirect(new URL(url), transport === 'sse' ? 'sse' : 'http', { setup, capabilities });
    onTestFinished(() => client.close());
    return { client, statuses };
  }
  const proxy = await startTestProxy(
    upstreams.map((upstream) => ({ transport: 'http', ...upstream })),
    { client: { setup, capabilities, supportedProtocolVersions: LEGACY_VERSIONS } },
  );
  onTestFinished(() => proxy.close());
  return { client: proxy.client, statuses };
}

function startTask(client: Client, topic: string, tool = TASK_TOOL, ambiguous = false): Promise<Task> {
  return client
    .request(
      { method: 'tools/call', params: { name: tool, arguments: { topic, ambiguous }, task: { ttl: 60_000 } } },
      CreateTaskResult,
    )
    .then(({ task }) => task);
}

// The task methods are left out of the SDK's typed surface: requests with a schema of our own, typed loosely.
type LooseRequest = (
  request: { method: string; params?: Record<string, unknown> },
  schema: z.ZodType,
) => Promise<unknown>;
const send = (client: Client) => client.request.bind(client) as unknown as LooseRequest;

const getTask = async (client: Client, taskId: string) =>
  Task.parse(await send(client)({ method: 'tasks/get', params: { taskId } }, Task));
const cancelTask = async (client: Client, taskId: string) =>
  Task.parse(await send(client)({ method: 'tasks/cancel', params: { taskId } }, Task));
const taskResult = async (client: Client, taskId: string) =>
  ToolResult.parse(await send(client)({ method: 'tasks/result', params: { taskId } }, ToolResult));
const listTasks = async (client: Client, cursor?: string) =>
  ListTasksResult.parse(
    await send(client)({ method: 'tasks/list', params: cursor === undefined ? {} : { cursor } }, ListTasksResult),
  );

/** Every page of tasks/list, and how many pages it took. */
async function allTasks(client: Client): Promise<{ tasks: Task[]; pages: number }> {
  const tasks: Task[] = [];
  let cursor: string | undefined;
  for (let pages = 1; pages <= 50; pages++) {
    const page = await listTasks(client, cursor);
    tasks.push(...page.tasks);
    cursor = page.nextCursor;
    if (cursor === undefined) return { tasks, pages };
  }
  throw new Error('tasks/list did not end within 50 pages');
}

/** Polls tasks/get until the task is terminal; returns the statuses seen, in order, without repeats. */
async function pollUntilDone(client: Client, taskId: string): Promise<string[]> {
  const seen: string[] = [];
  await waitUntil(
    `task ${taskId} to end`,
    () => ['completed', 'failed', 'cancelled'].includes(seen.at(-1) ?? ''),
    15_000,
    async () => {
      const { status } = await getTask(client, taskId);
      if (seen.at(-1) !== status) seen.push(status);
    },
  );
  return seen;
}

async function refusal(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

describe('tasks through the proxy (server-everything over Streamable HTTP)', () => {
  let everything: EverythingServer;
  const upstreams = (): TestUpstream[] => [{ name: 'everything', url: everything.url }];

  // Tokens never come from (or go to) the developer's own store.
  let tokenDir = '';
  beforeAll(async () => {
    everything = await startEverything('streamableHttp');
    tokenDir = await mkdtemp(join(tmpdir(), 'proxy-tasks-tokens-'));
  });
  afterAll(async () => {
    await everything?.close();
    await rm(tokenDir, { recursive: true, force: true });
  });

  describe.each(VIAS)('%s', (via) => {
    it('runs a task-augmented call as a task: get until completed, result, list, status notifications', async () => {
      const { client, statuses } = await openClient(via, upstreams());
      const task = await startTask(client, 'octopus cognition');
      expect(task.status).toBe('working');

      const seen = await pollUntilDone(client, task.taskId);
      expect(seen.at(-1)).toBe('completed');

      const result = await taskResult(client, task.taskId);
      expect(result.content[0]?.text).toContain('# Research Report: octopus cognition');
      expect(result._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId: task.taskId });

      const { tasks } = await allTasks(client);
      expect(tasks.find(({ taskId }) => taskId === task.taskId)?.status).toBe('completed');

      // The upstream tells of every stage, and of the end, on its own.
      await waitUntil('the completed status notification', () =>
        statuses.some(({ taskId, status }) => taskId === task.taskId && status === 'completed'),
      );
      expect(statuses.filter(({ taskId }) => taskId === task.taskId).length).toBeGreaterThanOrEqual(2);
      expect(statuses.filter(({ taskId }) => taskId !== task.taskId)).toEqual([]);
    });

    it('asks the client for the input a task needs (input_required), and the task goes on with the answer', async () => {
      const questions: string[] = [];
      const { client } = await openClient(via, upstreams(), {
        capabilities: { elicitation: { form: {} } },
        setup: (client) =>
          client.setRequestHandler('elicitation/create', ({ params }) => {
            questions.push(params.message);
            return { action: 'accept', content: { interpretation: 'historical' } };
          }),
      });
      const task = await startTask(client, 'python', TASK_TOOL, true);
      let status = task.status;
      await waitUntil(
        'the task to need input',
        () => status === 'input_required',
        10_000,
        async () => {
          status = (await getTask(client, task.taskId)).status;
        },
      );
      // The question comes with tasks/result, which then waits for the end and answers with the result.
      const result = await taskResult(client, task.taskId);
      expect(questions).toEqual([expect.stringContaining('The research query "python" could have multiple')]);
      expect(result.content[0]?.text).toContain('# Research Report: python (historical)');
    });

    it('cancels a running task', async () => {
      const { client } = await openClient(via, upstreams());
      const task = await startTask(client, 'to be cancelled');
      const cancelled = await cancelTask(client, task.taskId);
      expect(cancelled).toMatchObject({ taskId: task.taskId, status: 'cancelled' });
      expect((await getTask(client, task.taskId)).status).toBe('cancelled');
      // A terminal task cannot be cancelled again: the upstream's refusal is passed on.
      expect((await refusal(cancelTask(client, task.taskId))).code).toBe(ProtocolErrorCode.InvalidParams);
      // ... and the task is still there, still routed.
      expect((await getTask(client, task.taskId)).status).toBe('cancelled');
    });

    it('refuses an unknown task id with invalid params', async () => {
      const { client } = await openClient(via, upstreams());
      for (const ask of [getTask, taskResult, cancelTask]) {
        expect((await refusal(ask(client, 'no-such-task'))).code).toBe(ProtocolErrorCode.InvalidParams);
      }
    });

    it('advertises tasks, and the task tool as one, as the upstream does', async () => {
      const { client } = await openClient(via, upstreams());
      const tasks = client.getServerCapabilities()?.tasks as Record<string, unknown> | undefined;
      expect(tasks).toMatchObject({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
      const { tools } = await client.listTools();
      expect(tools.find(({ name }) => name === TASK_TOOL)?.execution).toEqual({ taskSupport: 'required' });
    });
  });

  // The in-process proxy of the other tests is opened in the 2025 era; a 2026-07-28 client needs the real stdio
  // entry: the built bin (`npm test` builds first).
  it('offers a 2026-07-28 client no core tasks, drops a task it asks for, and without the extension refuses it the task tool', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN],
      env: {
        PATH: process.env.PATH ?? '',
        PROXY_TOKEN_DIR: tokenDir,
        BROWSER: 'none',
        ENABLE_ADDITIONAL_TOOLS: 'proxy',
        PROXY_UPSTREAMS: JSON.stringify([{ name: 'everything', url: everything.url.href }]),
      },
      stderr: 'pipe',
    });
    const client = new Client(
      { name: 'modern-test-client', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    const stderr: string[] = [];
    transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    await client.connect(transport);
    onTestFinished(() => client.close());
    expect(client.getProtocolEra()).toBe('modern');
    expect(client.getServerCapabilities()?.tasks).toBeUndefined();
    const { tools } = await client.listTools();
    expect(
      tools.map(({ name }) => name),
      stderr.join(''),
    ).toContain(TASK_TOOL);
    expect(tools.some((tool) => tool.execution !== undefined)).toBe(false);
    // Its `task` is dropped (that era ignores it): the call is not made a task, and this tool needs one, which a
    // client of this era gets only by declaring the tasks extension (this one does not).
    const answer = await send(client)(
      { method: 'tools/call', params: { name: TASK_TOOL, arguments: { topic: 'x' }, task: { ttl: 60_000 } } },
      z.looseObject({}),
    ).catch((error: unknown) => error);
    expect(answer).not.toHaveProperty('task');
    expect((answer as ProtocolError).code).toBe(ProtocolErrorCode.MissingRequiredClientCapability);
  });

  it('routes each task to the upstream that created it, and lists the tasks of every upstream', async () => {
    const second = await startEverything('streamableHttp');
    onTestFinished(() => second.close());
    const { client } = await openClient('proxy', [
      { name: 'a', url: everything.url },
      { name: 'b', url: second.url, toolPrefix: 'b_' },
    ]);
    const names = (await client.listTools()).tools.map(({ name }) => name);
    expect(names).toEqual(expect.arrayContaining([TASK_TOOL, `b_${TASK_TOOL}`]));

    const [onA, onB] = await Promise.all([
      startTask(client, 'topic on a', TASK_TOOL),
      startTask(client, 'topic on b', `b_${TASK_TOOL}`),
    ]);
    expect(onA.taskId).not.toBe(onB.taskId);

    // Listed: one page per upstream (each has one task here), both tasks.
    const listed = await allTasks(client);
    expect(listed.tasks.map(({ taskId }) => taskId).sort()).toEqual([onA.taskId, onB.taskId].sort());
    expect(listed.pages).toBe(2);

    // Asked the wrong upstream, each would be unknown (the upstreams' task stores are their own): each answers.
    await Promise.all([pollUntilDone(client, onA.taskId), pollUntilDone(client, onB.taskId)]);
    expect((await taskResult(client, onA.taskId)).content[0]?.text).toContain('Research Report: topic on a');
    expect((await taskResult(client, onB.taskId)).content[0]?.text).toContain('Research Report: topic on b');
  });

  it("waits in tasks/result for the task's end longer than the upstream's timeout (up to max_call_ms)", async () => {
    const { client } = await openClient('proxy', [{ name: 'everything', url: everything.url, timeoutMs: 1_000 }]);
    const task = await startTask(client, 'a slow one');
    // The task takes four seconds; tasks/result answers when it has ended.
    const result = await taskResult(client, task.taskId);
    expect(result.content[0]?.text).toContain('# Research Report: a slow one');
  });

  it("does not pass on the client's own tasks (it would run elicitations as tasks): the upstream offers no tool for it", async () => {
    const capabilities: ClientCapabilities = {
      elicitation: { form: {} },
      tasks: { requests: { elicitation: { create: {} } } },
    };
    const toolsVia = async (via: Via) => {
      const { client } = await openClient(via, upstreams(), { capabilities });
      return (await client.listTools()).tools.map(({ name }) => name);
    };
    // Directly, server-everything offers a tool that sends the client task-augmented elicitations.
    expect(await toolsVia('direct')).toContain('trigger-elicitation-request-async');
    // The proxy would have to route the client's tasks back to the upstream: it does not, so it does not say it can.
    const proxied = await toolsVia('proxy');
    expect(proxied).toContain('trigger-elicitation-request');
    expect(proxied).not.toContain('trigger-elicitation-request-async');
  });

  it('refuses a cursor of tasks/list it did not give', async () => {
    const { client } = await openClient('proxy', upstreams());
    expect((await refusal(listTasks(client, 'not-a-cursor'))).code).toBe(ProtocolErrorCode.InvalidParams);
  });
});

describe('tasks through the proxy (server-everything over legacy SSE)', () => {
  let everything: EverythingServer;
  beforeAll(async () => {
    everything = await startEverything('sse');
  });
  afterAll(async () => {
    await everything?.close();
  });

  it.each(VIAS)('%s: a task runs to its end, its statuses notified on the one stream', async (via) => {
    const { client, statuses } = await openClient(via, [{ name: 'everything', url: everything.url, transport: 'sse' }]);
    const task = await startTask(client, 'over sse');
    const result = await taskResult(client, task.taskId);
    expect(result.content[0]?.text).toContain('# Research Report: over sse');
    expect((await getTask(client, task.taskId)).status).toBe('completed');
    await waitUntil('the completed status notification', () =>
      statuses.some(({ taskId, status }) => taskId === task.taskId && status === 'completed'),
    );
  });
});

describe('an upstream without tasks', () => {
  it('has none of its tools offered as tasks, even if its tool list says so', async () => {
    // A 2025-era server (legacy SSE) with no `tasks` capability whose tool still claims task support.
    const upstream = await startUpstream({
      kind: 'sse',
      tools: ['echo'],
      extend: (server) => {
        server.setRequestHandler('tools/list', () => ({
          tools: [{ name: 'echo', inputSchema: { type: 'object' }, execution: { taskSupport: 'optional' } }],
        }));
      },
    });
    onTestFinished(() => upstream.close());
    const { client } = await openClient('proxy', [{ name: 'plain', url: upstream.url, transport: 'sse' }]);
    const { tools } = await client.listTools();
    expect(tools.map(({ name }) => name)).toEqual(['echo']);
    expect(tools[0]?.execution).toBeUndefined();
    // Nothing to list from it.
    expect(await allTasks(client)).toEqual({ tasks: [], pages: 1 });
  });
});
