/**
 * The HTTP client for every upstream: undici with keep-alive, passed to the SDK transports as `fetch`.
 * Long-lived SSE streams (the legacy transport's GET, Streamable HTTP's standalone GET) would be cut by Node's
 * default 300 s body timeout, so there is none; a dead peer is noticed by the transports and the liveness ping.
 */
import type { FetchLike } from '@modelcontextprotocol/client';
import { Agent, fetch as undiciFetch } from 'undici';

const agent = new Agent({
  keepAliveTimeout: 30_000,
  bodyTimeout: 0,
  headersTimeout: 60_000,
  connectTimeout: 10_000,
});

// undici's fetch is WHATWG-compatible; the casts bridge its own Request/Response typings to the DOM ones.
export const upstreamFetch: FetchLike = (url, init) =>
  undiciFetch(url as Parameters<typeof undiciFetch>[0], {
    ...(init as Parameters<typeof undiciFetch>[1]),
    dispatcher: agent,
  }) as unknown as Promise<Response>;

/** Closes idle keep-alive sockets so the process can exit promptly. */
export async function closeHttpAgent(): Promise<void> {
  await agent.close().catch(() => agent.destroy());
}
