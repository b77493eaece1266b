/**
 * Logging to stderr, the only place logs may go: stdout carries JSON-RPC alone. One line per message, prefixed so
 * a user reading their MCP client's server log sees where it came from.
 */
import { redact } from './redact.js';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Only with DEBUG=1. */
  debug(message: string): void;
  readonly debugEnabled: boolean;
}

export function createLogger(options: { debug: boolean; write?: (line: string) => void }): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Every line is redacted: no configured header value, token, code or secret reaches stderr.
  const line = (level: string, message: string) => write(`[mcp-upstream-proxy] ${level}${redact(message)}`);
  return {
    debugEnabled: options.debug,
    info: (message) => line('', message),
    warn: (message) => line('warning: ', message),
    error: (message) => line('error: ', message),
    debug: options.debug ? (message) => line('debug: ', message) : () => {},
  };
}
