/**
 * Reading `Retry-After` (src/upstream/http.ts) and keeping it on a failure (src/upstream/failures.ts). Pure
 * functions with a fixed `now`: no servers (test/integration/retry-after.test.ts has those).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionLostError, type UpstreamError, UpstreamHttpError } from '../../src/errors/index.js';
import { withRetryAfter } from '../../src/upstream/failures.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/upstream/http.js';

const NOW = Date.parse('1994-11-06T08:49:00Z');

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
  });

  it('reads the three HTTP date forms, all GMT whatever the local time zone', () => {
    // Node applies a TZ assigned at run time: a zone off GMT, so that a date read as local time shows.
    vi.stubEnv('TZ', 'America/New_York');
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(37_000);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(37_000);
    // asctime names no zone: read as local time, it would be off by the offset.
    expect(parseRetryAfter('Sun Nov  6 08:49:37 1994', NOW)).toBe(37_000);
  });

  it('a date already past means now', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:00:00 GMT', NOW)).toBe(0);
  });

  it(`caps a long wait at ${MAX_RETRY_AFTER_MS} ms`, () => {
    expect(parseRetryAfter('86400', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('99999999999999999999999', NOW)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Mon, 07 Nov 1994 08:49:00 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('ignores what is neither', () => {
    for (const nonsense of [undefined, '', '  ', '-5', '1.5', '7s', '0x10', 'soon', 'Jan 2030', 'Mon 5', '5, 10']) {
      expect(parseRetryAfter(nonsense, NOW), JSON.stringify(nonsense)).toBeUndefined();
    }
    expect(parseRetryAfter('Sun, 99 Nov 1994 08:49:37 GMT', NOW)).toBeUndefined();
  });

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], NOW)).toBe(3000);
  });
});

describe('withRetryAfter', () => {
  const http = new UpstreamHttpError('upstream "a" answered HTTP 429 to tools/list', { kind: 'upstream' });

  it('copies an HTTP-status failure with the wait, class and fields kept', () => {
    const copy = withRetryAfter(http, 3000) as UpstreamError;
    expect(copy).toBeInstanceOf(UpstreamHttpError);
    expect({ ...copy, message: copy.message }).toEqual({
      kind: 'upstream',
      code: 'ERR_UPSTREAM_HTTP',
      message: http.message,
      name: 'UpstreamHttpError',
      retryAfterMs: 3000,
    });
    expect(http.retryAfterMs).toBeUndefined();
  });

  it('takes plain failure objects too (what a classified call gives)', () => {
    const plain = { kind: 'upstream' as const, code: 'ERR_UPSTREAM_HTTP', message: 'HTTP 503' };
    expect(withRetryAfter(plain, 1000)).toMatchObject({ ...plain, retryAfterMs: 1000 });
  });

  it('leaves alone a failure without a wait, one that is no HTTP status, and what is no failure', () => {
    expect(withRetryAfter(http, undefined)).toBe(http);
    const lost = new ConnectionLostError('lost', { reason: 'ECONNRESET' });
    expect(withRetryAfter(lost, 3000)).toBe(lost);
    const other = new Error('boom');
    expect(withRetryAfter(other, 3000)).toBe(other);
  });
});
