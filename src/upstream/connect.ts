/**
 * Opening a session with an upstream, one function per transport (the upstream machine invokes them). A failure
 * is an `UpstreamError` whose kind tells the machine to fall back, reconnect, sign in, or give up.
 */
import {
  type AuthProvider,
  extractWWWAuthenticateParams,
  type FetchLike,
  InsufficientScopeError,
  type PriorDiscovery,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type Transport,
} from '@modelcontextprotocol/client';
import type { TransportKind, UpstreamConnection } from '../../machines/types.js';
import type { ToolPins } from '../catalog/index.js';
import { UpstreamConnectTimeoutError, type UpstreamFailure } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { displayUrl } from '../observe/redact.js';
import { IMPLEMENTATION } from '../version.js';
import type { ClientBridge } from './bridge.js';
import { UpstreamClient } from './client.js';
import { createConnection } from './connection.js';
import { classifyConnectError, networkReason, withRetryAfter } from './failures.js';
import { createUpstreamFetch } from './http.js';
import { scopedFetch } from './request-scope.js';

/** Opening a session (transport start + initialize) may take this long before it counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 30_000;

/** A server slow to answer the standalone GET does not hold up the connection longer than this. */
const STANDALONE_STREAM_WAIT_MS = 2_000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export interface ConnectTarget {
  name: string;
  url: URL;
  /** Sent on every request (configured headers, already expanded). */
  headers: Record<string, string>;
  /** OAuth: the access token for every request, one refresh on a 401. */
  authProvider?: AuthProvider;
  /** The downstream client: its capabilities are declared to the upstream, its answers passed back. */
  bridge: ClientBridge;
  logger: Logger;
  /** What the last session learnt of the server's era, for the next connect (none: probe). */
  era?: EraMemory;
  /** `pin_tools`: the upstream's tool pins, checked at every list. */
  pins?: ToolPins;
}

/**
 * The era verdict of an upstream's last session, kept between its reconnects so a reconnect skips the
 * `server/discover` probe: a modern server's discover result is adopted as it is (zero round trips), a legacy
 * server goes straight to `initialize`. A verdict that fails to connect or list is forgotten (the server may have
 * changed); a legacy one also expires, since an upgraded server would go on answering `initialize` for good.
 */
export interface EraMemory {
  verdict?: PriorDiscovery;
  at?: number;
}

/** How long a legacy verdict is trusted before the next connect probes again. */
const LEGACY_VERDICT_MAX_AGE_MS = 10 * 60_000;

function priorFor(memory: EraMemory | undefined): PriorDiscovery | undefined {
  const { verdict, at = 0 } = memory ?? {};
  if (verdict?.kind === 'legacy' && Date.now() - at > LEGACY_VERDICT_MAX_AGE_MS) return undefined;
  return verdict;
}

function remember(memory: EraMemory | undefined, client: UpstreamClient): void {
  if (!memory) return;
  const discover = client.getDiscoverResult();
  memory.verdict = client.getProtocolEra() === 'modern' && discover ? { kind: 'modern', discover } : { kind: 'legacy' };
  memory.at = Date.now();
}

/**
 * Forgets the verdict after a failure that may come of a wrong era (an HTTP status, a JSON-RPC error); one of
 * the network (the server is down, or restarting) or of sign-in says nothing about it.
 */
function forget(memory: EraMemory | undefined, failure: unknown): void {
  if (!memory) return;
  // An UpstreamError, or the plain UpstreamFailure a failed list throws.
  const { kind, code } = (failure ?? {}) as Partial<UpstreamFailure>;
  if ((kind === 'network' && code !== 'ERR_UPSTREAM_LIST') || kind === 'auth') return;
  memory.verdict = undefined;
  memory.at = undefined;
}

