/**
 * The downstream SDK Server, able to answer a task-augmented `tools/call` with a CreateTaskResult. The SDK checks
 * every `tools/call` answer against CallToolResult and refuses one that carries `task` without `content` (it has no
 * task runtime). `_wrapHandler` is the SDK's hook for subclasses that wrap handlers: a task-augmented call answered
 * with a task skips that check; everything else (a task-augmented call the upstream ran at once, every other call)
 * goes through the SDK's own wrapper unchanged.
 */
import { type JSONRPCRequest, type Result, Server, type ServerContext } from '@modelcontextprotocol/server';
import { createdTask, isTaskAugmented } from './wire.js';

type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;

export class TaskAwareServer extends Server {
  /** Only a 2025-era server gets tasks (src/tasks/routing.ts); a 2026-07-28 one is the SDK's own, unchanged. */
  constructor(
    private readonly era: 'legacy' | 'modern',
    ...args: ConstructorParameters<typeof Server>
  ) {
    super(...args);
  }

  protected override _wrapHandler(method: string, handler: Handler): Handler {
    const wrapped = super._wrapHandler(method, handler);
    if (method !== 'tools/call') return wrapped;
    return async (request, ctx) => {
      if (this.era !== 'legacy' || !isTaskAugmented(request.params)) return wrapped(request, ctx);
      const result = await handler(request, ctx);
      if (createdTask(result)) return result;
      // Not a task after all: the SDK's checks and normalisation, on the result already in hand.
      return super._wrapHandler(method, async () => result)(request, ctx);
    };
  }
}
