/**
 * The HTTP client for every upstream: undici with keep-alive, passed to the SDK transports as their `fetch`.
 *
 * It is a fetch-compatible function over `undici.request` rather than undici's `fetch`: the SDK only needs a
 * `Response`, and skipping the fetch algorithm (Request objects, header guards, signal following) halves the CPU
 * each request costs, which is most of what a proxy spends per call. Long-lived SSE streams (the legacy
 * transport's GET, Streamable HTTP's standalone GET) would be cut by a body timeout, so there is none; a dead peer
 * is noticed by the transports and the connection's liveness ping.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/client';
import { Agent, type Dispatcher, request } from 'undici';

/** Requests in flight on one upstream connection that may share a signal without a leak warning. */
const MAX_CONCURRENT_REQUESTS = 10_000;

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

/** Statuses whose responses have no body; `new Response` refuses a body for them. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function requestHeaders(headers: HeadersInit | undefined): Record<string, string> {
  return headers ? Object.fromEntries(new Headers(headers)) : {};
}

function responseHeaders(headers: Dispatcher.ResponseData['headers']): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const item of value) result.append(name, item);
    else if (value !== undefined) result.set(name, value);
  }
  return result;
}

function requestBody(body: BodyInit | null | undefined): Dispatcher.RequestOptions['body'] {
  if (body === null || body === undefined) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof ReadableStream) return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  throw new TypeError('upstreamFetch: unsupported request body type');
}

export const upstreamFetch: FetchLike = async (url, init = {}) => {
  const method = (init.method ?? 'GET').toUpperCase();
  const { signal } = init;
  // The SDK passes one transport-wide signal with every request: 64 calls in flight are 64 listeners on it, which
  // is no leak (each is removed when its request ends). A finite limit: 0 upsets undici on Node 20.
  if (signal && getMaxListeners(signal) < MAX_CONCURRENT_REQUESTS) setMaxListeners(MAX_CONCURRENT_REQUESTS, signal);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: method as Dispatcher.HttpMethod,
      headers: requestHeaders(init.headers),
      body: requestBody(init.body),
      signal: signal ?? undefined,
      dispatcher: currentAgent(),
    });
  } catch (error) {
    // As fetch does: an abort rejects with the signal's reason, anything else is a TypeError whose cause says why.
    if (signal?.aborted) throw signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
    throw new TypeError('fetch failed', { cause: error });
  }
  const { statusCode, headers, body } = response;
  const empty = method === 'HEAD' || NULL_BODY_STATUSES.has(statusCode);
  if (empty) body.resume();
  // The body goes in as an async iterable, which undici's Response reads on demand and stops (destroying the
  // socket's stream) when cancelled; Node 20's Readable.toWeb throws an uncaught ERR_INVALID_STATE after a cancel.
  return new Response(empty ? null : (body as unknown as ReadableStream<Uint8Array>), {
    status: statusCode,
    headers: responseHeaders(headers),
  });
};

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
