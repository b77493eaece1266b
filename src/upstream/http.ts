/**
 * The HTTP client for every upstream and every OAuth request: undici with keep-alive, passed to the SDK transports
 * and OAuth calls as their `fetch`.
 *
 * It is a fetch-compatible function over `undici.request` rather than undici's `fetch`: the SDK only needs a
 * `Response`, and skipping the fetch algorithm (Request objects, header guards, signal following) halves the CPU
 * each request costs, which is most of what a proxy spends per call. Long-lived SSE streams (the legacy
 * transport's GET, Streamable HTTP's standalone GET) would be cut by a body timeout, so there is none; a dead peer
 * is noticed by the transports and the connection's liveness ping.
 *
 * Corporate networks: `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`, read by config (config/http-proxy.ts) and given
 * here with `useHttpProxy`, are used when the agent is next built. With none set, the agent is a plain `Agent`.
 */
import { getMaxListeners, setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/client';
import type { Agent as AgentOf, Dispatcher } from 'undici';
import type { HttpProxySettings } from '../config/index.js';
import { answeredOnce, collapseCompleteEventStream } from '../http/complete-sse.js';
import { noteBearerOf401 } from '../http/sent-bearer.js';
import { Agent, EnvHttpProxyAgent, Pool, request } from './undici.js';

/** Requests in flight on one upstream connection that may share a signal without a leak warning. */
const MAX_CONCURRENT_REQUESTS = 10_000;

const AGENT_OPTIONS = {
  // Below Node's default server keep-alive (5 s): reusing a socket the server is closing fails the request.
  keepAliveTimeout: 4_000,
  bodyTimeout: 0,
  headersTimeout: 60_000,
  connectTimeout: 10_000,
} as const satisfies AgentOf.Options;

/**
 * Never sent through a proxy: the proxy's loopback is not ours. Go's net/http does the same, so a setup moved over
 * from mcp-devtools (Go) with a local upstream and HTTP_PROXY set keeps working.
 */
const LOOPBACK_NO_PROXY = 'localhost,127.0.0.1,[::1]';

let agent: Dispatcher | undefined;
let proxySettings: HttpProxySettings = {};

/**
 * The proxy settings for the agents built from now on (the proxy's configuration, at start); an agent already
 * built keeps its own until `closeHttpAgent()`.
 */
export function useHttpProxy(settings: HttpProxySettings): void {
  proxySettings = settings;
}

/** `proxy.corp:8080` means `http://proxy.corp:8080`, as for curl; a value that is no URL is refused by name only. */
function proxyUrl(value: string | undefined, name: string): string {
  if (value === undefined) return '';
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  // The value may hold credentials (http://user:secret@proxy): never in a message.
  if (!URL.canParse(url)) throw new TypeError(`${name} (or ${name.toLowerCase()}) is not a proxy URL`);
  return url;
}

/** The agent for the proxy settings: a plain `Agent` when none is set, so there is no cost then. */
function createHttpAgent(settings: HttpProxySettings): Dispatcher {
  const httpProxy = proxyUrl(settings.httpProxy, 'HTTP_PROXY');
  const httpsProxy = proxyUrl(settings.httpsProxy, 'HTTPS_PROXY');
  const noProxy = settings.noProxy;
  if ((!httpProxy && !httpsProxy) || noProxy === '*') return new Agent(AGENT_OPTIONS);
  // Without HTTPS_PROXY, https:// goes through HTTP_PROXY too (undici's rule); NO_PROXY is fixed from now on.
  return new EnvHttpProxyAgent({
    ...AGENT_OPTIONS,
    httpProxy,
    httpsProxy,
    noProxy: noProxy ? `${noProxy},${LOOPBACK_NO_PROXY}` : LOOPBACK_NO_PROXY,
    // http:// in absolute form, as forward proxies expect (many allow CONNECT to port 443 only); https:// tunnels.
    proxyTunnel: false,
    // undici builds the pools to the proxy without the agent's options: these keep SSE streams free of a body timeout.
    factory: (origin, options) => new Pool(origin, { ...AGENT_OPTIONS, ...options }),
  });
}

function currentAgent(): Dispatcher {
  agent ??= createHttpAgent(proxySettings);
  return agent;
}

/** Statuses whose responses have no body; `new Response` refuses a body for them. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function requestHeaders(headers: HeadersInit | undefined): Record<string, string> {
  if (!headers) return {};
  // The SDK passes a Headers, already normalized: no copy of it needed to read its entries.
  return Object.fromEntries(headers instanceof Headers ? headers : new Headers(headers));
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

/** The longest wait a `Retry-After` may impose: a server asking for more gets tried again after this. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * The three forms of RFC 9110 §5.6.7 (`Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`,
 * `Sun Nov  6 08:49:37 1994`), loosely: enough to keep Date.parse, which takes `Jan 2030` too, to real dates.
 */
const HTTP_DATE = /^[A-Za-z]{3,9},? [\w -]+ \d{2}:\d{2}:\d{2} (GMT|\d{4})$/;

/**
 * A `Retry-After` value in ms: delay-seconds (`7`) or an HTTP date (a past one is 0), capped at
 * MAX_RETRY_AFTER_MS. `undefined` for anything else (a negative or fractional number, text that is no date).
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  // An HTTP date is GMT; asctime's form (`Sun Nov  6 08:49:37 1994`) says so nowhere, and would be read as local.
  else if (HTTP_DATE.test(text)) ms = Date.parse(text.endsWith(' GMT') ? text : `${text} GMT`) - now;
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

export interface UpstreamFetchOptions {
  /** Told the `Retry-After` (ms, parsed) of every 429 or 503 answer that has a usable one. */
  onRetryAfter?: (ms: number) => void;
  /** A POST's event stream that holds just its response is answered as its JSON (src/http/complete-sse.ts). */
  collapseCompleteEventStreams?: boolean;
}

