/**
 * How a forwarded request ended, as the routing sees it (`route()` in src/server/request-routing.ts): the one
 * place every request to an upstream passes on its way back. The audit log and the metrics listen here.
 */
import type { RequestTarget, RouteOutcome } from '../../machines/supervisor/index.js';
import { outcomeOf } from './request-observer.js';

export type RequestOutcomeKind = 'result' | 'tool-error' | 'rpc-error' | 'failure' | 'unknown-target' | 'cancelled';

export interface RequestEnd {
  /** Epoch ms when it ended. */
  time: number;
  method: string;
  /** The upstream that owns the target; none for an unknown target. */
  upstream?: string;
  /** What the client named: a tool or prompt (with the upstream's own name for it), a resource, a task. */
  target: {
    kind: 'tool' | 'prompt' | 'resource' | 'task';
    name?: string;
    upstreamName?: string;
    uri?: string;
    taskId?: string;
  };
  durationMs: number;
  outcome: RequestOutcomeKind;
  /** The JSON-RPC error code (`rpc-error`) or the failure's stable code (`failure`). */
  code?: number | string;
  /** The params as the client sent them. */
  params: Record<string, unknown>;
  /** The result (`result`, `tool-error`). */
  result?: unknown;
}

export type RequestEndListener = (end: RequestEnd) => void;

/** Every listener given, or none at all (so that the routing does no work when nobody listens). */
export function composeRequestEndListeners(
  ...listeners: Array<RequestEndListener | undefined>
): RequestEndListener | undefined {
  const present = listeners.filter((listener) => listener !== undefined);
  if (present.length <= 1) return present[0];
  return (end) => {
    for (const listener of present) listener(end);
  };
}

export interface RequestEndFacts {
  method: string;
  target: RequestTarget;
  /** As the client sent them. */
  params: Record<string, unknown>;
  outcome: RouteOutcome;
  durationMs: number;
  /** Who owns the target in the catalog, and the name it knows it by. */
  owner: { upstream: string; originalName?: string } | undefined;
  /** The request's: aborted when the client cancelled it. */
  signal: AbortSignal | undefined;
}

/** What the listeners hear of a routed request that ended. */
export function toRequestEnd({
  method,
  target,
  params,
  outcome,
  durationMs,
  owner,
  signal,
}: RequestEndFacts): RequestEnd {
  const upstream = outcome.type === 'unknown-target' ? undefined : outcome.upstream;
  // The upstream's own name, when the catalog's owner is the upstream that answered.
  const upstreamName = upstream !== undefined && owner?.upstream === upstream ? owner.originalName : undefined;
  const { outcome: how, code } = outcomeOf(outcome, signal?.aborted === true);
  const end: RequestEnd = {
    time: Date.now(),
    method,
    ...(upstream !== undefined && { upstream }),
    target: {
      kind: target.kind,
      ...(target.kind === 'tool' || target.kind === 'prompt' ? { name: target.name } : {}),
      ...(upstreamName !== undefined && { upstreamName }),
      ...(target.kind === 'resource' && { uri: target.uri }),
      ...(target.kind === 'task' && target.taskId !== undefined && { taskId: target.taskId }),
    },
    durationMs,
    outcome: how,
    ...(code !== undefined && { code }),
    params,
  };
  return outcome.type === 'result' ? { ...end, result: outcome.result } : end;
}
