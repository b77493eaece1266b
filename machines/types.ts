/**
 * The small interface between the statecharts and the I/O that src/ provides. Machines import only types from
 * here, so they stay pure definitions that can be tested with a SimulatedClock and drawn as diagrams.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/client';

/** How an upstream is reached; `http-first`/`sse-first` try one transport and fall back to the other. */
export type TransportMode = 'http-first' | 'http' | 'sse' | 'sse-first';
export type TransportKind = 'http' | 'sse';

/**
 * What a failure means for the upstream's statechart. Decided once, where the error is caught (src/upstream),
 * so guards only read a field.
 * - `auth`: the upstream answered 401; sign-in is needed.
 * - `fallback`: this transport is not spoken at this URL (400, 404, 405, not MCP); the other one may be.
 * - `network`: unreachable, reset, 5xx, timeout: retrying may fix it.
 * - `session-expired`: the Streamable HTTP session is gone (404 for our session id): open a new one.
 * - `permanent`: retrying cannot fix it (403, SSE endpoint on another origin, refused by both transports).
 * - `upstream`: the upstream answered with a JSON-RPC error; the connection is fine.
 */
export type FailureKind = 'auth' | 'fallback' | 'network' | 'session-expired' | 'permanent' | 'upstream';

/** The code of a failure that asks for a wider OAuth scope (step-up); its `reason` is the scope. */
export const INSUFFICIENT_SCOPE = 'ERR_UPSTREAM_INSUFFICIENT_SCOPE';

export interface UpstreamFailure {
  readonly kind: FailureKind;
  /** Stable machine-readable code, e.g. ERR_UPSTREAM_UNREACHABLE. */
  readonly code: string;
  /** One human line that names the upstream and never holds a secret. */
  readonly message: string;
  /** The bare cause (e.g. "ECONNREFUSED"), for messages that add their own context. */
  readonly reason?: string;
}

export interface ToolCallRequest {
  /** The upstream's own tool name (not the exposed one). */
  name: string;
  arguments?: Record<string, unknown>;
  /** The client's `_meta`, minus its progress token (the upstream gets one of ours). */
  meta?: Record<string, unknown>;
  /** Per-call timeout; progress notifications reset it. */
  timeoutMs: number;
  /** Aborted when the client cancels the request. */
  signal?: AbortSignal;
  onProgress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

/** How a call ends. Exactly one is delivered to the caller's `reply`, whatever happens. */
export type CallOutcome =
  | { type: 'result'; result: CallToolResult }
  /** The upstream's own JSON-RPC error, passed on as a JSON-RPC error. */
  | { type: 'rpc-error'; code: number; message: string; data?: unknown }
  /** The proxy could not get an answer (connection lost, timeout, upstream failed): named, never a secret. */
  | { type: 'failure'; failure: UpstreamFailure };

/** Signals from a live connection to the upstream actor that owns it. */
export type ConnectionSignal = { type: 'lost'; failure: UpstreamFailure } | { type: 'tools-changed' };

/** An initialized MCP session with one upstream, over one transport. */
export interface UpstreamConnection {
  readonly transport: TransportKind;
  listTools(): Promise<Tool[]>;
  /** Never rejects: every failure becomes an outcome. */
  callTool(request: ToolCallRequest): Promise<CallOutcome>;
  /** Returns the unsubscribe function. */
  watch(listener: (signal: ConnectionSignal) => void): () => void;
  /** Checks (one ping at a time) that the session still works; if not, `lost` is signalled to the watchers. */
  checkAlive(): void;
  /** Ends the session (DELETE for Streamable HTTP) and closes the transport; never rejects. */
  close(): Promise<void>;
}
