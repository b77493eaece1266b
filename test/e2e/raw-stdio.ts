/**
 * The built bin driven line by line over raw stdio, as a shell pipe or a careless client would: what it writes is
 * collected as parsed JSON-RPC (a line that is not JSON fails the test), stderr as text.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

export interface JsonRpcAnswer {
  jsonrpc: string;
  id?: string | number | null;
  method?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

export interface RawSession {
  child: ChildProcess;
  /** Every message written to stdout so far. */
  messages: JsonRpcAnswer[];
  stderr(): string;
  send(message: object): void;
  /** Writes a line as is (it need not be JSON). */
  sendLine(line: string): void;
  /** Resolves with the answer to `id` (a response, not a request of the proxy's that happens to share it). */
  answer(id: string | number | null): Promise<JsonRpcAnswer>;
  /** Resolves with the exit code once the process has exited and its output is read. */
  exited: Promise<number | null>;
}

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
export const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

/** Only what the proxy needs, so the developer's own PROXY_* or DEBUG variables can't change a test. */
export function cleanEnv(tokenDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PROXY_TOKEN_DIR: tokenDir,
    BROWSER: 'none',
    ...extra,
  };
}

/** `promise`, or a failure if it has not settled after `seconds` (a hang, not a slow machine). */
export function withinSeconds<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

/** Resolves once `condition()` holds, looking every 20 ms. */
export async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}

export function startRawSession(env: Record<string, string>, args: string[] = []): RawSession {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  return attachRawSession(child);
}

/** For a child whose stdin, stdout and stderr are the bin's, whoever spawned the bin itself. */
export function attachRawSession(child: ChildProcess): RawSession {
  const messages: JsonRpcAnswer[] = [];
  const waiters = new Set<() => void>();
  let stdoutText = '';
  let stderrText = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdoutText += chunk.toString();
    const lines = stdoutText.split('\n');
    stdoutText = lines.pop() ?? '';
    for (const line of lines) messages.push(JSON.parse(line) as JsonRpcAnswer);
    for (const waiter of waiters) waiter();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrText += chunk.toString();
  });
  // 'close', not 'exit': by then every byte the process wrote has been read.
  const exited = once(child, 'close').then(([code]) => code as number | null);
  const find = (id: string | number | null) => messages.find((m) => m.id === id && m.method === undefined);
  return {
    child,
    messages,
    stderr: () => stderrText,
    send: (message) => child.stdin?.write(`${JSON.stringify(message)}\n`),
    sendLine: (line) => child.stdin?.write(`${line}\n`),
    answer: (id) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = find(id);
          if (!found) return;
          waiters.delete(check);
          resolve(found);
        };
        waiters.add(check);
        check();
        exited.then(() => {
          if (!find(id)) reject(new Error(`exited without answering id ${id}; stderr:\n${stderrText}`));
        });
      }),
    exited,
  };
}
