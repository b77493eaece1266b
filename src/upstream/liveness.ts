/**
 * The liveness check of an upstream session after a transport error. Streamable HTTP reports many recoverable
 * things as errors (a standalone stream dropped and being re-opened), so an error alone does not mean the session
 * is gone: one cheap request tells.
 */
import type { UpstreamClient } from './client.js';
import { classifyCallError, networkReason } from './failures.js';

/** How long the liveness check after a transport error may take before the connection counts as lost. */
const LIVENESS_PING_TIMEOUT_MS = 5_000;

export interface LivenessOptions {
  name: string;
  client: UpstreamClient;
  /** The connection is closing or already reported lost: there is nothing left to check or to tell. */
  settled(): boolean;
  onAlive(): void;
  onLost(reason: string): void;
}

/** Returns the check; one asked for while another is under way does nothing. */
export function createLivenessCheck({ name, client, settled, onAlive, onLost }: LivenessOptions): () => void {
  let checking = false;
  // One ping tells whether the server is still there and still knows the session. The 2026-07-28 era has no ping
  // (and no session): its cheapest request, server/discover, tells whether the server is there.
  return () => {
    if (settled() || checking) return;
    checking = true;
    const options = { timeout: LIVENESS_PING_TIMEOUT_MS };
    (client.getProtocolEra() === 'modern' ? client.discover(options) : client.ping(options))
      .then(() => {
        if (!settled()) onAlive();
      })
      .catch((pingError: unknown) => {
        const outcome = classifyCallError(name, 'ping', LIVENESS_PING_TIMEOUT_MS, pingError);
        if (outcome.type !== 'failure') return;
        const { kind, code, reason } = outcome.failure;
        if (kind === 'session-expired') onLost('the server no longer knows our session');
        else if (kind === 'auth') onLost('sign-in needed');
        else if (kind === 'network') onLost(reason ?? networkReason(pingError));
        else if (code === 'ERR_UPSTREAM_TIMEOUT') onLost('no answer to ping');
      })
      .finally(() => {
        checking = false;
      });
  };
}
