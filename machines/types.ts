/**
 * The small interface between the statecharts and the I/O that src/ provides. Machines import only types from
 * here, so they stay pure definitions that can be tested with a SimulatedClock and drawn as diagrams. Failures
 * (`UpstreamFailure`, their kinds and codes) are the error vocabulary's, in src/errors.
 */
import type { LoggingLevel, Result } from '@modelcontextprotocol/client';
import type { UpstreamCatalog } from '../src/catalog/types.js';
import type { UpstreamFailure } from '../src/errors/index.js';

/** How an upstream is reached; `http-first`/`sse-first` try one transport and fall back to the other. */
export type TransportMode = 'http-first' | 'http' | 'sse' | 'sse-first';
export type TransportKind = 'http' | 'sse';

/** Requests the proxy forwards to the upstream that owns their target. */
export type ForwardedMethod =
  | 'tools/call'
  | 'prompts/get'
  | 'resources/read'
  | 'resources/subscribe'
  | 'resources/unsubscribe'
  | 'completion/complete'
  /** 2025-11-25 tasks: sent to the upstream that owns the task (or, for the list, to each). */
  | 'tasks/get'
  | 'tasks/result'
  | 'tasks/list'
  | 'tasks/cancel';

export interface ForwardedRequest {
  method: ForwardedMethod;
  /**
   * As the upstream must receive them: its own tool or prompt name, and the client's `_meta` minus its progress
   * token (the upstream gets one of ours).
   */
  params: Record<string, unknown>;
  /** Names the request in messages, e.g. `tools/call "echo"`. */
  label: string;
  /** Per-request timeout; progress notifications reset it. */
  timeoutMs: number;
  /** The most the request may take, progress or not (`max_call_ms`); unbounded when absent. */
  maxTotalMs?: number;
  /** Aborted when the client cancels the request. */
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /**
   * Answers the server-to-client requests (sampling, elicitation, roots) the upstream makes while serving this
   * request, instead of sending them to the client on their own (a 2026-07-28 client takes them only as part of
   * its request's answer). Without it they go to the client directly.
   */
  onClientRequest?: ClientRequestHandler;
}

/** Server-to-client requests an upstream may send (each allowed by one client capability). */
export type ClientRequestMethod = 'sampling/createMessage' | 'elicitation/create' | 'roots/list';

export type ClientRequestHandler = (
  method: ClientRequestMethod,
  params: Record<string, unknown> | undefined,
  signal: AbortSignal,
) => Promise<Result>;

/** What a new session with an upstream must be told again: the client's subscriptions and log level. */
export interface SessionState {
  subscriptions: readonly string[];
  logLevel?: LoggingLevel;
}

/** How a call ends. Exactly one is delivered to the caller's `reply`, whatever happens. */
export type CallOutcome =
  | { type: 'result'; result: Result }
  /** The upstream's own JSON-RPC error, passed on as a JSON-RPC error. */
  | { type: 'rpc-error'; code: number; message: string; data?: unknown }
  /** The proxy could not get an answer (connection lost, timeout, upstream failed): named, never a secret. */
  | { type: 'failure'; failure: UpstreamFailure };

/** Signals from a live connection to the upstream actor that owns it. */
export type ConnectionSignal =
  | { type: 'lost'; failure: UpstreamFailure }
  | { type: 'catalog-changed' }
  /** A liveness check found the session working (calls that waited on a suspicion may go on). */
  | { type: 'alive' };

/** An initialized MCP session with one upstream, over one transport. */
export interface UpstreamConnection {
  readonly transport: TransportKind;
  /** Lists what the server's capabilities say it has; rejects with an UpstreamFailure. */
  listCatalog(): Promise<UpstreamCatalog>;
  /**
   * Never rejects: every failure becomes an outcome. `ended` aborts the request's HTTP exchange with the upstream
   * however the call ends (timeout, cancel, connection lost, shutdown), so no response stream outlives its call.
   */
  request(request: ForwardedRequest, ended?: AbortSignal): Promise<CallOutcome>;
  /** Tells a new session the client's subscriptions and log level; failures are logged, never thrown. */
  restore(state: SessionState): void;
  /** `logging/setLevel`, when the server has logging; never rejects. */
  setLogLevel(level: LoggingLevel): void;
  /** Returns the unsubscribe function. */
  watch(listener: (signal: ConnectionSignal) => void): () => void;
  /** Checks (one ping at a time) that the session still works: `alive` or `lost` is signalled to the watchers. */
  checkAlive(): void;
  /** Ends the session (DELETE for Streamable HTTP) and closes the transport; never rejects. */
  close(): Promise<void>;
}
