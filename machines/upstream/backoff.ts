/** How long an upstream waits before it reconnects. */
export const RECONNECT_BASE_MS = 1_000;
export const RECONNECT_CAP_MS = 30_000;

/**
 * Exponential backoff with jitter: 1 s doubling to a 30 s cap, then a random 75–100% of it, so many proxies
 * restarted together don't reconnect in lockstep; never sooner than a server's Retry-After (capped where it is read,
 * in src/upstream/http.ts). `attempt` counts from 1.
 */
export function reconnectDelayMs(attempt: number, random: () => number, retryAfterMs = 0): number {
  const ceiling = Math.min(RECONNECT_BASE_MS * 2 ** Math.min(attempt - 1, 30), RECONNECT_CAP_MS);
  const backoff = Math.round(ceiling * (0.75 + 0.25 * random()));
  return Math.max(backoff, retryAfterMs);
}