export function connectStreamableHttp(target: ConnectTarget, signal?: AbortSignal): Promise<UpstreamConnection> {
  // The standalone GET stream carries what the server sends on its own (list changes, roots requests): it is
  // answered (opened, or refused with 405) before the connection counts as made, so none of that is lost.
  let streamAnswered!: () => void;
  const standaloneStream = new Promise<void>((resolve) => {
    streamAnswered = resolve;
  });
  const retryAfter = retryAfterWatch();
  const fetchFn = scopedFetch(fetchFor(target, retryAfter));
  const transport = new StreamableHTTPClientTransport(target.url, {
    authProvider: target.authProvider,
    // Step-up (a 403 asking for a wider scope) is a sign-in, which the upstream's statechart runs.
    onInsufficientScope: 'throw',
    // Not an async function: the POSTs of every call pass straight through, without another promise.
    fetch: (url, init) =>
      (init?.method ?? 'GET') === 'GET' ? fetchFn(url, init).finally(streamAnswered) : fetchFn(url, init),
    requestInit: { headers: target.headers },
    // The standalone GET stream is re-opened by the SDK a few times; after that the connection's liveness ping
    // decides, and the upstream machine reconnects with its own backoff.
    reconnectionOptions: {
      initialReconnectionDelay: 500,
      maxReconnectionDelay: 5_000,
      reconnectionDelayGrowFactor: 2,
      maxRetries: 3,
    },
  });
  return open(target, 'http', transport, signal, retryAfter, {
    endSession: () => transport.terminateSession(),
    standaloneStream,
  });
}

export function connectSse(target: ConnectTarget, signal?: AbortSignal): Promise<UpstreamConnection> {
  const retryAfter = retryAfterWatch();
  const transport = new SSEClientTransport(target.url, {
    authProvider: target.authProvider,
    // The SDK sends these headers on the GET that opens the stream as well as on every POST.
    fetch: withScopeChallenge(scopedFetch(fetchFor(target, retryAfter))),
    requestInit: { headers: target.headers },
  });
  return open(target, 'sse', transport, signal, retryAfter);
}

/**
 * The longest Retry-After of the 429 and 503 answers of one session since it was last taken: the SDK's errors keep
 * the status only, so the fetch notes the header for the failure that follows.
 */
interface RetryAfterWatch {
  note(ms: number): void;
  /** The longest noted since the last take, if any; forgets it. */
  take(): number | undefined;
}

function retryAfterWatch(): RetryAfterWatch {
  let longest: number | undefined;
  return {
    note: (ms) => {
      longest = Math.max(longest ?? 0, ms);
    },
    take: () => {
      const ms = longest;
      longest = undefined;
      return ms;
    },
  };
}

/** With DEBUG=1, every HTTP exchange with the upstream is one stderr line; otherwise the fetch is the plain one. */
function fetchFor(target: ConnectTarget, retryAfter: RetryAfterWatch): FetchLike {
  const upstreamFetch = createUpstreamFetch({ onRetryAfter: retryAfter.note, collapseCompleteEventStreams: true });
  if (!target.logger.debugEnabled) return upstreamFetch;
  return async (url, init) => {
    const started = performance.now();
    const what = `upstream "${target.name}": ${init?.method ?? 'GET'} ${displayUrl(new URL(url))}`;
    const elapsed = () => `${Math.round(performance.now() - started)} ms`;
    try {
      const response = await upstreamFetch(url, init);
      const type = response.headers.get('content-type')?.split(';')[0];
      target.logger.debug(`${what} → ${response.status}${type ? ` ${type}` : ''} (${elapsed()})`);
      return response;
    } catch (error) {
      target.logger.debug(`${what} → failed: ${networkReason(error)} (${elapsed()})`);
      throw error;
    }
  };
}

/**
 * The SSE transport has no step-up of its own: a 403 asking for a wider scope becomes the same error the
 * Streamable HTTP transport throws, so the upstream's statechart signs in again for it either way.
 */
