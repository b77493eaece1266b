/**
 * `proxy://status`: the proxy's own resource, what every upstream is doing. Always listed first, whatever the
 * upstreams list; a read takes the status now, and a subscriber hears of every change of an upstream's state.
 */
import type { Result, Server } from '@modelcontextprotocol/server';
import type { ProxyStatus } from '../observe/status.js';

/** The proxy's own status, served as the `proxy://status` resource. */
export interface StatusSource {
  take(): ProxyStatus;
  onChange(listener: () => void): () => void;
}

export const STATUS_RESOURCE = {
  uri: 'proxy://status',
  name: 'proxy-status',
  title: 'Proxy status',
  description: 'What every upstream of mcp-upstream-proxy is doing: state, transport, tools, last error, reconnects',
  mimeType: 'application/json',
} as const;

export type StatusMethod = 'resources/read' | 'resources/subscribe' | 'resources/unsubscribe';

/** Answers the client's requests for `proxy://status`; updates go to the server the client talks to now. */
export function createStatusResource(
  status: StatusSource,
  current: () => Server | undefined,
): (method: StatusMethod) => Result {
  let stopWatchingStatus: (() => void) | undefined;
  return (method: StatusMethod): Result => {
    if (method === 'resources/read') {
      const text = JSON.stringify(status.take(), null, 2);
      return { contents: [{ uri: STATUS_RESOURCE.uri, mimeType: STATUS_RESOURCE.mimeType, text }] };
    }
    stopWatchingStatus?.();
    stopWatchingStatus =
      method === 'resources/subscribe'
        ? status.onChange(
            () =>
              void current()
                ?.sendResourceUpdated({ uri: STATUS_RESOURCE.uri })
                .catch(() => {}),
          )
        : undefined;
    return {};
  };
}
