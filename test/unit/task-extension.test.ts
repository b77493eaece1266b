/**
 * The tasks extension's translation on its own, behind its `ExtensionForwarding` interface. The integration tests
 * (test/integration/tasks-2026.test.ts) run it against server-everything; here are the cases it does not produce
 * on demand: a task that failed with a JSON-RPC error, or "failed" with a tool's error result, an upstream that
 * does not answer with the outcome, state outliving its route.
 */
import { ProtocolError, ProtocolErrorCode, type Result, type ServerContext } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { createExtensionTasks, extensionTask, type TaskOutcome } from '../../src/tasks/extension.js';
import { TaskRoutes } from '../../src/tasks/routes.js';
import type { WireTask } from '../../src/tasks/wire.js';

const ctx = { mcpReq: { signal: new AbortController().signal } } as unknown as ServerContext;

const task = (taskId: string, status: string): WireTask => ({
  taskId,
  status,
  createdAt: '2026-12-03T10:00:00Z',
  lastUpdatedAt: '2026-12-03T10:00:05Z',
  ttl: 60_000,
  pollInterval: 500,
});

/** One upstream "u" whose tasks have the given statuses, and whose `tasks/result` ends as `outcomes` says. */
function extension(statuses: Record<string, string>, outcomes: Record<string, TaskOutcome>) {
  const routes = new TaskRoutes();
  for (const [taskId, status] of Object.entries(statuses)) routes.remember('u', task(taskId, status));
  const fetched: string[] = [];
  const tasks = createExtensionTasks(
    routes,
    {
      get: async ({ taskId }) => ({ task: task(String(taskId), statuses[String(taskId)]!) }),
      cancel: async () => {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'already terminal');
      },
      fetchResult: async (_upstream, taskId) => {
        fetched.push(taskId);
        return outcomes[taskId]!;
      },
    },
    50,
  );
  return { routes, tasks, fetched };
}

describe('the tasks extension, from 2025 tasks', () => {
  it("shows a 2025 task's fields as the extension's: ttlMs (null when unlimited), pollIntervalMs", () => {
    expect(extensionTask(task('a', 'working'))).toEqual({
      taskId: 'a',
      status: 'working',
      createdAt: '2026-12-03T10:00:00Z',
      lastUpdatedAt: '2026-12-03T10:00:05Z',
      ttlMs: 60_000,
      pollIntervalMs: 500,
    });
    expect(extensionTask({ taskId: 'b', status: 'working', ttl: null })).toEqual({
      taskId: 'b',
      status: 'working',
      ttlMs: null,
    });
  });

  it('decides completed or failed by the outcome: a JSON-RPC error fails it, any result (isError too) completes it', async () => {
    const toolError = { content: [{ type: 'text', text: 'no' }], isError: true } as Result;
    const { tasks, fetched } = extension(
      { broken: 'failed', refused: 'failed', done: 'completed' },
      {
        broken: { type: 'error', error: { code: -32603, message: 'boom' } },
        refused: { type: 'result', result: toolError },
        done: { type: 'result', result: { content: [] } },
      },
    );
    expect(await tasks.get({ taskId: 'broken' }, ctx)).toMatchObject({
      status: 'failed',
      error: { code: -32603, message: 'boom' },
    });
    expect(await tasks.get({ taskId: 'refused' }, ctx)).toMatchObject({ status: 'completed', result: toolError });
    expect(await tasks.get({ taskId: 'done' }, ctx)).toMatchObject({ status: 'completed', result: { content: [] } });
    // Asked again, the outcome already fetched is shown: the upstream is asked once per task.
    await tasks.get({ taskId: 'done' }, ctx);
    expect(fetched).toEqual(['broken', 'refused', 'done']);
  });

  it('fails the poll when the upstream gave no outcome, and asks again on the next one', async () => {
    const { tasks, fetched } = extension(
      { t: 'completed' },
      { t: { type: 'unavailable', error: new Error('upstream "u" is reconnecting') } },
    );
    await expect(tasks.get({ taskId: 't' }, ctx)).rejects.toThrow('reconnecting');
    await expect(tasks.get({ taskId: 't' }, ctx)).rejects.toThrow('reconnecting');
    expect(fetched).toEqual(['t', 't']);
  });

  it('shows a task that needs input as working until its question has reached the proxy', async () => {
    const { tasks } = extension({ q: 'input_required' }, { q: { type: 'result', result: { content: [] } } });
    // This upstream's fetch ends at once (no question): the outcome it gave is shown.
    expect(await tasks.get({ taskId: 'q' }, ctx)).toMatchObject({ status: 'completed' });
  });

  it('acknowledges a cancel of a task that already ended, and an update with keys it never asked', async () => {
    const { tasks } = extension({ t: 'completed' }, {});
    expect(await tasks.cancel({ taskId: 't' }, ctx)).toEqual({});
    expect(tasks.update({ taskId: 't', inputResponses: { 'input-9': { action: 'accept' } } })).toEqual({});
  });

  it('refuses a task it does not route, and forgets the state of a task whose route is gone', async () => {
    const { routes, tasks } = extension({ t: 'completed' }, { t: { type: 'result', result: { content: [] } } });
    for (const refused of [
      tasks.get({ taskId: 'nope' }, ctx),
      tasks.cancel({ taskId: 'nope' }, ctx),
      Promise.resolve().then(() => tasks.update({ taskId: 'nope', inputResponses: {} })),
    ]) {
      await expect(refused).rejects.toMatchObject({ code: ProtocolErrorCode.InvalidParams });
    }
    await tasks.get({ taskId: 't' }, ctx);
    expect(tasks.size).toBe(1);
    routes.forget('t');
    await expect(tasks.get({ taskId: 't' }, ctx)).rejects.toBeDefined();
    expect(tasks.size).toBe(0);
  });
});
