/**
 * Resource subscriptions of an upstream session in either era: a 2025-era session has `resources/subscribe`; a
 * 2026-07-28 one has none, and a subscribed URI joins the filter of its `subscriptions/listen` stream (./listen.ts).
 */
import { ProtocolErrorCode, SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/client';
import type { CallOutcome } from '../../machines/types.js';
import type { Logger } from '../observe/log.js';
import type { UpstreamClient } from './client.js';
import { classifyCallError, networkReason } from './failures.js';
import type { ListenStream } from './listen.js';

export interface SubscriptionsOptions {
  name: string;
  client: UpstreamClient;
  /** A 2026-07-28 session's stream; none for a 2025-era session. */
  listen: ListenStream | undefined;
  logger: Logger;
  /** The connection is closing: failures from now on are expected, not worth a warning. */
  closing(): boolean;
}

/**
 * `resources/subscribe` and `unsubscribe` of a 2026-07-28 session: the URI joins (or leaves) the listen stream's
 * filter; the answer waits until the server has acknowledged the stream that carries it.
 */
export async function subscribeOnListen(
  { name, client }: Pick<SubscriptionsOptions, 'name' | 'client'>,
  stream: ListenStream,
  method: 'resources/subscribe' | 'resources/unsubscribe',
  uri: string,
  label: string,
  timeoutMs: number,
): Promise<CallOutcome> {
  if (!client.getServerCapabilities()?.resources?.subscribe) {
    return {
      type: 'rpc-error',
      code: ProtocolErrorCode.MethodNotFound,
      message: `upstream "${name}" offers no resource subscriptions`,
    };
  }
  try {
    if (method === 'resources/unsubscribe') {
      await stream.unsubscribe(uri);
      return { type: 'result', result: {} };
    }
    await stream.subscribe(uri);
    if (stream.honors(uri)) return { type: 'result', result: {} };
    return {
      type: 'rpc-error',
      code: ProtocolErrorCode.InvalidParams,
      message: `upstream "${name}" does not send updates of ${uri}`,
    };
  } catch (error) {
    return classifyCallError(name, label, timeoutMs, error);
  }
}

/** After a reconnect: the subscriptions the session had, asked for again (failures are only warned about). */
export function restoreSubscriptions(
  { name, client, listen, logger, closing }: SubscriptionsOptions,
  subscriptions: readonly string[],
): void {
  if (listen) {
    listen.setResources(subscriptions).catch((error: unknown) => {
      if (!closing())
        logger.warn(
          `upstream "${name}": could not listen again to ${subscriptions.join(', ')} (${networkReason(error)})`,
        );
    });
    return;
  }
  if (!client.getServerCapabilities()?.resources?.subscribe) return;
  for (const uri of subscriptions) {
    client.subscribeResource({ uri }).catch((error: unknown) => {
      if (!closing()) logger.warn(`upstream "${name}": could not subscribe again to ${uri} (${networkReason(error)})`);
    });
  }
}

/** The listen stream's id is the SDK's bookkeeping between it and the server; the downstream client has none. */
export function withoutSubscriptionId<T extends { _meta?: Record<string, unknown> }>(params: T): T {
  if (params._meta === undefined || !(SUBSCRIPTION_ID_META_KEY in params._meta)) return params;
  const { [SUBSCRIPTION_ID_META_KEY]: _subscription, ...meta } = params._meta;
  const { _meta, ...rest } = params;
  return (Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest) as T;
}
