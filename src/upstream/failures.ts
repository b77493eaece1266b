/**
 * Turns whatever the SDK or the network threw into an `UpstreamFailure`: a kind the statechart acts on, a stable
 * code, and one line that names the upstream and holds no secret (URLs are shown without query or credentials).
 */
import {
  InsufficientScopeError,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SseError,
} from '@modelcontextprotocol/client';
import {
  type CallOutcome,
  type FailureKind,
  INSUFFICIENT_SCOPE,
  type TransportKind,
  type UpstreamFailure,
} from '../../machines/types.js';

/** A 403 asking for a wider scope; the failure's `reason` holds the scope the upstream asked for. */
export const ERR_INSUFFICIENT_SCOPE = INSUFFICIENT_SCOPE;

export class UpstreamError extends Error implements UpstreamFailure {
  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
    readonly reason?: string,
    /** The server's Retry-After (429, 503), in ms: the next attempt waits at least this long. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/**
 * `failure` with the Retry-After a 429 or 503 answer carried while it happened; unchanged when there was none or
 * the failure is not an HTTP status (a network error, a JSON-RPC error: that answer was not the one that failed).
 */
export function withRetryAfter<F>(failure: F, retryAfterMs: number | undefined): F | UpstreamError {
  if (retryAfterMs === undefined || !isFailure(failure) || failure.code !== 'ERR_UPSTREAM_HTTP') return failure;
  return new UpstreamError(failure.kind, failure.code, failure.message, failure.reason, retryAfterMs);
}

function isFailure(value: unknown): value is UpstreamFailure {
  return typeof value === 'object' && value !== null && 'kind' in value && 'code' in value && 'message' in value;
}

/** Origin and path only: query strings and userinfo may carry keys. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

const TRANSPORT_NAMES: Record<TransportKind, string> = { http: 'Streamable HTTP', sse: 'SSE' };

function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof SdkHttpError) return error.status;
  if (error instanceof SseError && typeof error.code === 'number' && error.code !== 200) return error.code;
  return undefined;
}

/** The innermost cause's code or message, e.g. ECONNREFUSED, for a one-line reason. */
export function networkReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$|^UND_ERR/.test(code)) return code;
    if (!(current.cause instanceof Error)) break;
    current = current.cause;
  }
  // The SSE client reports a stream that ended normally (before its endpoint event, say) with no cause at all.
  if (error instanceof SseError && error.code === undefined && /^SSE error: undefined$/.test(error.message)) {
    return 'the stream closed';
  }
  const message = current instanceof Error ? current.message : String(current);
  // Some layers only keep the cause in their text ("SSE error: TypeError: fetch failed: connect ECONNREFUSED").
  const code = /\b(E[A-Z]{4,}|UND_ERR_[A-Z_]+)\b/.exec(message)?.[1];
  if (code) return code;
  // "SSE error: TypeError: terminated: other side closed" → "other side closed".
  return message.replace(/^(SSE error: )?(TypeError: )?(terminated: )?/, '') || message;
}

function isNetworkError(error: unknown): boolean {
  if (error instanceof TypeError && /fetch failed/.test(error.message)) return true;
  if (error instanceof SseError && error.code === undefined) return true;
  if (error instanceof SdkError) {
    return [SdkErrorCode.ConnectionClosed, SdkErrorCode.SendFailed, SdkErrorCode.RequestTimeout].includes(error.code);
  }
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^E[A-Z]+$|^UND_ERR/.test(code);
}

/**
 * A failure to open a session over `transport`. `retryAfterMs`: the Retry-After of a 429 or 503 answer received
 * meanwhile (the SDK's errors keep the status, not the headers), kept when that status is what failed.
 */
