/**
 * The SDK Client the proxy speaks to one upstream with. On a 2026-07-28 session there is no `logging/setLevel`: a
 * client asks for log messages per request, with the log level in the request's `_meta`. The SDK attaches the
 * per-request envelope (protocol version, client info, capabilities) in one overridable place; the client's log
 * level is added there, so every request carries it (calls, lists, completions) with nothing to forget at a call
 * site. A level the request's own `_meta` names wins (the SDK spreads the caller's keys last).
 */
import { Client, LOG_LEVEL_META_KEY, type LoggingLevel } from '@modelcontextprotocol/client';

export class UpstreamClient extends Client {
  /** The downstream client's last `logging/setLevel`; unset, a modern upstream sends no log messages. */
  logLevel: LoggingLevel | undefined;

  protected override _outboundMetaEnvelope(): Readonly<Record<string, unknown>> | undefined {
    const envelope = super._outboundMetaEnvelope();
    // No envelope: a 2025-era session, which was told the level with logging/setLevel instead.
    if (envelope === undefined || this.logLevel === undefined) return envelope;
    return { ...envelope, [LOG_LEVEL_META_KEY]: this.logLevel };
  }
}
