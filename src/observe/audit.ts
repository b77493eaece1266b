/**
 * The audit log (`--audit FILE`, `PROXY_AUDIT_FILE`): one JSON line per forwarded request that ended, appended to
 * the file (created 0600): when it ended, the upstream, the method, the tool (the name the client used and the
 * upstream's own), how long it took, how it ended, and the JSON sizes of its params and result. Never the
 * arguments or the result unless `--audit-arguments`, and then redacted (src/observe/redact.ts). Lines are written
 * once per turn of the event loop through a write stream, and flushed at shutdown.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { ConfigError } from '../errors/index.js';
import type { Logger } from './log.js';
import { redact } from './redact.js';
import type { RequestEnd, RequestEndListener } from './request-end.js';

export interface AuditLine {
  time: string;
  upstream: string | null;
  method: string;
  tool?: { name: string; upstreamName?: string };
  prompt?: { name: string; upstreamName?: string };
  uri?: string;
  taskId?: string;
  durationMs: number;
  outcome: RequestEnd['outcome'];
  code?: number | string;
  requestBytes: number;
  responseBytes: number;
  arguments?: unknown;
  result?: unknown;
}

export interface AuditLog {
  listener: RequestEndListener;
  /** Writes what is buffered and closes the file. */
  close(): Promise<void>;
}

/** The JSON size in bytes (UTF-8) of a value; 0 for none. */
function jsonBytes(value: unknown): number {
  if (value === undefined) return 0;
  try {
    return Buffer.byteLength(JSON.stringify(value));
  } catch {
    return 0;
  }
}

/** Redacted as every stderr line is: the registered secrets and the shapes secrets come in. */
function redactValue(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return redact(value);
  try {
    return JSON.parse(redact(JSON.stringify(value)));
  } catch {
    return '[redacted]';
  }
}

export function toAuditLine(end: RequestEnd, withArguments: boolean): AuditLine {
  const { target } = end;
  const named =
    target.name === undefined
      ? undefined
      : { name: target.name, ...(target.upstreamName !== undefined && { upstreamName: target.upstreamName }) };
  const args = target.kind === 'tool' || target.kind === 'prompt' ? end.params.arguments : end.params;
  return {
    time: new Date(end.time).toISOString(),
    upstream: end.upstream ?? null,
    method: end.method,
    ...(target.kind === 'tool' && named && { tool: named }),
    ...(target.kind === 'prompt' && named && { prompt: named }),
    ...(target.uri !== undefined && { uri: target.uri }),
    ...(target.taskId !== undefined && { taskId: target.taskId }),
    durationMs: Math.round(end.durationMs * 1000) / 1000,
    outcome: end.outcome,
    ...(end.code !== undefined && { code: end.code }),
    requestBytes: jsonBytes(end.params),
    responseBytes: jsonBytes(end.result),
    ...(withArguments && args !== undefined && { arguments: redactValue(args) }),
    ...(withArguments && end.result !== undefined && { result: redactValue(end.result) }),
  };
}

/** Opens (appends to) the audit file; rejects with a ConfigError naming the file when it cannot be written. */
export async function openAuditLog(settings: { file: string; arguments: boolean }, logger: Logger): Promise<AuditLog> {
  const { file } = settings;
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  try {
    await once(stream, 'open');
  } catch (error) {
    throw new ConfigError([
      `audit file (--audit or PROXY_AUDIT_FILE): cannot write ${file} (${(error as Error).message})`,
    ]);
  }
  let failed = false;
  stream.on('error', (error) => {
    if (failed) return;
    failed = true;
    logger.warn(`audit file ${file}: ${error.message}; auditing stopped`);
  });
  // One write per turn of the event loop: a burst of calls ending together is one write.
  let pending = '';
  const flush = () => {
    const chunk = pending;
    pending = '';
    if (chunk !== '' && !failed && !stream.writableEnded) stream.write(chunk);
  };
  return {
    listener: (end) => {
      if (failed) return;
      if (pending === '') setImmediate(flush);
      pending += `${JSON.stringify(toAuditLine(end, settings.arguments))}\n`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        flush();
        if (failed) stream.destroy();
        if (failed || stream.closed || stream.writableEnded) resolve();
        else stream.end(() => resolve());
      }),
  };
}
