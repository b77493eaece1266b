/**
 * The MCP server the client talks to over stdio. It turns requests into supervisor events and the answers back
 * into MCP replies; it keeps no state of its own. Upstreams are started only once the client has initialized
 * (they must see its capabilities), so every handler first waits for the supervisor.
 */
import {
  type LoggingLevel,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  type Result,
  Server,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { Actor } from 'xstate';
import type { RequestTarget, RouteEvent, supervisorMachine } from '../../machines/supervisor.js';
import type { ForwardedMethod } from '../../machines/types.js';
import type { Catalog } from '../catalog/index.js';
import type { Logger } from '../observe/log.js';
import { IMPLEMENTATION } from '../version.js';
import { createClientBridge, type DownstreamClientBridge } from './client-bridge.js';

export type SupervisorActor = Actor<typeof supervisorMachine>;

type RouteOutcome = Parameters<RouteEvent['reply']>[0];

export interface Downstream {
  server: Server;
  bridge: DownstreamClientBridge;
  /** Serves with this supervisor from now on; requests that came before were waiting for it. */
  attach(supervisor: SupervisorActor): void;
}

/**
 * `start` creates the supervisor (once; later calls do nothing) and attaches it. It is called when the client has
 * initialized, and by every request in case a client sends requests before `notifications/initialized`.
 */
export type StartUpstreams = () => void;

let nextRequestId = 0;

export function createDownstreamServer(logger: Logger, start: StartUpstreams): Downstream {
  const server = new Server(IMPLEMENTATION, {
    capabilities: {
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      completions: {},
      logging: {},
    },
  });
  const bridge = createClientBridge(server);
  let attach!: (supervisor: SupervisorActor) => void;
  const attached = new Promise<SupervisorActor>((resolve) => {
    attach = resolve;
  });

  const supervisorReady = () => {
    start();
    return attached;
  };
  server.oninitialized = start;

  const catalog = async (): Promise<Catalog> => {
    const supervisor = await supervisorReady();
    return new Promise<Catalog>((reply) => supervisor.send({ type: 'catalog.get', reply }));
  };

  /** Sends a request to the upstream that owns `target` and turns the outcome into a reply. */
  const forward = async (
    method: ForwardedMethod,
    target: RequestTarget,
    params: Record<string, unknown>,
    label: string,
    ctx: ServerContext,
  ): Promise<Result> => {
    const supervisor = await supervisorReady();
    const { progressToken, ...meta } = (params._meta ?? {}) as Record<string, unknown>;
    const upstreamParams = { ...params };
    // The upstream gets a progress token of ours (the SDK adds it); its progress is passed on under the client's.
    if (params._meta !== undefined) upstreamParams._meta = meta;
    const onProgress =
      progressToken === undefined
        ? undefined
        : (progress: { progress: number; total?: number; message?: string }) => {
            ctx.mcpReq
              .notify({
                method: 'notifications/progress',
                params: { ...progress, progressToken: progressToken as string | number },
              })
              .catch(() => {});
          };
    const outcome = await new Promise<RouteOutcome>((reply) =>
      supervisor.send({
        type: 'request.route',
        id: `request-${++nextRequestId}`,
        target,
        request: { method, params: upstreamParams, label, signal: ctx.mcpReq.signal, onProgress },
        reply,
      }),
    );
    switch (outcome.type) {
      case 'result':
        return outcome.result;
      case 'rpc-error':
        throw new ProtocolError(outcome.code, outcome.message, outcome.data);
      case 'unknown-target':
        throw unknownTarget(outcome.target);
      case 'failure':
        logger.debug(`${label}: ${outcome.failure.message}`);
        // A tool's error is a result the model reads and can tell the user about; anything else has no such place.
        if (method === 'tools/call') {
          return { content: [{ type: 'text', text: outcome.failure.message }], isError: true };
        }
        throw new ProtocolError(ProtocolErrorCode.InternalError, outcome.failure.message);
    }
  };

  server.setRequestHandler('tools/list', async () => ({
    tools: (await catalog()).tools.tools.map((tool) => tool.definition),
  }));
  server.setRequestHandler('prompts/list', async () => ({
    prompts: (await catalog()).prompts.tools.map((prompt) => prompt.definition),
  }));
  server.setRequestHandler('resources/list', async () => ({
    resources: [...(await catalog()).resources.resources],
  }));
  server.setRequestHandler('resources/templates/list', async () => ({
    resourceTemplates: [...(await catalog()).resources.resourceTemplates],
  }));

  server.setRequestHandler('tools/call', (request, ctx) => {
    const { name } = request.params;
    return forward('tools/call', { kind: 'tool', name }, request.params, `tools/call "${name}"`, ctx) as never;
  });
  server.setRequestHandler('prompts/get', (request, ctx) => {
    const { name } = request.params;
    return forward('prompts/get', { kind: 'prompt', name }, request.params, `prompts/get "${name}"`, ctx) as never;
  });
  for (const method of ['resources/read', 'resources/subscribe', 'resources/unsubscribe'] as const) {
    server.setRequestHandler(method, (request, ctx) => {
      const { uri } = request.params;
      return forward(method, { kind: 'resource', uri }, request.params, `${method} ${uri}`, ctx) as never;
    });
  }
  server.setRequestHandler('completion/complete', (request, ctx) => {
    const { ref } = request.params;
    const target: RequestTarget =
      ref.type === 'ref/prompt' ? { kind: 'prompt', name: ref.name } : { kind: 'resource', uri: ref.uri };
    const label = `completion/complete for ${ref.type === 'ref/prompt' ? `prompt "${ref.name}"` : ref.uri}`;
    return forward('completion/complete', target, request.params, label, ctx) as never;
  });
  server.setRequestHandler('logging/setLevel', async (request) => {
    const level = request.params.level as LoggingLevel;
    bridge.setLogLevel(level);
    (await supervisorReady()).send({ type: 'logging.setLevel', level });
    return {};
  });
  server.setNotificationHandler('notifications/roots/list_changed', () => bridge.rootsChanged());

  attached.then((supervisor) => {
    supervisor.on('catalog.changed', ({ kinds }) => {
      const notify = {
        tools: () => server.sendToolListChanged(),
        prompts: () => server.sendPromptListChanged(),
        resources: () => server.sendResourceListChanged(),
      };
      for (const kind of kinds) {
        notify[kind]().catch(() => {
          // Not connected yet, or the client is gone: nothing to tell.
        });
      }
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
  });
  return { server, bridge, attach };
}

function unknownTarget(target: RequestTarget): Error {
  switch (target.kind) {
    case 'tool':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: "${target.name}"`);
    case 'prompt':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: "${target.name}"`);
    case 'resource':
      return new ResourceNotFoundError(target.uri);
  }
}
