/**
 * The base of every failure an upstream can have, and what the statecharts read of it. A leaf: it imports nothing,
 * so the machines, the I/O around them and the observers all speak of failures in the same words.
 */

/**
 * What a failure means for the upstream's statechart. Decided once, where the error is caught (src/upstream),
 * so guards only read a field.
 * - `auth`: the upstream answered 401; sign-in is needed.
 * - `fallback`: this transport is not spoken at this URL (400, 404, 405, not MCP); the other one may be.
 * - `network`: unreachable, reset, 5xx, timeout: retrying may fix it.
 * - `session-expired`: the Streamable HTTP session is gone (404 for our session id): open a new one.
 * - `permanent`: retrying cannot fix it (403, SSE endpoint on another origin, refused by both transports).
 * - `upstream`: the upstream answered with a JSON-RPC error; the connection is fine.
 */
export type FailureKind = 'auth' | 'fallback' | 'network' | 'session-expired' | 'permanent' | 'upstream';

export interface UpstreamFailure {
  readonly kind: FailureKind;
  /** Stable machine-readable code, e.g. ERR_UPSTREAM_UNREACHABLE. */
  readonly code: string;
  /** One human line that names the upstream and never holds a secret. */
  readonly message: string;
  /** The bare cause (e.g. "ECONNREFUSED"), for messages that add their own context. */
  readonly reason?: string;
  /** A server's Retry-After (429, 503), in ms: the next attempt waits at least this long. */
  readonly retryAfterMs?: number;
}

export interface FailureOptions extends ErrorOptions {
  /** For a failure that retrying fixes in one place and not in another (an HTTP status, a refusal): its kind there. */
  kind?: FailureKind;
  reason?: string;
  retryAfterMs?: number;
}

/** One failure of an upstream; each subclass is one kind of failure with a stable `code` (undici's style). */
export abstract class UpstreamError extends Error implements UpstreamFailure {
  abstract readonly code: string;
  readonly kind: FailureKind;
  readonly reason?: string;
  readonly retryAfterMs?: number;

  protected constructor(message: string, kind: FailureKind, options: FailureOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = options.kind ?? kind;
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The class of one failure: `code`, the kind it has unless told otherwise, and the message it has when none is
 * given. Each `export class X extends failureClass(...) {}` is then one line with its own name for `instanceof`.
 */
export function failureClass<const Code extends string>(code: Code, kind: FailureKind, defaultMessage: string) {
  return class extends UpstreamError {
    readonly code: Code = code;
    constructor(message: string = defaultMessage, options?: FailureOptions) {
      super(message, kind, options);
    }
  };
}

/** Anything shaped like a failure: an `UpstreamError`, or one carried through a place that kept only its fields. */
export function isUpstreamFailure(value: unknown): value is UpstreamFailure {
  return typeof value === 'object' && value !== null && 'kind' in value && 'code' in value && 'message' in value;
}
