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
import { getMaxListeners, setMaxListeners } from 'node:events';
import type { FetchLike } from '@modelcontextprotocol/client';

/** Calls in flight on one session, each listening on its transport's signal: no leak, so no warning. */
const MAX_CONCURRENT_REQUESTS = 10_000;

interface RequestScope {
  readonly ended: AbortSignal;
  claimed: boolean;
  /** Undoes what the claiming fetch hung on a longer-lived signal. */
  release?: () => void;
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
    scope.release?.();
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
    const transportSignal = init?.signal;
    if (!transportSignal) return fetchFn(url, { ...init, signal: scope.ended });
    // Either signal ends the request. Not AbortSignal.any: on Node 20 it keeps every combined signal reachable from
    // the transport's signal, which lives as long as the session (about 50 bytes a call that never come back).
    const controller = new AbortController();
    const abort = () => controller.abort(scope.ended.reason ?? transportSignal.reason);
    if (transportSignal.aborted) abort();
    if (getMaxListeners(transportSignal) < MAX_CONCURRENT_REQUESTS) {
      setMaxListeners(MAX_CONCURRENT_REQUESTS, transportSignal);
    }
    transportSignal.addEventListener('abort', abort, { once: true });
    scope.ended.addEventListener('abort', abort, { once: true });
    scope.release = () => transportSignal.removeEventListener('abort', abort);
    return fetchFn(url, { ...init, signal: controller.signal });
  };
}

/** The SDK serializes a message with its `method` among the first members, so the head of the body tells. */
function isNotification(body: unknown): boolean {
  return typeof body === 'string' && body.slice(0, 64).includes('"method":"notifications/');
}
