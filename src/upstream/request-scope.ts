/**
 * Ties a forwarded request to its HTTP exchange with the upstream, so that however the call ends (timeout, cancel,
 * connection lost, shutdown) its response stream is closed. The SDK gives a 2025-era request no signal of its own:
 * on a timeout or a cancel it only sends `notifications/cancelled`, and a server that goes on trickling (slow
 * headers, an endless body, an SSE stream that never brings the result) would keep the socket forever.
 *
 * The transport's fetch runs in the async context of the `client.request` that caused it, so an AsyncLocalStorage
 * scope carries the call's signal to it. The first request POST in the scope is the call's own and gets the signal.
 * Every other fetch in the scope is left alone: notifications (the SDK's `notifications/cancelled`: the upstream
 * must hear of the cancel), and whatever the actor system does in reaction to the call's end, which runs in the same
 * async context (a liveness ping, a reconnect).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FetchLike } from '@modelcontextprotocol/client';

interface RequestScope {
  readonly ended: AbortSignal;
  claimed: boolean;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `send` so that the HTTP request it makes is aborted when `ended` is (the call was stopped: its connection
 * was lost, the proxy is shutting down) or when `send` fails (a timeout, the client's cancel, max_call_ms). After an
 * answer the request is left alone: its response is complete or about to be, and its socket goes back to the pool.
 */
export async function inRequestScope<T>(ended: AbortSignal | undefined, send: () => Promise<T>): Promise<T> {
  const end = new AbortController();
  const stop = () => end.abort(ended?.reason);
  ended?.addEventListener('abort', stop, { once: true });
  const scope: RequestScope = { ended: end.signal, claimed: false };
  try {
    return await scopes.run(scope, send);
  } catch (error) {
    end.abort(error);
    throw error;
  } finally {
    ended?.removeEventListener('abort', stop);
  }
}

/** The transport's fetch, with the first POST of a request scope bound to the end of its call. */
export function scopedFetch(fetchFn: FetchLike): FetchLike {
  return (url, init) => {
    const scope = scopes.getStore();
    if (scope === undefined || isNotification(init?.body)) return fetchFn(url, init);
    // Once the call has ended, what runs in its context is not the call's (a liveness ping after its failure).
    if (scope.claimed || scope.ended.aborted || (init?.method ?? 'GET') !== 'POST') return fetchFn(url, init);
    scope.claimed = true;
    // The call's end alone, not combined with the transport's signal: when the transport closes, the SDK fails every
    // request on it, which ends its call, which aborts this (a combined signal per call would cost a controller and
    // two listeners, or with AbortSignal.any on Node 20, memory that never comes back).
    return fetchFn(url, { ...init, signal: scope.ended });
  };
}

/** The SDK serializes a message with its `method` among the first members, so the head of the body tells. */
function isNotification(body: unknown): boolean {
  return typeof body === 'string' && body.slice(0, 64).includes('"method":"notifications/');
}
