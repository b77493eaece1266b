/**
 * The OAuth redirect endpoint: one loopback HTTP server for every upstream, `GET /callback`, routing each
 * authorization response to the sign-in waiting for its `state`. It checks nothing but the state (PKCE, `iss` and
 * the token exchange happen elsewhere) and that the request is addressed to it by a loopback name and comes from no
 * other site (src/http/loopback.ts), and it never logs, echoes or puts in an error the authorization code.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { DEFAULT_CALLBACK_PORT } from '../config/index.js';
import {
  OAuthAuthorizationDeniedError,
  OAuthCallbackAbortedError,
  OAuthCallbackTimeoutError,
} from '../errors/index.js';
import { type LoopbackGuard, loopbackGuard } from '../http/loopback.js';
import type { Logger } from '../observe/log.js';
import { LOOPBACK, listenOnFreePort } from './callback-listen.js';
import {
  sendBadRequest,
  sendDenied,
  sendIncomplete,
  sendNotFound,
  sendSignedIn,
  sendUnrecognized,
} from './callback-page.js';

export { DEFAULT_CALLBACK_PORT_RANGE } from './callback-listen.js';
export { escapeHtml } from './callback-page.js';

export const CALLBACK_PATH = '/callback';

/** setTimeout's limit: a longer delay fires at once, which would turn a long wait into an immediate timeout. */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** How many settled states are remembered, so a replayed callback gets "already used" rather than "unknown". */
const SETTLED_STATES_KEPT = 1000;

export interface CallbackResult {
  code: string;
  state: string;
  /** RFC 9207 issuer identifier, when the authorization server sent one (checked by the caller). */
  iss?: string;
  /** Every query parameter of the callback, as received. */
  params: URLSearchParams;
}

export interface CallbackServerOptions {
  /** Preferred port (`PROXY_OAUTH_CALLBACK_PORT`, resolved in config); default 3334. `0` lets the system pick (tests). */
  port?: number;
  /** Where to look for a free port when the preferred one is taken; inclusive, default [3000, 4000]. */
  range?: [number, number];
  logger?: Logger;
}

export interface WaitForOptions {
  /** The upstream signing in: named in the page shown to the user and in errors. */
  upstream: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

interface PendingSignIn {
  /** SHA-256 of the state: equal-length buffers for timingSafeEqual, whatever the state's length. */
  digest: Buffer;
  state: string;
  upstream: string;
  resolve(result: CallbackResult): void;
  reject(error: Error): void;
}

export class CallbackServer {
  readonly redirectUri: string;
  private readonly pending = new Set<PendingSignIn>();
  /** `/callback`, and the paths of static clients' configured redirect URIs. */
  private readonly paths = new Set([CALLBACK_PATH]);
  /** Digests of states already settled (used, timed out, aborted), oldest first. */
  private readonly settled = new Set<string>();
  private closed = false;
  private readonly refuseForeign: LoopbackGuard;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly logger: Logger | undefined,
  ) {
    this.redirectUri = `http://${LOOPBACK}:${port}${CALLBACK_PATH}`;
    this.refuseForeign = loopbackGuard(port);
    server.on('request', (request, response) => this.handle(request, response));
    server.on('error', (error) => logger?.warn(`OAuth callback server: ${error.message}`));
    // Listening alone must not keep the process alive; only a sign-in being waited for does.
    server.unref();
  }

  /**
   * Listens on 127.0.0.1: on the preferred port, or when it is taken, on a free port of the range tried in random
   * order. Rejects with an OAuthCallbackListenError naming the port to free when none is free.
   */
  static async start(options: CallbackServerOptions = {}): Promise<CallbackServer> {
    const { server, port } = await listenOnFreePort(
      options.port ?? DEFAULT_CALLBACK_PORT,
      options.range,
      options.logger,
    );
    return new CallbackServer(server, port, options.logger);
  }

  /** Answers callbacks on `path` too: a static client's redirect URI need not end in /callback. */
  acceptPath(path: string): void {
    this.paths.add(path);
  }

