/**
 * What an upstream session may ask of the downstream client. The proxy's client side (one SDK Client per
 * upstream) declares exactly the capabilities the downstream client declared, and passes the server-to-client
 * traffic those capabilities allow straight through this bridge.
 */
import type { ClientCapabilities, Result } from '@modelcontextprotocol/client';
import type { ClientRequestMethod } from '../../machines/types.js';

export type { ClientRequestMethod };

/** The client capability that allows each server-to-client request. */
export const CLIENT_REQUESTS = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
} as const satisfies Record<ClientRequestMethod, keyof ClientCapabilities>;

export interface ClientBridge {
  /** What the downstream client declared at initialize; the upstreams see exactly this. */
  readonly capabilities: ClientCapabilities;
  /** Asks the downstream client on behalf of an upstream; rejects with the client's error. */
  request(
    upstream: string,
    method: ClientRequestMethod,
    params: Record<string, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<Result>;
  /** Passes an upstream's log message on, with the upstream's name as `logger`. */
  log(upstream: string, params: { level: string; data?: unknown; logger?: string }): void;
  /** Passes on `notifications/resources/updated` for a URI the client subscribed to. */
  resourceUpdated(upstream: string, params: { uri: string }): void;
  /** Calls `listener` when the client's roots change (every upstream session is told); returns the unsubscribe. */
  onRootsChanged(listener: () => void): () => void;
  /** Passes on `notifications/tasks/status` for a task of this upstream (absent: no client to tell). */
  taskStatus?(upstream: string, params: Record<string, unknown>): void;
}

/** For sessions with no downstream client behind them (benchmarks, tests of the upstream side alone). */
export const NO_CLIENT: ClientBridge = {
  capabilities: {},
  request: () => Promise.reject(new Error('no downstream client')),
  log: () => {},
  resourceUpdated: () => {},
  onRootsChanged: () => () => {},
};
