/**
 * Turns whatever the SDK or the network threw into an `UpstreamFailure` (src/errors): a kind the statechart acts
 * on, a stable code, and one line that names the upstream and holds no secret (URLs are shown without query or
 * credentials). Errors are told apart by the SDK's exported classes and codes; the one plain `Error` the SDK
 * throws for a cause we act on (an SSE endpoint on another origin) is told by its text.
 */
import {
  InsufficientScopeError,
  ProtocolError,
  SdkError,
  SdkErrorCode,
  SdkHttpError,
  SseError,
  UnauthorizedError,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import type { CallOutcome, TransportKind } from '../../machines/types.js';
import {
  CallCancelledError,
  CallError,
  ConnectionLostError,
  InitializeRefusedError,
  InsufficientScopeFailure,
  isUpstreamFailure,
  NotMcpError,
  SessionExpiredError,
  SseOriginError,
  TransportRefusedError,
  UpstreamAuthRequiredError,
  UpstreamConnectError,
  UpstreamError,
  UpstreamForbiddenError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
} from '../errors/index.js';
import { displayUrl } from '../observe/redact.js';

/**
 * `failure` with the Retry-After a 429 or 503 answer carried while it happened; unchanged when there was none or
 * the failure is not an HTTP status (a network error, a JSON-RPC error: that answer was not the one that failed).
 */
export function withRetryAfter<F>(failure: F, retryAfterMs: number | undefined): F | UpstreamError {
  if (retryAfterMs === undefined || !isUpstreamFailure(failure) || failure.code !== 'ERR_UPSTREAM_HTTP') return failure;
  const { kind, reason } = failure;
  return new UpstreamHttpError(failure.message, { kind, reason, retryAfterMs });
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

const NETWORK_SDK_CODES: readonly SdkErrorCode[] = [
  SdkErrorCode.ConnectionClosed,
  SdkErrorCode.SendFailed,
  SdkErrorCode.RequestTimeout,
];

function isNetworkError(error: unknown): boolean {
  // undici's fetch rejects with a TypeError whose cause is the socket's error.
  if (error instanceof TypeError && /fetch failed/.test(error.message)) return true;
  if (error instanceof SseError && error.code === undefined) return true;
  if (error instanceof SdkError) return NETWORK_SDK_CODES.includes(error.code);
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^E[A-Z]+$|^UND_ERR/.test(code);
}

/** 200 with HTML, JSON that is not JSON-RPC, an SSE stream of the wrong type: something answered, but not MCP. */
function isNotMcp(error: unknown): boolean {
  return (
    (error instanceof SdkError && error.code === SdkErrorCode.ClientHttpUnexpectedContent) ||
    error instanceof SseError ||
    error instanceof z.core.$ZodError ||
    error instanceof SyntaxError
  );
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
  const cause = { cause: error };
  if (status === 401 || error instanceof UnauthorizedError) {
    return new UpstreamAuthRequiredError(`upstream "${name}": ${where} requires sign-in (401)`, cause);
  }
  if (status === 400 || status === 404 || status === 405) {
    return new TransportRefusedError(`upstream "${name}": no MCP server over ${where} (HTTP ${status})`, cause);
  }
  if (status === 403) {
    return new UpstreamForbiddenError(`upstream "${name}": ${where} refused access (403 Forbidden)`, cause);
  }
  if (status !== undefined && (status >= 500 || status === 408 || status === 429)) {
    const wait = status === 429 || status === 503 ? retryAfterMs : undefined;
    const after = wait ? ` (retry after ${Math.ceil(wait / 1000)} s)` : '';
    return new UpstreamHttpError(`upstream "${name}": ${where} answered HTTP ${status}${after}`, {
      ...cause,
      retryAfterMs: wait,
    });
  }
  if (status !== undefined) {
    return new UpstreamHttpError(`upstream "${name}": ${where} answered HTTP ${status}`, {
      ...cause,
      kind: 'permanent',
    });
  }
  // The SDK's SSE client throws a plain Error for this; its text is all there is to tell it by.
  if (/origin does not match/i.test(message)) {
    return new SseOriginError(
      `upstream "${name}": the SSE endpoint is on another origin than ${url.origin}; refused for safety`,
      cause,
    );
  }
  if (isNetworkError(error)) {
    const reason = networkReason(error);
    return new UpstreamUnreachableError(`upstream "${name}": cannot reach ${where} (${reason})`, { ...cause, reason });
  }
  if (isNotMcp(error)) {
    return new NotMcpError(`upstream "${name}": ${where} did not answer as an MCP server`, cause);
  }
  if (error instanceof ProtocolError) {
    return new InitializeRefusedError(`upstream "${name}": initialize was refused (${error.message})`, cause);
  }
  return new UpstreamConnectError(`upstream "${name}": connecting over ${where} failed (${message})`, cause);
}

/** How a forwarded call ended, when it did not end with a result. `what` names the request in messages: `tools/call "search"`, `tools/list`, `ping`. */
export function classifyCallError(
  name: string,
  what: string,
  timeoutMs: number,
  error: unknown,
  /** The client cancelled the request (the SDK then rejects with a timeout error, whatever the time). */
  cancelled = false,
): CallOutcome {
  if (error instanceof ProtocolError) {
    return { type: 'rpc-error', code: error.code, message: error.message, data: error.data };
  }
  if (cancelled) {
    return {
      type: 'failure',
      failure: new CallCancelledError(`${what} on upstream "${name}" was cancelled`, { cause: error }),
    };
  }
  return { type: 'failure', failure: callFailure(name, what, timeoutMs, error) };
}

function callFailure(name: string, what: string, timeoutMs: number, error: unknown): UpstreamError {
  // Already classified (the OAuth session's own failures, thrown through the transport).
  if (error instanceof UpstreamError) return error;
  const cause = { cause: error };
  if (error instanceof InsufficientScopeError) {
    const scope = error.requiredScope;
    return new InsufficientScopeFailure(
      `upstream "${name}" needs more permissions for ${what} (scope ${scope ?? 'unknown'}); a new sign-in asks for them, try again after it`,
      { ...cause, reason: scope },
    );
  }
  if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
    return new UpstreamTimeoutError(`upstream "${name}" did not answer ${what} within ${timeoutMs} ms`, cause);
  }
  // An abort is a DOMException (or an Error) named AbortError: the platform's way, there is no class to match.
  if (error instanceof Error && error.name === 'AbortError') {
    return new CallCancelledError(`${what} on upstream "${name}" was cancelled`, cause);
  }
  const status = httpStatusOf(error);
  if (status === 404) {
    return new SessionExpiredError(`upstream "${name}" no longer knows our session`, cause);
  }
  if (status !== undefined) {
    return new UpstreamHttpError(`upstream "${name}" answered HTTP ${status} to ${what}`, {
      ...cause,
      kind: 'upstream',
    });
  }
  if (isNetworkError(error)) {
    const reason = networkReason(error);
    return new ConnectionLostError(
      `connection to upstream "${name}" was lost during the call (${reason}); it is reconnecting, try again`,
      { ...cause, reason },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CallError(`${what} on upstream "${name}" failed: ${message}`, cause);
}
