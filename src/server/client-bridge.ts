/**
 * The downstream client as the upstream sessions see it: its declared capabilities, its answers to sampling,
 * elicitation and roots requests, and where upstream log messages and resource updates go.
 */
import type { ClientCapabilities, LoggingLevel, Server } from '@modelcontextprotocol/server';
import type { ClientBridge, ClientRequestMethod } from '../upstream/bridge.js';

/**
 * A person may take a while to answer an elicitation, a model to sample. The upstream cancels sooner if it wants
 * to (its cancellation aborts ours); this bound only keeps a request from waiting forever on a silent client.
 */
const CLIENT_REQUEST_TIMEOUT_MS = 10 * 60_000;

const SEVERITY: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

export interface DownstreamClientBridge extends ClientBridge {
  /** The client's `logging/setLevel`: messages below it are not passed on (upstreams may ignore the level). */
  setLogLevel(level: LoggingLevel): void;
  /** The client said its roots changed. */
  rootsChanged(): void;
}

export interface BridgedServer {
  /** The server the client talks to now (none before the client opened the connection). */
  current(): Server | undefined;
  /** What the client declared. */
  capabilities(): ClientCapabilities;
}

export function createClientBridge({ current, capabilities }: BridgedServer): DownstreamClientBridge {
  const rootsListeners = new Set<() => void>();
  let threshold: number | undefined;
  const ignore = () => {};
  return {
    get capabilities() {
      return capabilities();
    },
    request(_upstream: string, method: ClientRequestMethod, params, signal) {
      const server = current();
      if (!server) return Promise.reject(new Error('the client is not connected'));
      return server.request({ method, params }, { signal, timeout: CLIENT_REQUEST_TIMEOUT_MS });
    },
    log(upstream, params) {
      const level = SEVERITY.indexOf(params.level as LoggingLevel);
      if (threshold !== undefined && level !== -1 && level < threshold) return;
      current()
        ?.notification({ method: 'notifications/message', params: { ...params, logger: upstream } })
        .catch(ignore);
    },
    resourceUpdated(_upstream, params) {
      current()?.sendResourceUpdated(params).catch(ignore);
    },
    onRootsChanged(listener) {
      rootsListeners.add(listener);
      return () => rootsListeners.delete(listener);
    },
    setLogLevel(level) {
      threshold = SEVERITY.indexOf(level);
    },
    rootsChanged() {
      for (const listener of rootsListeners) listener();
    },
  };
}
