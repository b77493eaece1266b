/**
 * The resource URIs a 2026-07-28 client listens to. Such a client has no `resources/subscribe`: it names the URIs
 * in its `subscriptions/listen` request, which the SDK's stdio entry serves itself (the stream, the filter, the
 * acknowledgement) and never hands to our server. The proxy must still subscribe upstream for those URIs, so this
 * watches the connection: the entry's acknowledgement says what it honoured under which subscription id, and a
 * `notifications/cancelled` of that id (or the entry's closing result for it) ends it.
 */
import {
  isJSONRPCNotification,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
  SUBSCRIPTION_ID_META_KEY,
  type Transport,
} from '@modelcontextprotocol/server';

/** Called with every URI some open listen stream names, each time that set changes. */
export type ListenedUrisListener = (uris: ReadonlySet<string>) => void;

/**
 * A transport that passes everything through to `inner` and tells `onChange` the URIs the client listens to.
 * Only watches: it never alters, drops or delays a message.
 */
export function watchListenedUris(inner: Transport, onChange: ListenedUrisListener): Transport {
  const streams = new Map<RequestId, readonly string[]>();
  const report = () => onChange(new Set([...streams.values()].flat()));
  const end = (id: RequestId | undefined) => {
    if (id !== undefined && streams.delete(id)) report();
  };

  const outbound = (message: JSONRPCMessage) => {
    if (isJSONRPCNotification(message) && message.method === 'notifications/subscriptions/acknowledged') {
      const params = message.params as
        | { notifications?: { resourceSubscriptions?: string[] }; _meta?: Record<string, unknown> }
        | undefined;
      const id = params?._meta?.[SUBSCRIPTION_ID_META_KEY] as RequestId | undefined;
      const uris = params?.notifications?.resourceSubscriptions ?? [];
      if (id !== undefined && uris.length > 0) {
        streams.set(id, uris);
        report();
      }
    } else if (isJSONRPCResultResponse(message)) {
      end(message.id);
    }
  };
  const inbound = (message: JSONRPCMessage) => {
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      end((message.params as { requestId?: RequestId } | undefined)?.requestId);
    }
  };

  const outer: Transport = {
    start: () => inner.start(),
    send: async (message, options) => {
      await inner.send(message, options);
      outbound(message);
    },
    close: () => inner.close(),
    setProtocolVersion: (version) => inner.setProtocolVersion?.(version),
    setSupportedProtocolVersions: (versions) => inner.setSupportedProtocolVersions?.(versions),
    get sessionId() {
      return inner.sessionId;
    },
  };
  inner.onmessage = (message, extra) => {
    inbound(message);
    outer.onmessage?.(message, extra);
  };
  inner.onerror = (error) => outer.onerror?.(error);
  inner.onclose = () => {
    if (streams.size > 0) {
      streams.clear();
      report();
    }
    outer.onclose?.();
  };
  return outer;
}