  /**
   * Registers a pending sign-in and resolves with the callback carrying its state. Rejects on an `error=` callback
   * (OAuthAuthorizationDeniedError), after `timeoutMs` (OAuthCallbackTimeoutError), on `signal` abort or close()
   * (OAuthCallbackAbortedError). A state can be waited for, and answered, once.
   */
  waitFor(state: string, options: WaitForOptions): Promise<CallbackResult> {
    const { upstream, timeoutMs, signal } = options;
    if (this.closed) return Promise.reject(new OAuthCallbackAbortedError(upstream, 'refused: callback server closed'));
    if (state.length === 0) return Promise.reject(new TypeError('waitFor: state must not be empty'));
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
      return Promise.reject(new RangeError(`waitFor: timeoutMs must be from 1 to ${MAX_TIMEOUT_MS}, got ${timeoutMs}`));
    }
    const digest = digestOf(state);
    if (this.findPending(digest) || this.settled.has(digest.toString('hex'))) {
      return Promise.reject(
        new Error(`upstream "${upstream}": this OAuth state was already used; start a new sign-in`),
      );
    }
    if (signal?.aborted) {
      this.remember(digest);
      return Promise.reject(new OAuthCallbackAbortedError(upstream, 'aborted', { cause: signal.reason }));
    }
    return new Promise<CallbackResult>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(entry);
        this.remember(digest);
        if (this.pending.size === 0) this.server.unref();
      };
      const entry: PendingSignIn = {
        digest,
        state,
        upstream,
        resolve: (result) => {
          settle();
          resolve(result);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = () => entry.reject(new OAuthCallbackAbortedError(upstream, 'aborted', { cause: signal?.reason }));
      const timer = setTimeout(() => entry.reject(new OAuthCallbackTimeoutError(upstream, timeoutMs)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(entry);
      this.server.ref();
    });
  }

  /** Stops listening, drops open connections and rejects every pending wait. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const entry of [...this.pending]) {
        entry.reject(new OAuthCallbackAbortedError(entry.upstream, 'ended: callback server closed'));
      }
    }
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const refused = this.refuseForeign(request, response);
    if (refused !== undefined) {
      // A web page trying its luck, most likely; the log says so in case it was the browser of a real sign-in.
      this.logger?.warn(`OAuth callback refused: ${refused}`);
      return;
    }
    let url: URL;
    try {
      url = new URL(request.url ?? '/', `http://${LOOPBACK}`);
    } catch {
      sendBadRequest(response);
      return;
    }
    if (request.method !== 'GET' || !this.paths.has(url.pathname)) {
      sendNotFound(response);
      return;
    }
    const params = url.searchParams;
    const states = params.getAll('state');
    const state = states[0];
    const entry = states.length === 1 && state ? this.findPending(digestOf(state)) : undefined;
    if (!entry) {
      const reused = states.length === 1 && state ? this.settled.has(digestOf(state).toString('hex')) : false;
      this.logger?.warn(
        `OAuth callback refused: ${reused ? 'its state was already used or has expired' : 'no sign-in is waiting for its state'}`,
      );
      sendUnrecognized(response, reused);
      return;
    }
    const error = params.get('error');
    if (error !== null) {
      const code = printable(error, 100) || 'unknown_error';
      const description = printable(params.get('error_description') ?? '', 300) || undefined;
      this.logger?.warn(`upstream "${entry.upstream}": sign-in refused by the authorization server: ${code}`);
      entry.reject(new OAuthAuthorizationDeniedError(entry.upstream, code, description));
      sendDenied(response, entry.upstream, code, description);
      return;
    }
    const codes = params.getAll('code');
    const code = codes[0];
    if (codes.length !== 1 || !code) {
      // The authorization server always sends a code or an error: keep waiting for a real response.
      this.logger?.warn(`upstream "${entry.upstream}": OAuth callback without a code ignored; still waiting`);
      sendIncomplete(response, entry.upstream);
      return;
    }
    const iss = params.get('iss') ?? undefined;
    this.logger?.debug(`upstream "${entry.upstream}": OAuth callback received`);
    entry.resolve({ code, state: entry.state, ...(iss === undefined ? {} : { iss }), params });
    sendSignedIn(response, entry.upstream);
  }

  /** Compares against every pending state, in constant time for each and without stopping at a match. */
  private findPending(digest: Buffer): PendingSignIn | undefined {
    let found: PendingSignIn | undefined;
    for (const entry of this.pending) {
      if (timingSafeEqual(entry.digest, digest) && !found) found = entry;
    }
    return found;
  }

  private remember(digest: Buffer): void {
    const key = digest.toString('hex');
    this.settled.add(key);
    if (this.settled.size > SETTLED_STATES_KEPT) {
      const oldest = this.settled.values().next().value;
      if (oldest !== undefined) this.settled.delete(oldest);
    }
  }
}

let shared: Promise<CallbackServer> | undefined;

/**
 * The process-wide callback server, started on first use (with these options; later options are ignored) and
 * returned as is after. A failed start is forgotten, so the next call tries again.
 */
export function sharedCallbackServer(options: CallbackServerOptions = {}): Promise<CallbackServer> {
  if (!shared) {
    const starting = CallbackServer.start(options);
    shared = starting;
    starting.catch(() => {
      if (shared === starting) shared = undefined;
    });
  }
  return shared;
}

/** Closes the shared callback server, if one was started (at shutdown); the next use starts a new one. */
export async function closeSharedCallbackServer(): Promise<void> {
  const starting = shared;
  shared = undefined;
  if (!starting) return;
  const server = await starting.catch(() => undefined);
  await server?.close();
}

function digestOf(state: string): Buffer {
  return createHash('sha256').update(state, 'utf8').digest();
}

/** Text from the query string made safe for a log line or an error message: no control characters, bounded. */
function printable(text: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
  return truncate(text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim(), max);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
