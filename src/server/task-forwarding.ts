/**
 * The task requests of the client (either era's: src/tasks/routing.ts), sent on through the same routing as every
 * other request. Task ids are the upstreams' own: the map from each to its upstream lives in the task routing, for
 * the whole connection.
 */
import type { RequestTarget } from '../../machines/supervisor/index.js';
import { redact } from '../observe/redact.js';
import type { TaskOutcome } from '../tasks/extension.js';
import { createTaskRouting, type TaskRouting } from '../tasks/routing.js';
import type { DownstreamSession } from './downstream-session.js';
import { redactData, unknownTarget } from './error-replies.js';
import type { RequestRouting } from './request-routing.js';

export function createTaskForwarding(
  { logger, supervisorReady }: DownstreamSession,
  { route, answer }: Pick<RequestRouting, 'route' | 'answer'>,
): TaskRouting {
  return createTaskRouting({
    send: async (upstream, method, params, ctx) => {
      const taskId = typeof params.taskId === 'string' ? params.taskId : undefined;
      const target: RequestTarget = { kind: 'task', upstream, ...(taskId !== undefined && { taskId }) };
      const label = `${method}${taskId === undefined ? '' : ` "${taskId}"`}`;
      return answer(method, label, await route(method, target, params, label, ctx, { signal: ctx.mcpReq.signal }));
    },
    upstreams: async (ctx) => (await supervisorReady(ctx)).getSnapshot().context.upstreams.map(({ name }) => name),
    // On the proxy's own behalf (no client request of its own: the extension has no tasks/result).
    fetchResult: async (upstream, taskId, onClientRequest, signal): Promise<TaskOutcome> => {
      const label = `tasks/result "${taskId}" (for a 2026-07-28 client's tasks/get)`;
      const target: RequestTarget = { kind: 'task', upstream, taskId };
      const outcome = await route('tasks/result', target, { taskId }, label, undefined, { signal, onClientRequest });
      switch (outcome.type) {
        case 'result':
          return { type: 'result', result: outcome.result };
        case 'rpc-error': {
          const data = redactData(outcome.data);
          const error = { code: outcome.code, message: redact(outcome.message), ...(data !== undefined && { data }) };
          return { type: 'error', error };
        }
        case 'unknown-target':
          return { type: 'unavailable', error: unknownTarget(outcome.target) };
        case 'failure':
          logger.debug(`${label}: ${outcome.failure.message}`);
          return { type: 'unavailable', error: new Error(redact(outcome.failure.message)) };
      }
    },
  });
}
