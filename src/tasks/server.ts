/**
 * The downstream SDK Server, able to answer a task-augmented `tools/call` with a CreateTaskResult. The SDK checks
 * every `tools/call` answer against CallToolResult and refuses one that carries `task` without `content` (it has no
 * task runtime). `_wrapHandler` is the SDK's hook for subclasses that wrap handlers: a task-augmented call answered
 * with a task skips that check; everything else (a task-augmented call the upstream ran at once, every other call)
 * goes through the SDK's own wrapper unchanged.
 *
 * A 2026-07-28 server's `tools/call` may be answered with the tasks extension's CreateTaskResult (extension.ts),
 * `resultType: "task"`, which the SDK's encoder passes on as it is but its CallToolResult check refuses. There the
 * handler runs inside the SDK's wrapper as always (its request checks and its handling of input_required stay),
 * and a task it answers with stands in the check as an empty tool result, then replaces it.
 */
import { type JSONRPCRequest, type Result, Server, type ServerContext } from '@modelcontextprotocol/server';
import { isExtensionTaskResult } from './extension.js';
import { createdTask, isTaskAugmented } from './wire.js';

type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;

export class TaskAwareServer extends Server {
  /** A 2025-era server gets the 2025 tasks, a 2026-07-28 one the extension (src/tasks/routing.ts). */
  constructor(
    private readonly era: 'legacy' | 'modern',
    ...args: ConstructorParameters<typeof Server>
  ) {
    super(...args);
  }

  protected override _wrapHandler(method: string, handler: Handler): Handler {
    const wrapped = super._wrapHandler(method, handler);
    if (method !== 'tools/call') return wrapped;
    if (this.era === 'modern') {
      return async (request, ctx) => {
        let created: Result | undefined;
        const checked = await super._wrapHandler(method, async (inner, innerCtx) => {
          const result = await handler(inner, innerCtx);
          if (!isExtensionTaskResult(result)) return result;
          created = result;
          return { content: [] };
        })(request, ctx);
        return created ?? checked;
      };
    }
    return async (request, ctx) => {
      if (!isTaskAugmented(request.params)) return wrapped(request, ctx);
      const result = await handler(request, ctx);
      if (createdTask(result)) return result;
      // Not a task after all: the SDK's checks and normalisation, on the result already in hand.
      return super._wrapHandler(method, async () => result)(request, ctx);
    };
  }
}
