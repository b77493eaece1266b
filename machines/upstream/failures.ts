/**
 * The failures the upstream chart names itself, built from the error vocabulary (src/errors); every other failure
 * comes from the actors it invokes, already classified.
 */
import {
  ConnectionLostError,
  isUpstreamFailure,
  NoTransportError,
  ScopeRefusedError,
  SessionExpiredError,
  SignInNeededError,
  UnexpectedError,
  UpstreamFailedError,
  type UpstreamFailure,
} from '../../src/errors/index.js';

/** What an actor failed with, when it is a failure of ours (anything else is a bug, with no kind to act on). */
export function failureOf(error: unknown): UpstreamFailure | undefined {
  return isUpstreamFailure(error) ? error : undefined;
}

/** What an actor failed with, as a failure to record: one of ours, or an unexpected one with `fallbackMessage`. */
export function asFailure(error: unknown, fallbackMessage: string): UpstreamFailure {
  return failureOf(error) ?? new UnexpectedError(fallbackMessage);
}

export function lostDuringCall(name: string, failure: UpstreamFailure): UpstreamFailure {
  return new ConnectionLostError(
    `connection to upstream "${name}" was lost during the call (${failure.reason ?? failure.message}); it is reconnecting, try again`,
  );
}

/** Both transports refused (http-first or sse-first): one message naming what each answered. */
export function bothRefused(name: string, first: UpstreamFailure, second: UpstreamFailure): UpstreamFailure {
  const prefix = `upstream "${name}": `;
  const reason = (message: string) => (message.startsWith(prefix) ? message.slice(prefix.length) : message);
  // The second refusal's kind, reason and Retry-After stand: only its code and message say "both".
  return new NoTransportError(
    `${prefix}neither transport answered as MCP: ${reason(first.message)}; then ${reason(second.message)}`,
    { kind: second.kind, reason: second.reason, retryAfterMs: second.retryAfterMs },
  );
}

export function scopeRefused(name: string, scope: string | undefined, stepUps: number): UpstreamFailure {
  return new ScopeRefusedError(
    `upstream "${name}" still asks for more permissions (scope ${scope ?? 'unknown'}) after ${stepUps} step-up sign-ins; giving up`,
  );
}

/** A call that reaches an upstream waiting for its user to sign in; `instruction` says where, when known. */
export function signInNeeded(name: string, instruction: string | undefined): UpstreamFailure {
  const where = instruction ? `: open ${instruction}` : ' (the sign-in link is on stderr and in the log)';
  return new SignInNeededError(`upstream "${name}" needs you to sign in${where}, then try again`);
}

export function sessionsForgotten(name: string): UpstreamFailure {
  return new SessionExpiredError(`upstream "${name}" forgets every new session; retrying with backoff`);
}

/** The failure of an upstream that ended in `failed` with none on record. */
export function failedFailure(name: string): UpstreamFailure {
  return new UpstreamFailedError(`upstream "${name}" failed`);
}
