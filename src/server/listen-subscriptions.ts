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

/**
 * Called with every URI some open listen stream names, each time that set changes; resolves once the upstreams
 * were asked for the URIs added.
 */
export type ListenedUrisListener = (uris: ReadonlySet<string>) => void | Promise<void>;

/** The longest an acknowledgement waits for the upstream subscriptions it promises (a slow upstream's own answer). */
const ACK_WAIT_MS = 5_000;

/**
 * A transport that passes everything through to `inner` and tells `onChange` the URIs the client listens to. It
 * never alters or drops a message; it holds an acknowledgement naming new URIs until the upstreams were asked for
 * them (at most ACK_WAIT_MS), since a client that has it counts on updates from then on.
 */
export function watchListenedUris(inner: Transport, onChange: ListenedUrisListener): Transport {
  const streams = new Map<RequestId, readonly string[]>();
  const report = () => onChange(new Set([...streams.values()].flat()));
  const reportBounded = async () => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ACK_WAIT_MS);
    });
    await Promise.race([Promise.resolve(report()).catch(() => {}), bound]);
    clearTimeout(timer);
  };
  const end = (id: RequestId | undefined) => {
    if (id !== undefined && streams.delete(id)) void report();
  };

  /** Before a message goes out: an acknowledgement's URIs are subscribed upstream first. */
  const beforeSending = async (message: JSONRPCMessage) => {
    if (!isJSONRPCNotification(message) || message.method !== 'notifications/subscriptions/acknowledged') return;
    const params = message.params as
      | { notifications?: { resourceSubscriptions?: string[] }; _meta?: Record<string, unknown> }
      | undefined;
    const id = params?._meta?.[SUBSCRIPTION_ID_META_KEY] as RequestId | undefined;
    const uris = params?.notifications?.resourceSubscriptions ?? [];
    if (id !== undefined && uris.length > 0) {
      streams.set(id, uris);
      await reportBounded();
    }
  };
  const outbound = (message: JSONRPCMessage) => {
    if (isJSONRPCResultResponse(message)) end(message.id);
  };
  const inbound = (message: JSONRPCMessage) => {
    if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      end((message.params as { requestId?: RequestId } | undefined)?.requestId);
    }
  };

  const outer: Transport = {
    start: () => inner.start(),
    send: async (message, options) => {
      await beforeSending(message);
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
      void report();
    }
    outer.onclose?.();
  };
  return outer;
}
