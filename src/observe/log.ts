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

/** Lines of this turn of the event loop, not written yet (one process, one stderr: shared by every logger). */
let pending: string[] = [];

/** Writes the lines still held; call before writing to stderr directly, so that the lines keep their order. */
export function flushLogs(): void {
  if (pending.length === 0) return;
  const text = `${pending.join('\n')}\n`;
  pending = [];
  process.stderr.write(text);
}

let flushesAtExit = false;

/**
 * Lines to stderr, one write per turn of the event loop: stderr to a pipe is a synchronous syscall per write, and
 * a startup with many upstreams logs a few state changes of each in the same turns. The rest of a turn's lines go
 * out at process exit too; only a crash of the process itself (no exit event) can lose a turn's lines.
 */
function stderrLines(): (line: string) => void {
  const flush = flushLogs;
  if (!flushesAtExit) {
    flushesAtExit = true;
    process.on('exit', flush);
  }
  return (line) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(line);
  };
}

export function createLogger(options: { debug: boolean; write?: (line: string) => void }): Logger {
  const write = options.write ?? stderrLines();
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
