/**
 * The HTTP client for every upstream: undici with keep-alive, passed to the SDK transports as `fetch`.
 * Long-lived SSE streams (the legacy transport's GET, Streamable HTTP's standalone GET) would be cut by Node's
 * default 300 s body timeout, so there is none; a dead peer is noticed by the transports and the liveness ping.
 */

import { setMaxListeners } from 'node:events';
import type { FetchLike } from '@modelcontextprotocol/client';
import { Agent, fetch as undiciFetch } from 'undici';

let agent: Agent | undefined;

function currentAgent(): Agent {
  agent ??= new Agent({
    // Below Node's default server keep-alive (5 s): reusing a socket the server is closing fails the request.
    keepAliveTimeout: 4_000,
    bodyTimeout: 0,
    headersTimeout: 60_000,
    connectTimeout: 10_000,
  });
  return agent;
}

// undici's fetch is WHATWG-compatible; the casts bridge its own Request/Response typings to the DOM ones.
export const upstreamFetch: FetchLike = (url, init) => {
  const signal = init?.signal;
  if (signal && !unlimited.has(signal)) {
    // The SDK passes one long-lived signal to every request; undici adds a listener per request and drops it only
    // when the request is collected. Without this, Node warns of a leak on stderr under load.
    try {
      // Not 0 ("unlimited"): Node 20's getMaxListeners, which undici calls, throws for an EventTarget set to 0.
      setMaxListeners(1_000_000, signal);
    } catch {
      // A signal from another realm or polyfill: Node won't count its listeners either.
    }
    unlimited.add(signal);
  }
  return undiciFetch(url as Parameters<typeof undiciFetch>[0], {
    ...(init as Parameters<typeof undiciFetch>[1]),
    dispatcher: currentAgent(),
  }) as unknown as Promise<Response>;
};

const unlimited = new WeakSet<AbortSignal>();

/** Closes keep-alive sockets so the process can exit promptly; a later request opens a new pool. */
export async function closeHttpAgent(): Promise<void> {
  const closing = agent;
  agent = undefined;
  if (!closing) return;
  // close() waits for requests still running (a stream the server keeps open); shutdown can't wait for those.
  const closed = closing.close().then(
    () => true,
    () => false,
  );
  const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300).unref());
  if (!(await Promise.race([closed, timer]))) await closing.destroy().catch(() => {});
}
