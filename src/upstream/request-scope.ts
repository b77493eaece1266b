/**
 * Ties a forwarded request to its HTTP exchange with the upstream, so that however the call ends (timeout, cancel,
 * connection lost, shutdown) its response stream is closed. The SDK gives a 2025-era request no signal of its own:
 * on a timeout or a cancel it only sends `notifications/cancelled`, and a server that goes on trickling (slow
 * headers, an endless body, an SSE stream that never brings the result) would keep the socket forever.
 *
 * The transport's fetch runs in the async context of the `client.request` that caused it, so an AsyncLocalStorage
 * scope carries the call's signal to it. The first request POST in the scope is the call's own and gets the signal.
 * Notifications sent in the scope (the SDK's `notifications/cancelled`) are left alone: the upstream must hear of
 * the cancel. Other fetches started once the call has ended (a resumption GET after its stream was cut) are
 * refused rather than left open.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FetchLike } from '@modelcontextprotocol/client';

interface RequestScope {
  readonly ended: AbortSignal;
  claimed: boolean;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/** Runs `send` so that the HTTP request it makes is aborted when `ended` is. */
export function inRequestScope<T>(ended: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
  return ended === undefined ? send() : scopes.run({ ended, claimed: false }, send);
}

/** The transport's fetch, with the first POST of a request scope bound to the end of its call. */
export function scopedFetch(fetchFn: FetchLike): FetchLike {
  return (url, init) => {
    const scope = scopes.getStore();
    if (scope === undefined || isNotification(init?.body)) return fetchFn(url, init);
    if (scope.ended.aborted) {
      return Promise.reject(scope.ended.reason ?? new DOMException('the call has ended', 'AbortError'));
    }
    if (scope.claimed || (init?.method ?? 'GET') !== 'POST') return fetchFn(url, init);
    scope.claimed = true;
    const signal = init?.signal ? AbortSignal.any([init.signal, scope.ended]) : scope.ended;
    return fetchFn(url, { ...init, signal });
  };
}

/** The SDK serializes a message with its `method` among the first members, so the head of the body tells. */
function isNotification(body: unknown): boolean {
  return typeof body === 'string' && body.slice(0, 64).includes('"method":"notifications/');
}
