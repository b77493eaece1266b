/**
 * The upstream subscriptions behind a 2026-07-28 client's `subscriptions/listen` streams: the SDK serves the
 * streams, and the proxy subscribes upstream to the resource URIs they name (`proxy://status` is served here), as a
 * 2025-era client's `resources/subscribe` would.
 */
import type { Logger } from '../observe/log.js';
import { redact } from '../observe/redact.js';
import type { Route, RouteOutcome } from './request-routing.js';
import { STATUS_RESOURCE, type StatusMethod } from './status-resource.js';

export interface ListenedResources {
  /** Resolves once the upstreams were asked to subscribe to the URIs added (their answers are only logged). */
  listenTo(uris: ReadonlySet<string>): Promise<void>;
  /** The resources changed: the URIs no upstream served when subscribed may be served now. */
  subscribeUnrouted(): void;
}

export function createListenedResources(
  route: Route,
  serveStatus: (method: StatusMethod) => unknown,
  logger: Logger,
): ListenedResources {
  let listened: ReadonlySet<string> = new Set();
  /**
   * Listened URIs no upstream served when we subscribed (its upstream was down): the client, acknowledged by the
   * SDK, cannot know, so they are subscribed again when the resources change.
   */
  const unrouted = new Set<string>();
  const subscribeUpstream = (method: 'resources/subscribe' | 'resources/unsubscribe', uri: string): Promise<void> => {
    const label = `${method} ${uri} (for a subscriptions/listen stream)`;
    return route(method, { kind: 'resource', uri }, { uri }, label, undefined, {}).then((outcome) => {
      if (outcome.type === 'unknown-target' && method === 'resources/subscribe' && listened.has(uri)) {
        unrouted.add(uri);
      }
      // The client waits for the stream's acknowledgement only (listen-subscriptions.ts holds it until now).
      if (outcome.type !== 'result') logger.debug(`${label}: ${describeOutcome(outcome)}`);
    });
  };
  const listenTo = async (uris: ReadonlySet<string>): Promise<void> => {
    const added = [...uris].filter((uri) => !listened.has(uri));
    const gone = [...listened].filter((uri) => !uris.has(uri));
    listened = uris;
    if (added.includes(STATUS_RESOURCE.uri)) serveStatus('resources/subscribe');
    if (gone.includes(STATUS_RESOURCE.uri)) serveStatus('resources/unsubscribe');
    for (const uri of gone) {
      if (uri !== STATUS_RESOURCE.uri && !unrouted.delete(uri)) void subscribeUpstream('resources/unsubscribe', uri);
    }
    const subscribing = added.filter((uri) => uri !== STATUS_RESOURCE.uri);
    await Promise.all(subscribing.map((uri) => subscribeUpstream('resources/subscribe', uri)));
  };
  const subscribeUnrouted = () => {
    for (const uri of unrouted) {
      unrouted.delete(uri);
      void subscribeUpstream('resources/subscribe', uri);
    }
  };
  return { listenTo, subscribeUnrouted };
}

/** How a request the proxy made on its own went wrong, for the debug log. */
function describeOutcome(outcome: RouteOutcome): string {
  switch (outcome.type) {
    case 'result':
      return 'done';
    case 'rpc-error':
      return redact(outcome.message);
    case 'unknown-target':
      return 'no upstream serves it';
    case 'failure':
      return outcome.failure.message;
  }
}
