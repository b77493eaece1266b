/**
 * An initialized MCP session with one upstream, behind the small `UpstreamConnection` interface the statecharts
 * use. It forwards calls untouched, reports a dropped connection, and re-lists on `tools/list_changed`.
 */
import { type CallToolResult, type Client, SseError, type Tool } from '@modelcontextprotocol/client';
import type {
  CallOutcome,
  ConnectionSignal,
  ToolCallRequest,
  TransportKind,
  UpstreamConnection,
} from '../../machines/types.js';
import { classifyCallError, networkReason, UpstreamError } from './failures.js';

/** A tools/list (all pages) that takes longer counts as failed; the upstream then reconnects. */
const LIST_TIMEOUT_MS = 60_000;

/** How long the liveness check after a transport error may take before the connection counts as lost. */
const LIVENESS_PING_TIMEOUT_MS = 5_000;

export interface ConnectionOptions {
  name: string;
  transport: TransportKind;
  client: Client;
  /** Ends the session (Streamable HTTP: DELETE) before the transport closes. */
  endSession?: () => Promise<void>;
}

export function createConnection({ name, transport, client, endSession }: ConnectionOptions): UpstreamConnection {
  const listeners = new Set<(signal: ConnectionSignal) => void>();
  let closing = false;
  let lost = false;
  let checking = false;

  const signal = (event: ConnectionSignal) => {
    for (const listener of listeners) listener(event);
  };
  const reportLost = (reason: string) => {
    if (closing || lost) return;
    lost = true;
    signal({
      type: 'lost',
      failure: new UpstreamError(
        'network',
        'ERR_UPSTREAM_CONNECTION_LOST',
        `upstream "${name}": connection lost (${reason})`,
        reason,
      ),
    });
  };

  // One ping tells whether the server is still there and still knows the session.
  const checkAlive = () => {
    if (closing || lost || checking) return;
    checking = true;
    client
      .ping({ timeout: LIVENESS_PING_TIMEOUT_MS })
      .catch((pingError: unknown) => {
        const outcome = classifyCallError(name, 'ping', LIVENESS_PING_TIMEOUT_MS, pingError);
        if (outcome.type !== 'failure') return;
        const { kind, code, reason } = outcome.failure;
        if (kind === 'session-expired') reportLost('the server no longer knows our session');
        else if (kind === 'auth') reportLost('sign-in needed');
        else if (kind === 'network') reportLost(reason ?? networkReason(pingError));
        else if (code === 'ERR_UPSTREAM_TIMEOUT') reportLost('no answer to ping');
      })
      .finally(() => {
        checking = false;
      });
  };

  client.onclose = () => reportLost('the transport closed');
  client.onerror = (error) => {
    if (closing || lost) return;
    // The legacy SSE transport has one stream: when it errors, the session is gone (a reconnected EventSource
    // would get a new, uninitialized session). A failed POST is reported here too, but the stream may be fine.
    if (transport === 'sse' && error instanceof SseError) return reportLost(networkReason(error));
    // Streamable HTTP reports many recoverable things here (a standalone stream dropped and being re-opened).
    checkAlive();
  };
  client.setNotificationHandler('notifications/tools/list_changed', () => signal({ type: 'tools-changed' }));

  return {
    transport,
    async listTools(): Promise<Tool[]> {
      try {
        // Every page (the SDK follows nextCursor), never from the SDK's response cache: a re-list must be fresh.
        const { tools } = await client.listTools(undefined, { cacheMode: 'bypass', timeout: LIST_TIMEOUT_MS });
        return tools;
      } catch (error) {
        const outcome = classifyCallError(name, 'tools/list', LIST_TIMEOUT_MS, error);
        if (outcome.type === 'failure') throw outcome.failure;
        const reason = outcome.type === 'rpc-error' ? outcome.message : 'unexpected answer';
        // A JSON-RPC error: the upstream is there but will not list its tools; retrying later may help.
        throw new UpstreamError('network', 'ERR_UPSTREAM_LIST', `upstream "${name}": tools/list failed (${reason})`);
      }
    },
    async callTool(request: ToolCallRequest): Promise<CallOutcome> {
      const params: Record<string, unknown> = { name: request.name };
      if (request.arguments !== undefined) params.arguments = request.arguments;
      if (request.meta !== undefined) params._meta = request.meta;
      try {
        // `request` rather than `callTool`: a proxy passes the result on as it is, without validating it against
        // the tool's outputSchema (that is the client's business) or caching anything.
        const result = await client.request(
          { method: 'tools/call', params },
          {
            timeout: request.timeoutMs,
            resetTimeoutOnProgress: true,
            signal: request.signal,
            onprogress: request.onProgress,
          },
        );
        return { type: 'result', result: result as CallToolResult };
      } catch (error) {
        return classifyCallError(name, `tools/call "${request.name}"`, request.timeoutMs, error);
      }
    },
    checkAlive,
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      listeners.clear();
      try {
        await endSession?.();
      } catch {
        // The server may be gone already, or not support DELETE (405): the session ends with it either way.
      }
      await client.close().catch(() => {});
    },
  };
}
