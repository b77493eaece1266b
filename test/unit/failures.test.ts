/**
 * The classifiers of src/upstream/failures.ts, one row per kind of error the SDK, undici or the platform throws:
 * the class of failure it becomes (and so its code and kind), and a message that names the upstream. The errors are
 * the SDK's own exported classes, built as the SDK builds them.
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
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CallCancelledError,
  CallError,
  ConnectionLostError,
  InitializeRefusedError,
  InsufficientScopeFailure,
  NotMcpError,
  SessionExpiredError,
  SseOriginError,
  TransportRefusedError,
  UpstreamAuthRequiredError,
  UpstreamConnectError,
  type UpstreamError,
  UpstreamForbiddenError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnreachableError,
} from '../../src/errors/index.js';
import { classifyCallError, classifyConnectError, networkReason } from '../../src/upstream/failures.js';

const URL_WITH_SECRET = new URL('https://user:pw@mcp.example/mcp?key=s3cret');

function http(status: number): SdkHttpError {
  return new SdkHttpError(SdkErrorCode.ClientHttpNotImplemented, `HTTP ${status}`, { status });
}

function refused(): TypeError {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause });
}

function zodError(): unknown {
  try {
    z.object({ jsonrpc: z.literal('2.0') }).parse({});
  } catch (error) {
    return error;
  }
  throw new Error('zod parsed {}');
}

type FailureClass = abstract new (...args: never[]) => UpstreamError;

describe('classifyConnectError', () => {
  const rows: Array<[string, () => unknown, FailureClass, UpstreamError['kind'], RegExp]> = [
    ['401', () => http(401), UpstreamAuthRequiredError, 'auth', /requires sign-in \(401\)/],
    ['UnauthorizedError', () => new UnauthorizedError('no token'), UpstreamAuthRequiredError, 'auth', /sign-in/],
    ['400', () => http(400), TransportRefusedError, 'fallback', /no MCP server over Streamable HTTP .*HTTP 400/],
    ['404', () => http(404), TransportRefusedError, 'fallback', /HTTP 404/],
    ['405', () => http(405), TransportRefusedError, 'fallback', /HTTP 405/],
    [
      'SSE 405',
      () => new SseError(405, 'Non-200', new Event('error') as never),
      TransportRefusedError,
      'fallback',
      /HTTP 405/,
    ],
    ['403', () => http(403), UpstreamForbiddenError, 'permanent', /403 Forbidden/],
    ['500', () => http(500), UpstreamHttpError, 'network', /answered HTTP 500$/],
    ['429', () => http(429), UpstreamHttpError, 'network', /HTTP 429/],
    ['418', () => http(418), UpstreamHttpError, 'permanent', /HTTP 418/],
    [
      'origin',
      () => new Error('Endpoint origin does not match connection origin: https://evil.example'),
      SseOriginError,
      'permanent',
      /another origin than https:\/\/mcp\.example; refused/,
    ],
    ['ECONNREFUSED', refused, UpstreamUnreachableError, 'network', /cannot reach .* \(ECONNREFUSED\)/],
    [
      'connection closed',
      () => new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'),
      UpstreamUnreachableError,
      'network',
      /cannot reach/,
    ],
    [
      'SSE stream ended',
      () => new SseError(undefined, undefined, new Event('error') as never),
      UpstreamUnreachableError,
      'network',
      /the stream closed/,
    ],
    [
      'unexpected content',
      () => new SdkError(SdkErrorCode.ClientHttpUnexpectedContent, 'text/html'),
      NotMcpError,
      'fallback',
      /did not answer as an MCP server/,
    ],
    ['not JSON', () => new SyntaxError('Unexpected token <'), NotMcpError, 'fallback', /MCP server/],
    ['not JSON-RPC', zodError, NotMcpError, 'fallback', /MCP server/],
    [
      'initialize refused',
      () => new ProtocolError(-32602, 'bad version'),
      InitializeRefusedError,
      'permanent',
      /initialize was refused \(.*bad version\)/,
    ],
    [
      'era probe',
      () => new SdkError(SdkErrorCode.EraNegotiationFailed, 'probe', undefined, { cause: http(404) }),
      TransportRefusedError,
      'fallback',
      /HTTP 404/,
    ],
    [
      'anything else',
      () => new Error('boom'),
      UpstreamConnectError,
      'network',
      /connecting over Streamable HTTP .* failed \(boom\)/,
    ],
  ];

  it.each(rows)('%s', (_, make, Failure, kind, message) => {
    const error = make();
    const failure = classifyConnectError('docs', 'http', URL_WITH_SECRET, error);
    expect(failure).toBeInstanceOf(Failure);
    expect(failure.kind).toBe(kind);
    expect(failure.message).toMatch(message);
    expect(failure.message).toMatch(/^upstream "docs"/);
    // The URL is shown without its credentials and query.
    expect(failure.message).not.toMatch(/s3cret|user:pw/);
    expect(failure.cause).toBeDefined();
  });

  it('keeps a failure that is already classified', () => {
    const failure = new UpstreamForbiddenError('upstream "docs": no');
    expect(classifyConnectError('docs', 'sse', URL_WITH_SECRET, failure)).toBe(failure);
  });

  it('keeps the Retry-After of a 429 or 503, and only there', () => {
    expect(classifyConnectError('docs', 'http', URL_WITH_SECRET, http(503), 4000)).toMatchObject({
      retryAfterMs: 4000,
      message: expect.stringMatching(/HTTP 503 \(retry after 4 s\)/),
    });
    expect(classifyConnectError('docs', 'http', URL_WITH_SECRET, http(500), 4000).retryAfterMs).toBeUndefined();
  });
});

describe('classifyCallError', () => {
  const rows: Array<[string, () => unknown, FailureClass, UpstreamError['kind'], RegExp]> = [
    [
      'scope',
      () => new InsufficientScopeError({ requiredScope: 'files:write' }),
      InsufficientScopeFailure,
      'auth',
      /needs more permissions for tools\/call "x" \(scope files:write\)/,
    ],
    [
      'timeout',
      () => new SdkError(SdkErrorCode.RequestTimeout, 'Request timed out'),
      UpstreamTimeoutError,
      'upstream',
      /did not answer tools\/call "x" within 250 ms/,
    ],
    [
      'abort',
      () => new DOMException('aborted', 'AbortError'),
      CallCancelledError,
      'upstream',
      /tools\/call "x" on upstream "docs" was cancelled/,
    ],
    ['404', () => http(404), SessionExpiredError, 'session-expired', /no longer knows our session/],
    ['502', () => http(502), UpstreamHttpError, 'upstream', /answered HTTP 502 to tools\/call "x"/],
    ['reset', refused, ConnectionLostError, 'network', /was lost during the call \(ECONNREFUSED\)/],
    [
      'anything else',
      () => new Error('boom'),
      CallError,
      'upstream',
      /tools\/call "x" on upstream "docs" failed: boom/,
    ],
  ];

  it.each(rows)('%s', (_, make, Failure, kind, message) => {
    const outcome = classifyCallError('docs', 'tools/call "x"', 250, make());
    expect(outcome.type).toBe('failure');
    const { failure } = outcome as unknown as { failure: UpstreamError };
    expect(failure).toBeInstanceOf(Failure);
    expect(failure.kind).toBe(kind);
    expect(failure.message).toMatch(message);
  });

  it('passes a JSON-RPC error on as it came', () => {
    expect(
      classifyCallError('docs', 'tools/call "x"', 250, new ProtocolError(-32601, 'no such tool', { a: 1 })),
    ).toEqual({ type: 'rpc-error', code: -32601, message: expect.stringContaining('no such tool'), data: { a: 1 } });
  });

  it('tells a request the client cancelled from a timeout, though the SDK rejects both as one', () => {
    const aborted = new SdkError(SdkErrorCode.RequestTimeout, 'AbortError: This operation was aborted');
    const outcome = classifyCallError('docs', 'tools/call "x"', 250, aborted, true);
    expect(outcome).toMatchObject({
      failure: { code: 'ERR_CALL_CANCELLED', message: 'tools/call "x" on upstream "docs" was cancelled' },
    });
    expect((outcome as { failure: unknown }).failure).toBeInstanceOf(CallCancelledError);
  });

  it('keeps the scope asked for as the reason', () => {
    const outcome = classifyCallError('docs', 'x', 1, new InsufficientScopeError({ requiredScope: 'a b' }));
    expect(outcome).toMatchObject({ failure: { reason: 'a b', code: 'ERR_UPSTREAM_INSUFFICIENT_SCOPE' } });
  });
});

describe('networkReason', () => {
  it.each([
    ['a socket code in the cause', refused(), 'ECONNREFUSED'],
    ['a code only in the text', new Error('SSE error: TypeError: fetch failed: connect ECONNRESET'), 'ECONNRESET'],
    ['undici text', new Error('SSE error: TypeError: terminated: other side closed'), 'other side closed'],
    ['a stream that ended', new SseError(undefined, undefined, new Event('error') as never), 'the stream closed'],
  ])('%s', (_, error, reason) => {
    expect(networkReason(error)).toBe(reason);
  });
});
