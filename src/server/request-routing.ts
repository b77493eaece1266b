/**
 * A client's request on its way to the upstream that owns its target and back: sent to the supervisor as a
 * `request.route` event (with the client's progress passed on), and the outcome turned into the MCP reply. A
 * 2026-07-28 client's request whose upstream asks questions meanwhile is answered with input_required rounds.
 */
import {
  type InputRequests,
  inputRequired,
  ProtocolError,
  ProtocolErrorCode,
  type Result,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { RequestTarget, RouteEvent } from '../../machines/supervisor/index.js';
import { resolve } from '../../machines/supervisor/routing.js';
import type { ForwardedMethod, ForwardedRequest } from '../../machines/types.js';
import { letYoungGenerationGrow } from '../heap.js';
import { redact } from '../observe/redact.js';
import { type RequestEndListener, toRequestEnd } from '../observe/request-end.js';
import type { TaskRouting } from '../tasks/routing.js';
import type { DownstreamSession } from './downstream-session.js';
import { redactData, redactToolError, unknownTarget } from './error-replies.js';
import { type InputRound, InputRounds } from './input-rounds.js';

export type RouteOutcome = Parameters<RouteEvent['reply']>[0];

/** Sends a request to the upstream that owns `target`; resolves with how it ended. */
export type Route = (
  method: ForwardedMethod,
  target: RequestTarget,
  params: Record<string, unknown>,
  label: string,
  /** None for the requests the proxy makes on its own (subscribing upstream for a listen stream). */
  ctx: ServerContext | undefined,
  extra: Pick<ForwardedRequest, 'signal' | 'onClientRequest'>,
) => Promise<RouteOutcome>;

export interface RequestRouting {
  route: Route;
  /** Turns how a request ended into the reply. */
  answer(method: ForwardedMethod, label: string, outcome: RouteOutcome): Result;
  /** Forwards a client's request to the upstream that owns `target` and answers with what it answered. */
  forward(
    method: ForwardedMethod,
    target: RequestTarget,
    params: Record<string, unknown>,
    label: string,
    ctx: ServerContext,
  ): Promise<Result>;
}

/** How long a result waits behind progress sent for its request just before (see route). */
const PROGRESS_SETTLE_MS = 20;

/** The requests of a 2026-07-28 client that may be answered with input_required. */
const ROUND_TRIP_METHODS: ReadonlySet<ForwardedMethod> = new Set(['tools/call', 'prompts/get', 'resources/read']);

let nextRequestId = 0;

/** The name the client gave the target, for traces: a tool's, a prompt's, a resource's URI, a task's id. */
function targetName(target: RequestTarget): string | undefined {
  if (target.kind === 'resource') return target.uri;
  if (target.kind === 'task') return target.taskId;
  return target.name;
}

/**
 * `answeredCall` is the task routing's: a `tools/call` result may be a task the upstream created. `onRequestEnd`
 * (the audit log, the metrics) hears how every routed request ended.
 */
export function createRequestRouting(
  { logger, bridge, era, supervisorReady, requests }: DownstreamSession,
  answeredCall: TaskRouting['answered'],
  onRequestEnd?: RequestEndListener,
): RequestRouting {
  const route: Route = async (method, target, params, label, ctx, extra) => {
    const started = performance.now();
    const supervisor = await supervisorReady(ctx);
    // Traffic: the young generation may grow now (held small while the proxy only started and listed).
    letYoungGenerationGrow();
    const { progressToken, ...meta } = (params._meta ?? {}) as Record<string, unknown>;
    const upstreamParams = { ...params };
    // The upstream gets a progress token of ours (the SDK adds it); its progress is passed on under the client's.
    if (params._meta !== undefined) upstreamParams._meta = meta;
    // Traced: the upstream's parent is the proxy's span (whose parent is the client's traceparent, when it sent one).
    const observed = requests?.begin({ method, name: targetName(target), meta });
    if (observed) upstreamParams._meta = observed.meta;
    const id = `request-${++nextRequestId}`;
    let progressSentAt = Number.NEGATIVE_INFINITY;
    // Progress goes through the bridge's queue, so that a flood of it never holds up the answers of other calls.
    const onProgress =
      progressToken === undefined || ctx === undefined
        ? undefined
        : (progress: { progress: number; total?: number; message?: string }) =>
            bridge.relayProgress(id, () => {
              progressSentAt = performance.now();
              return ctx.mcpReq.notify({
                method: 'notifications/progress',
                params: { ...progress, progressToken: progressToken as string | number },
              });
            });
    // The upstream's own name for the target, from the catalog the supervisor resolves it in now (or, when it
    // holds the request until the upstreams have listed, the one it answered from).
    const ownerIn = () => resolve(supervisor.getSnapshot().context.catalog, target);
    const owner = onRequestEnd && ownerIn();
    const outcome = await new Promise<RouteOutcome>((reply) =>
      supervisor.send({
        type: 'request.route',
        id,
        target,
        request: { method, params: upstreamParams, label, onProgress, ...extra },
        reply,
      }),
    );
    observed?.end(outcome);
    if (onRequestEnd) {
      try {
        const durationMs = performance.now() - started;
        const { signal } = extra;
        onRequestEnd(toRequestEnd({ method, target, params, outcome, durationMs, owner: owner ?? ownerIn(), signal }));
      } catch (error) {
        logger.debug(`${label}: request-end listener: ${String(error)}`);
      }
    }
    // Answered: progress still queued for it would reach the client after the result, which drops it anyway.
    if (onProgress) bridge.forgetProgress(id);
    // The SDK's clients (either era) handle a notification a microtask later than a response read in the same
    // chunk, so progress written just before the result is taken for an unknown token (typescript-sdk #2580;
    // some clients then drop the connection). A result right behind its progress waits a moment for the client
    // to have read it.
    const sinceProgress = performance.now() - progressSentAt;
    if (sinceProgress < PROGRESS_SETTLE_MS)
      await new Promise((resolve) => setTimeout(resolve, PROGRESS_SETTLE_MS - sinceProgress));
    return outcome;
  };

  const answer = (method: ForwardedMethod, label: string, outcome: RouteOutcome): Result => {
    switch (outcome.type) {
      case 'result':
        if (outcome.result.isError === true) return redactToolError(outcome.result);
        return method === 'tools/call' ? answeredCall(outcome.upstream, outcome.result) : outcome.result;
      case 'rpc-error':
        // An upstream's error text may echo what we sent it (headers, tokens): never pass a secret on.
        throw new ProtocolError(outcome.code, redact(outcome.message), redactData(outcome.data));
      case 'unknown-target':
        throw unknownTarget(outcome.target);
      case 'failure':
        logger.debug(`${label}: ${outcome.failure.message}`);
        // A tool's error is a result the model reads and can tell the user about; anything else has no such place.
        if (method === 'tools/call') {
          return { content: [{ type: 'text', text: redact(outcome.failure.message) }], isError: true };
        }
        throw new ProtocolError(ProtocolErrorCode.InternalError, redact(outcome.failure.message));
    }
  };

  const rounds = new InputRounds<RouteOutcome>();

  const forward: RequestRouting['forward'] = async (method, target, params, label, ctx) => {
    if (era() === 'legacy' || !ROUND_TRIP_METHODS.has(method)) {
      return answer(method, label, await route(method, target, params, label, ctx, { signal: ctx.mcpReq.signal }));
    }
    // A 2026-07-28 client: questions the upstream asks meanwhile end this request with input_required.
    const token = ctx.mcpReq.requestState<string>();
    let round: InputRound<RouteOutcome>;
    if (token === undefined) {
      round = rounds.start((onClientRequest, signal) =>
        route(method, target, params, label, ctx, { signal, onClientRequest }),
      );
    } else {
      round = rounds.resume(token);
      round.answer(ctx.mcpReq.inputResponses as Record<string, unknown> | undefined);
    }
    const step = await round.next(ctx.mcpReq.signal);
    if (step.type === 'done') return answer(method, label, step.outcome);
    return inputRequired({
      inputRequests: Object.fromEntries(step.questions.map(({ key, request }) => [key, request])) as InputRequests,
      requestState: step.token,
    }) as Result;
  };

  return { route, answer, forward };
}