function withScopeChallenge(fetchFn: FetchLike): FetchLike {
  return async (url, init) => {
    const response = await fetchFn(url, init);
    if (response.status === 403) {
      const { error, scope, errorDescription } = extractWWWAuthenticateParams(response);
      if (error === 'insufficient_scope') {
        await response.text().catch(() => '');
        throw new InsufficientScopeError({ requiredScope: scope, errorDescription });
      }
    }
    return response;
  };
}

async function open(
  target: ConnectTarget,
  kind: TransportKind,
  transport: Transport,
  signal: AbortSignal | undefined,
  retryAfter: RetryAfterWatch,
  session: { endSession?: () => Promise<void>; standaloneStream?: Promise<void> } = {},
): Promise<UpstreamConnection> {
  // The client's own `tasks` (it can run sampling or elicitation as tasks) is not passed on: the proxy does not
  // route an upstream's task requests to the client, so the upstream must not count on them.
  const { tasks: _notRouted, ...capabilities } = target.bridge.capabilities;
  const client = new UpstreamClient(IMPLEMENTATION, {
    capabilities,
    listMaxPages: 1_000,
    // Streamable HTTP servers of the 2026-07-28 era are spoken to in their era (one server/discover probe first;
    // a 2025-era server answers it as unknown and gets the initialize handshake). Legacy SSE is 2025-era only.
    ...(kind === 'http' && { versionNegotiation: { mode: 'auto' as const } }),
  });
  let timer: NodeJS.Timeout | undefined;
  const abandon = () => void client.close().catch(() => {});
  signal?.addEventListener('abort', abandon, { once: true });
  try {
    // connect()'s own timeout covers initialize only; an SSE stream that never sends its endpoint hangs before it.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new UpstreamConnectTimeoutError(`upstream "${target.name}": no MCP session after ${CONNECT_TIMEOUT_MS} ms`),
          ),
        CONNECT_TIMEOUT_MS,
      );
    });
    // Only Streamable HTTP negotiates eras; a remembered verdict spares the probe.
    const prior = kind === 'http' ? priorFor(target.era) : undefined;
    await Promise.race([client.connect(transport, { timeout: CONNECT_TIMEOUT_MS, ...(prior && { prior }) }), timeout]);
    // A 2026-07-28 session has no standalone stream (changes come through subscriptions/listen).
    if (session.standaloneStream && client.getProtocolEra() !== 'modern') {
      await Promise.race([session.standaloneStream, delay(STANDALONE_STREAM_WAIT_MS)]);
    }
    const { connection, listening } = createConnection({
      name: target.name,
      transport: kind,
      client,
      bridge: target.bridge,
      logger: target.logger,
      endSession: session.endSession,
      pins: target.pins,
    });
    // Its listen stream, like the standalone stream of a 2025-era session, is open before the connection counts
    // as made, so no change is lost between the first list and it.
    await Promise.race([listening, delay(STANDALONE_STREAM_WAIT_MS)]);
    if (kind === 'http') remember(target.era, client);
    return withListRetryAfter(connection, retryAfter, kind === 'http' ? target.era : undefined);
  } catch (error) {
    // Close what was opened: a legacy EventSource would otherwise keep reconnecting on its own.
    abandon();
    const failure = classifyConnectError(target.name, kind, target.url, error, retryAfter.take());
    if (kind === 'http') forget(target.era, failure);
    throw failure;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abandon);
  }
}

/**
 * A list that fails on a 429 or 503 carries its Retry-After too (calls in between do not count). A failed list
 * also forgets the era verdict: a session adopted from a stale one fails at its first request, which is this one.
 */
function withListRetryAfter(
  connection: UpstreamConnection,
  retryAfter: RetryAfterWatch,
  era: EraMemory | undefined,
): UpstreamConnection {
  return {
    ...connection,
    async listCatalog() {
      retryAfter.take();
      try {
        return await connection.listCatalog();
      } catch (error) {
        forget(era, error);
        throw withRetryAfter(error, retryAfter.take());
      }
    },
  };
}