/** A fetch over the shared agent; the hook runs inline, so a fetch with one costs no extra promise per request. */
export function createUpstreamFetch({
  onRetryAfter,
  collapseCompleteEventStreams = false,
}: UpstreamFetchOptions = {}): FetchLike {
  return async (url, init = {}) => {
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
    if (onRetryAfter && (statusCode === 429 || statusCode === 503)) {
      const ms = parseRetryAfter(headers['retry-after']);
      if (ms !== undefined) onRetryAfter(ms);
    }
    const empty = method === 'HEAD' || NULL_BODY_STATUSES.has(statusCode);
    if (empty) body.resume();
    let content: AsyncIterable<Buffer> = body;
    if (
      collapseCompleteEventStreams &&
      method === 'POST' &&
      statusCode === 200 &&
      isEventStream(headers) &&
      answeredOnce(init.body)
    ) {
      const collapsed = await collapseCompleteEventStream(body);
      if ('json' in collapsed) {
        const answer = responseHeaders(headers);
        answer.set('content-type', 'application/json');
        answer.delete('content-length');
        return jsonResponse(collapsed.json, statusCode, answer);
      }
      content = collapsed.stream;
    }
    // The body goes in as an async iterable, which undici's Response reads on demand and stops (destroying the
    // socket's stream) when cancelled; Node 20's Readable.toWeb throws an uncaught ERR_INVALID_STATE after a cancel.
    const answer = new Response(empty ? null : (content as unknown as ReadableStream<Uint8Array>), {
      status: statusCode,
      headers: responseHeaders(headers),
    });
    if (statusCode === 401) noteBearerOf401(answer, new Headers(init.headers).get('authorization') ?? undefined);
    return answer;
  };
}

/**
 * A Response for JSON already in hand, with no body stream: the SDK reads a JSON answer with `json()` (or `text()`
 * to discard it) only, and a body stream per call is most of what a Response costs (on Node 20 each is a
 * transferable object).
 */
function jsonResponse(json: string, status: number, headers: Headers): Response {
  const response = new Response(null, { status, headers });
  let used = false;
  const take = () => {
    if (used) throw new TypeError('Body is unusable: Body has already been read');
    used = true;
    return json;
  };
  Object.defineProperties(response, {
    json: { value: async () => JSON.parse(take()) },
    text: { value: async () => take() },
    bodyUsed: { get: () => used },
  });
  return response;
}

function isEventStream(headers: Dispatcher.ResponseData['headers']): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.split(';')[0]!.trim().toLowerCase() === 'text/event-stream';
}

/** The fetch for requests whose answers need no watching (OAuth, and upstreams when nothing listens). */
export const upstreamFetch: FetchLike = createUpstreamFetch();

/**
 * Closes keep-alive sockets so the process can exit promptly; a later request opens a new pool, with the proxy
 * settings last given.
 */
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
