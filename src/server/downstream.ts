/**
 * The MCP server the client talks to over stdio. It turns requests into supervisor events and the answers back
 * into MCP replies; it keeps no state of its own.
 */
import { ProtocolError, ProtocolErrorCode, Server, type Tool } from '@modelcontextprotocol/server';
import type { Actor } from 'xstate';
import type { supervisorMachine, ToolCallEvent } from '../../machines/supervisor.js';
import type { Logger } from '../observe/log.js';
import { IMPLEMENTATION } from '../version.js';

export type SupervisorActor = Actor<typeof supervisorMachine>;

type CallReply = Parameters<ToolCallEvent['reply']>[0];

let nextCallId = 0;

export function createDownstreamServer(supervisor: SupervisorActor, logger: Logger): Server {
  const server = new Server(IMPLEMENTATION, { capabilities: { tools: { listChanged: true }, logging: {} } });

  server.setRequestHandler('tools/list', async () => {
    const tools = await new Promise<Tool[]>((reply) => supervisor.send({ type: 'tools.list', reply }));
    return { tools };
  });

  server.setRequestHandler('tools/call', async (request, ctx) => {
    const { name, arguments: args, _meta } = request.params;
    const { progressToken, ...meta } = (_meta ?? {}) as Record<string, unknown>;
    const onProgress =
      progressToken === undefined
        ? undefined
        : (progress: { progress: number; total?: number; message?: string }) => {
            // The client's own token, not the one the proxy gave the upstream.
            ctx.mcpReq
              .notify({
                method: 'notifications/progress',
                params: { ...progress, progressToken: progressToken as string | number },
              })
              .catch(() => {});
          };
    const outcome = await new Promise<CallReply>((reply) =>
      supervisor.send({
        type: 'tool.call',
        id: `call-${++nextCallId}`,
        name,
        request: {
          arguments: args,
          meta: _meta === undefined ? undefined : meta,
          signal: ctx.mcpReq.signal,
          onProgress,
        },
        reply,
      }),
    );
    switch (outcome.type) {
      case 'result':
        return outcome.result;
      case 'rpc-error':
        throw new ProtocolError(outcome.code, outcome.message, outcome.data);
      case 'unknown-tool':
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: "${outcome.name}"`);
      case 'failure':
        logger.debug(`tools/call "${name}": ${outcome.failure.message}`);
        // An error result, not a protocol error: the model reads it and can tell the user what happened.
        return { content: [{ type: 'text', text: outcome.failure.message }], isError: true };
    }
  });

  supervisor.on('tools.changed', () => {
    server.sendToolListChanged().catch(() => {
      // Not connected yet, or the client is gone: nothing to tell.
    });
  });
  supervisor.on('warning', ({ message }) => logger.warn(message));
  // The client may show log messages where stderr is hidden: the sign-in link must reach the user somehow.
  supervisor.on('sign-in.needed', ({ upstream, url }) => {
    server
      .sendLoggingMessage({
        level: 'warning',
        logger: upstream,
        data: `Sign in to upstream "${upstream}": open ${url}`,
      })
      .catch(() => {});
  });
  return server;
}