export function classifyConnectError(
  name: string,
  transport: TransportKind,
  url: URL,
  error: unknown,
  retryAfterMs?: number,
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  // The 2026-07-28 era probe wraps what went wrong (refused, HTML, not JSON): the cause is what tells.
  if (error instanceof SdkError && error.code === SdkErrorCode.EraNegotiationFailed && error.cause !== undefined) {
    return classifyConnectError(name, transport, url, error.cause, retryAfterMs);
  }
  const where = `${TRANSPORT_NAMES[transport]} at ${displayUrl(url)}`;
  const status = httpStatusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (status === 401 || error?.constructor?.name === 'UnauthorizedError') {
    return new UpstreamError(
      'auth',
      'ERR_UPSTREAM_AUTH_REQUIRED',
      `upstream "${name}": ${where} requires sign-in (401)`,
    );
  }
  if (status === 400 || status === 404 || status === 405) {
    return new UpstreamError(
      'fallback',
      'ERR_UPSTREAM_TRANSPORT_REFUSED',
      `upstream "${name}": no MCP server over ${where} (HTTP ${status})`,
    );
  }
  if (status === 403) {
    return new UpstreamError(
      'permanent',
      'ERR_UPSTREAM_FORBIDDEN',
      `upstream "${name}": ${where} refused access (403 Forbidden)`,
    );
  }
  if (status !== undefined && (status >= 500 || status === 408 || status === 429)) {
    const wait = status === 429 || status === 503 ? retryAfterMs : undefined;
    return new UpstreamError(
      'network',
      'ERR_UPSTREAM_HTTP',
      `upstream "${name}": ${where} answered HTTP ${status}${wait ? ` (retry after ${Math.ceil(wait / 1000)} s)` : ''}`,
      undefined,
      wait,
    );
  }
  if (status !== undefined) {
    return new UpstreamError('permanent', 'ERR_UPSTREAM_HTTP', `upstream "${name}": ${where} answered HTTP ${status}`);
  }
  if (/origin does not match/i.test(message)) {
    return new UpstreamError(
      'permanent',
      'ERR_UPSTREAM_SSE_ORIGIN',
      `upstream "${name}": the SSE endpoint is on another origin than ${url.origin}; refused for safety`,
    );
  }
  if (isNetworkError(error)) {
    const reason = networkReason(error);
    return new UpstreamError(
      'network',
      'ERR_UPSTREAM_UNREACHABLE',
      `upstream "${name}": cannot reach ${where} (${reason})`,
      reason,
    );
  }
  // 200 with HTML, JSON that is not JSON-RPC, an SSE stream of the wrong type: something answered, but not MCP.
  if (
    (error instanceof SdkError && error.code === SdkErrorCode.ClientHttpUnexpectedContent) ||
    error instanceof SseError ||
    error?.constructor?.name === 'ZodError' ||
    error instanceof SyntaxError
  ) {
    return new UpstreamError(
      'fallback',
      'ERR_UPSTREAM_NOT_MCP',
      `upstream "${name}": ${where} did not answer as an MCP server`,
    );
  }
  if (error instanceof ProtocolError) {
    return new UpstreamError(
      'permanent',
      'ERR_UPSTREAM_INITIALIZE',
      `upstream "${name}": initialize was refused (${error.message})`,
    );
  }
  return new UpstreamError(
    'network',
    'ERR_UPSTREAM_CONNECT',
    `upstream "${name}": connecting over ${where} failed (${message})`,
  );
}

/** How a forwarded call ended, when it did not end with a result. `what` names the request in messages: `tools/call "search"`, `tools/list`, `ping`. */
export function classifyCallError(name: string, what: string, timeoutMs: number, error: unknown): CallOutcome {
  if (error instanceof ProtocolError) {
    return { type: 'rpc-error', code: error.code, message: error.message, data: error.data };
  }
  // Already classified (the OAuth session's own failures, thrown through the transport).
  if (error instanceof UpstreamError) return { type: 'failure', failure: error };
  const failure = (kind: FailureKind, code: string, message: string, reason?: string): CallOutcome => ({
    type: 'failure',
    failure: { kind, code, message, reason },
  });
  if (error instanceof InsufficientScopeError) {
    return failure(
      'auth',
      ERR_INSUFFICIENT_SCOPE,
      `upstream "${name}" needs more permissions for ${what} (scope ${error.requiredScope ?? 'unknown'}); a new sign-in asks for them, try again after it`,
      error.requiredScope,
    );
  }
  if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
    return failure(
      'upstream',
      'ERR_UPSTREAM_TIMEOUT',
      `upstream "${name}" did not answer ${what} within ${timeoutMs} ms`,
    );
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return failure('upstream', 'ERR_CALL_CANCELLED', `${what} on upstream "${name}" was cancelled`);
  }
  const status = httpStatusOf(error);
  if (status === 404) {
    return failure('session-expired', 'ERR_UPSTREAM_SESSION_EXPIRED', `upstream "${name}" no longer knows our session`);
  }
  if (status !== undefined) {
    return failure('upstream', 'ERR_UPSTREAM_HTTP', `upstream "${name}" answered HTTP ${status} to ${what}`);
  }
  if (isNetworkError(error)) {
    const reason = networkReason(error);
    return failure(
      'network',
      'ERR_UPSTREAM_CONNECTION_LOST',
      `connection to upstream "${name}" was lost during the call (${reason}); it is reconnecting, try again`,
      reason,
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return failure('upstream', 'ERR_UPSTREAM_CALL', `${what} on upstream "${name}" failed: ${message}`);
}
