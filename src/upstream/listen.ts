/**
 * The `subscriptions/listen` stream of a 2026-07-28 upstream: that era has no standalone stream and no
 * `resources/subscribe`, so list changes and the updates of subscribed resources come only on a stream the client
 * asks for, with a filter fixed when it opens. One stream per upstream: a new filter (the client subscribed or
 * unsubscribed) opens a new stream first and closes the old one after, so no change falls in between; a stream
 * that drops is opened again with a growing delay. What arrives on it goes to the Client's ordinary notification
 * handlers (the SDK dispatches it so), that is, where a 2025-era session's unsolicited notifications go.
 */
import type { Client, McpSubscription, SubscriptionFilter } from '@modelcontextprotocol/client';
import { networkReason } from './failures.js';

/** The server acknowledges a listen at once; one that does not within this is treated as a dropped stream. */
const LISTEN_ACK_TIMEOUT_MS = 10_000;
const REOPEN_INITIAL_DELAY_MS = 250;
const REOPEN_MAX_DELAY_MS = 5_000;

export interface ListenOptions {
  client: Client;
  /** A stream dropped: the server may be gone (the connection checks). */
  onDropped(): void;
  /** A dropped stream is open again: changes made meanwhile were not heard, so the catalog must be listed again. */
  onReopened(): void;
  /** One line for a failure nobody waits on. */
  warn(line: string): void;
}

export interface ListenStream {
  /** Opens (or re-opens) the stream with the list changes the server offers and these URIs; resolves when acked. */
  setResources(uris: Iterable<string>): Promise<void>;
  subscribe(uri: string): Promise<void>;
  unsubscribe(uri: string): Promise<void>;
  /** The URIs the server agreed to send updates for on the open stream. */
  honors(uri: string): boolean;
  close(): void;
}

export function createListenStream({ client, onDropped, onReopened, warn }: ListenOptions): ListenStream {
  const uris = new Set<string>();
  let current: { subscription: McpSubscription; filter: string } | undefined;
  let closed = false;
  let reopenTimer: NodeJS.Timeout | undefined;
  let reopenDelay = REOPEN_INITIAL_DELAY_MS;
  /** A stream dropped since the last one opened: what changed meanwhile was not heard. */
  let missed = false;
  // Filter changes open one stream after another, in order, so the last one opened has the latest filter.
  let queue: Promise<void> = Promise.resolve();

  const filter = (): SubscriptionFilter => {
    const offers = client.getServerCapabilities() ?? {};
    return {
      ...(offers.tools?.listChanged && { toolsListChanged: true }),
      ...(offers.prompts?.listChanged && { promptsListChanged: true }),
      ...(offers.resources?.listChanged && { resourcesListChanged: true }),
      ...(offers.resources?.subscribe && uris.size > 0 && { resourceSubscriptions: [...uris].sort() }),
    };
  };

  const scheduleReopen = () => {
    if (closed || reopenTimer) return;
    const wait = reopenDelay;
    reopenDelay = Math.min(reopenDelay * 2, REOPEN_MAX_DELAY_MS);
    reopenTimer = setTimeout(() => {
      reopenTimer = undefined;
      enqueue().catch((error: unknown) => {
        if (closed) return;
        warn(`subscriptions/listen could not be opened again (${networkReason(error)}); retrying`);
        scheduleReopen();
      });
    }, wait);
    reopenTimer.unref();
  };

  const open = async (): Promise<void> => {
    if (closed) return;
    const wanted = filter();
    const key = JSON.stringify(wanted);
    if (current && current.filter === key) return;
    const previous = current;
    if (Object.keys(wanted).length === 0) {
      // Nothing to hear (a server with no listChanged and no subscriptions): a stream would be closed at once.
      current = undefined;
      await previous?.subscription.close();
      return;
    }
    const subscription = await client.listen(wanted, { timeout: LISTEN_ACK_TIMEOUT_MS });
    if (closed) {
      await subscription.close();
      return;
    }
    current = { subscription, filter: key };
    reopenDelay = REOPEN_INITIAL_DELAY_MS;
    // A server that honors none of the filter ends the stream at once: that is no drop, and re-opening would loop.
    const honorsNothing = Object.keys(subscription.honoredFilter).length === 0;
    void subscription.closed.then((how) => {
      if (how === 'local' || current?.subscription !== subscription) return;
      current = undefined;
      if (closed || honorsNothing) return;
      // Dropped, or ended by the server (it shuts down gracefully before a restart): hear the changes again.
      missed = true;
      onDropped();
      scheduleReopen();
    });
    await previous?.subscription.close();
    if (missed) {
      missed = false;
      onReopened();
    }
  };

  const enqueue = () => {
    const next = queue.then(open);
    queue = next.catch(() => {});
    return next;
  };

  const change = async (apply: () => void) => {
    apply();
    try {
      await enqueue();
    } catch (error) {
      // The stream the filter needs is not open: keep trying, the request that asked for it fails now.
      scheduleReopen();
      throw error;
    }
  };

  return {
    setResources: (next) =>
      change(() => {
        uris.clear();
        for (const uri of next) uris.add(uri);
      }),
    subscribe: (uri) => change(() => uris.add(uri)),
    unsubscribe: (uri) => change(() => uris.delete(uri)),
    honors: (uri) =>
      current !== undefined && (current.subscription.honoredFilter.resourceSubscriptions ?? []).includes(uri),
    close() {
      closed = true;
      clearTimeout(reopenTimer);
      const subscription = current?.subscription;
      current = undefined;
      void subscription?.close().catch(() => {});
    },
  };
}
