/**
 * What sees each forwarded request from its start to its outcome (OpenTelemetry today): a small interface the
 * downstream calls, so that the observer's code is loaded only when it is configured.
 */
import type { RouteOutcome } from '../../machines/supervisor/index.js';

export interface ObservedRequest {
  /** The `_meta` to send upstream: the client's, with a `traceparent` naming the proxy's span when there is one. */
  readonly meta: Record<string, unknown>;
  /** The request ended: how, and (when it reached one) on which upstream. */
  end(outcome: RouteOutcome): void;
}

export interface RequestObserver {
  /** A request leaves for its upstream: `name` is the tool's, prompt's or resource's as the client named it. */
  begin(request: { method: string; name?: string; meta: Record<string, unknown> }): ObservedRequest;
}

/** The outcome in one word, and its code where it has one (the JSON-RPC error's, the failure's stable one). */
export function outcomeOf(
  outcome: RouteOutcome,
  cancelled = false,
): {
  outcome: 'result' | 'tool-error' | 'rpc-error' | 'failure' | 'cancelled' | 'unknown-target';
  code?: number | string;
} {
  switch (outcome.type) {
    case 'result':
      return { outcome: outcome.result.isError === true ? 'tool-error' : 'result' };
    case 'rpc-error':
      return { outcome: 'rpc-error', code: outcome.code };
    case 'failure':
      // The client cancelled: a failure of its own kind, whatever else the upstream's side reported meanwhile.
      if (cancelled || outcome.failure.code === 'ERR_CALL_CANCELLED') return { outcome: 'cancelled' };
      return { outcome: 'failure', code: outcome.failure.code };
    case 'unknown-target':
      return { outcome: 'unknown-target' };
  }
}
