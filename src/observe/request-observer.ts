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

/** The outcome in one word (and a stable code where there is one), the same for every observer. */
export function outcomeOf(outcome: RouteOutcome): { outcome: string; code?: string } {
  switch (outcome.type) {
    case 'result':
      return { outcome: outcome.result.isError === true ? 'tool-error' : 'result' };
    case 'rpc-error':
      return { outcome: 'rpc-error', code: String(outcome.code) };
    case 'failure':
      return { outcome: 'failure', code: outcome.failure.code };
    case 'unknown-target':
      return { outcome: 'unknown-target' };
  }
}
