/**
 * Task routing on its own, behind its `TaskForwarding` interface (what the downstream gives it: send to one named
 * upstream). The integration tests (test/integration/tasks.test.ts) run it against server-everything; here are the
 * cases no real server produces on demand: two upstreams handing out the same task id, an upstream that forgot a
 * task, pages of tasks/list.
 */
import { ProtocolError, ProtocolErrorCode, type Result, type ServerContext } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { createTaskRouting, type TaskForwarding } from '../../src/tasks/routing.js';
import type { TaskMethod } from '../../src/tasks/wire.js';

const ctx = {} as ServerContext;

interface Sent {
  upstream: string;
  method: TaskMethod;
  params: Record<string, unknown>;
}

/** Upstreams that answer from a table: `answers[upstream][method]`, a result or an error to throw. */
function upstreams(answers: Record<string, Partial<Record<TaskMethod, (params: Record<string, unknown>) => Result>>>) {
  const sent: Sent[] = [];
  const forwarding: TaskForwarding = {
    send: async (upstream, method, params) => {
      sent.push({ upstream, method, params });
      const answer = answers[upstream]?.[method];
      if (!answer) throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `${method} not on ${upstream}`);
      return answer(params);
    },
    upstreams: async () => Object.keys(answers),
    fetchResult: async () => ({ type: 'unavailable', error: new Error('not in these tests') }),
  };
  return { sent, routing: createTaskRouting(forwarding) };
}

const task = (taskId: string, status = 'working') => ({ taskId, status, ttl: 60_000 });

describe('task routing', () => {
  it('tells apart two upstreams that hand out the same id, in answers, requests, results and statuses', async () => {
    const { sent, routing } = upstreams({
      a: { 'tasks/get': ({ taskId }) => task(String(taskId), 'completed') },
      b: {
        'tasks/get': ({ taskId }) => task(String(taskId), 'working'),
        'tasks/result': ({ taskId }) => ({
          content: [],
          _meta: { 'io.modelcontextprotocol/related-task': { taskId } },
        }),
      },
    });
    expect(routing.answered('a', { task: task('1') })).toEqual({ task: task('1') });
    expect(routing.answered('b', { task: task('1') })).toEqual({ task: task('1@b') });

    expect(await routing.handle('tasks/get', { taskId: '1@b' }, ctx)).toEqual(task('1@b', 'working'));
    expect(await routing.handle('tasks/get', { taskId: '1' }, ctx)).toEqual(task('1', 'completed'));
    expect(sent.map(({ upstream, params }) => [upstream, params.taskId])).toEqual([
      ['b', '1'],
      ['a', '1'],
    ]);
    expect(await routing.handle('tasks/result', { taskId: '1@b' }, ctx)).toEqual({
      content: [],
      _meta: { 'io.modelcontextprotocol/related-task': { taskId: '1@b' } },
    });
    expect(routing.statusForClient('legacy', 'b', task('1', 'completed'))).toEqual(task('1@b', 'completed'));
    // A 2026-07-28 client was offered no tasks: it gets no statuses.
    expect(routing.statusForClient('modern', 'b', task('1', 'completed'))).toBeUndefined();
  });

  it('refuses an id it does not know without asking anyone, and forgets one its upstream no longer knows', async () => {
    const { sent, routing } = upstreams({
      a: {
        'tasks/get': () => {
          throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'Task not found');
        },
      },
    });
    const unknown = await routing.handle('tasks/get', { taskId: 'never-made' }, ctx).catch((error: unknown) => error);
    expect(unknown).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
    expect(sent).toEqual([]);

    routing.answered('a', { task: task('gone') });
    const forgotten = await routing.handle('tasks/get', { taskId: 'gone' }, ctx).catch((error: unknown) => error);
    expect(forgotten).toMatchObject({ code: ProtocolErrorCode.InvalidParams, message: 'Task not found' });
    expect(routing.routes.lookup('gone')).toBeUndefined();
  });

  it("walks the upstreams' pages for tasks/list, skipping an upstream with none, and refuses a cursor of its own making only", async () => {
    const { routing } = upstreams({
      a: {
        'tasks/list': ({ cursor }) =>
          cursor === undefined ? { tasks: [task('a1')], nextCursor: 'a-page-2' } : { tasks: [task('a2')] },
      },
      empty: { 'tasks/list': () => ({ tasks: [] }) },
      // Listing fails here: it costs this upstream's tasks only.
      broken: {},
      c: { 'tasks/list': () => ({ tasks: [task('c1')] }) },
    });
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = (await routing.handle('tasks/list', cursor === undefined ? {} : { cursor }, ctx)) as {
        tasks: Array<{ taskId: string }>;
        nextCursor?: string;
      };
      pages.push(page.tasks.map(({ taskId }) => taskId));
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages.length < 10);
    expect(pages).toEqual([['a1'], ['a2'], ['c1']]);
    // Listed tasks are routed like created ones.
    expect(routing.routes.lookup('c1')).toMatchObject({ upstream: 'c', upstreamId: 'c1' });

    const forged = Buffer.from(JSON.stringify({ upstream: 'nowhere' })).toString('base64url');
    for (const bad of ['garbage', forged]) {
      const refused = await routing.handle('tasks/list', { cursor: bad }, ctx).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: ProtocolErrorCode.InvalidParams });
    }
  });

  it('offers core tasks to a 2025-era client, the extension to a 2026-07-28 one, and drops the task it asks for', () => {
    const { routing } = upstreams({});
    expect(routing.capabilities('legacy')).toEqual({
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    });
    expect(routing.capabilities('modern')).toEqual({ extensions: { 'io.modelcontextprotocol/tasks': {} } });
    const params = { name: 'x', arguments: {}, task: { ttl: 1 } };
    expect(routing.callParams('legacy', params)).toBe(params);
    expect(routing.callParams('modern', params)).toEqual({ name: 'x', arguments: {} });
  });
});
