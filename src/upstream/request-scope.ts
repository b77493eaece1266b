/**
 * Ties a forwarded request to its HTTP exchange with the upstream, so that however the call ends (timeout, cancel,
 * connection lost, shutdown) its response stream is closed. The SDK gives a 2025-era request no signal of its own:
 * on a timeout or a cancel it only sends `notifications/cancelled`, and a server that goes on trickling (slow
 * headers, an endless body, an SSE stream that never brings the result) would keep the socket forever.
 *
 * The request carries a header of ours naming its scope (the SDK's request option `headers` reaches the
 * transport's POST); the transport's fetch takes the header off, and the first POST of the scope gets the call's
 * signal. Every other fetch is left alone: notifications (the SDK's `notifications/cancelled`: the upstream must hear
 * of the cancel), a retry after a 401, and whatever runs after the call's end (a liveness ping, a reconnect).
 *
 * Not an AsyncLocalStorage: on Node 20 one in use turns on async hooks for every promise of the process, which cost
 * more per call than the rest of this file does in a year.
 */
import type { FetchLike } from '@modelcontextprotocol/client';

/** Never sent upstream: the fetch below removes it. */
const SCOPE_HEADER = 'x-mcp-upstream-proxy-scope';

interface RequestScope {
  readonly ended: AbortSignal;
  claimed: boolean;
}

const scopes = new Map<string, RequestScope>();
let lastScope = 0;

/**
 * Runs `send` with the headers to give its request, so that the HTTP request it makes is aborted when `ended` is
 * (the call was stopped: its connection was lost, the proxy is shutting down) or when `send` fails (a timeout, the
 * client's cancel, max_call_ms). After an answer the request is left alone: its response is complete or about to
 * be, and its socket goes back to the pool.
 */
export async function inRequestScope<T>(
  ended: AbortSignal | undefined,
  send: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const end = new AbortController();
  const stop = () => end.abort(ended?.reason);
  ended?.addEventListener('abort', stop, { once: true });
  const id = String(++lastScope);
  scopes.set(id, { ended: end.signal, claimed: false });
  try {
    return await send({ [SCOPE_HEADER]: id });
  } catch (error) {
    end.abort(error);
    throw error;
  } finally {
    scopes.delete(id);
    ended?.removeEventListener('abort', stop);
  }
}

/** The transport's fetch, with the first POST of a request scope bound to the end of its call. */
export function scopedFetch(fetchFn: FetchLike): FetchLike {
  return (url, init) => {
    const headers = init?.headers;
    const id = headers instanceof Headers ? headers.get(SCOPE_HEADER) : null;
    if (id === null) return fetchFn(url, init);
    // The SDK builds these headers for this one request: taking ours off changes nothing else.
    (headers as Headers).delete(SCOPE_HEADER);
    const scope = scopes.get(id);
    // Once the call has ended, or its POST was sent, what else carries the header is not the call's own exchange.
    if (scope === undefined || scope.claimed || scope.ended.aborted || (init?.method ?? 'GET') !== 'POST') {
      return fetchFn(url, init);
    }
    scope.claimed = true;
    // The call's end alone, not combined with the transport's signal: when the transport closes, the SDK fails every
    // request on it, which ends its call, which aborts this (a combined signal per call would cost a controller and
    // two listeners, or with AbortSignal.any on Node 20, memory that never comes back).
    return fetchFn(url, { ...init, signal: scope.ended });
  };
}
