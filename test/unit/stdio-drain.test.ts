/**
 * The client stdio transport and the shutdown supervisor over real in-memory streams, with a server that answers
 * some requests and never others: what is still open at the drain deadline gets the shutdown error, a cancelled
 * request gets nothing, and a late real answer is not sent twice. (The e2e tests in test/e2e/lifecycle.test.ts run
 * the same code in the built bin; a deadline can't be reached there without waiting for a real call's timeout.)
 */
import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { drainDeadlineMs, superviseShutdown } from '../../src/server/drain.js';
import { OpenRequests } from '../../src/server/open-requests.js';
import { createStdioTransport } from '../../src/server/stdio.js';

const disposers: Array<() => void> = [];
afterEach(() => {
  for (const dispose of disposers.splice(0)) dispose();
});

/** A transport over in-memory stdin/stdout, a server that answers `ping` only, and the supervisor installed. */
async function startSession(drainDeadline: number) {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const written: Array<Record<string, unknown>> = [];
  let text = '';
  stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) written.push(JSON.parse(line));
  });
  const logLines: string[] = [];
  const logger = createLogger({ debug: false, write: (line) => logLines.push(line) });
  const transport = createStdioTransport({ stdin, stdout, warn: (line) => logger.warn(line) });
  transport.onmessage = (message) => {
    if ('method' in message && message.method === 'ping' && 'id' in message) {
      void transport.send({ jsonrpc: '2.0', id: message.id, result: {} });
    }
  };
  await transport.start();
  const events: string[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => {
    exited = resolve;
  });
  disposers.push(
    superviseShutdown({
      transport,
      logger,
      drainDeadlineMs: drainDeadline,
      stdout,
      stop: async () => {
        events.push('stop');
        await transport.close();
      },
      exit: (code) => {
        events.push(`exit ${code}`);
        exited(code);
      },
    }),
  );
  const send = (message: object | string) =>
    stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  return { stdin, written, logLines, transport, events, exit, send };
}

describe('the end of stdin', () => {
  it('answers what is still open at the deadline with -32603, skips cancelled requests, then stops and exits', async () => {
    const session = await startSession(50);
    session.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    session.send({ jsonrpc: '2.0', id: 'never', method: 'tools/call', params: { name: 'x' } });
    session.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'y' } });
    session.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3 } });
    // A 2026-07-28 subscription is answered by the SDK when the connection is torn down, not waited for.
    session.send({ jsonrpc: '2.0', id: 4, method: 'subscriptions/listen', params: {} });
    session.stdin.end();

    expect(await session.exit).toBe(0);
    expect(session.events).toEqual(['stop', 'exit 0']);
    expect(session.written).toEqual([
      { jsonrpc: '2.0', id: 1, result: {} },
      {
        jsonrpc: '2.0',
        id: 'never',
        error: {
          code: -32603,
          message: 'Proxy shutting down: input ended (stdin closed) before this request was answered',
        },
      },
    ]);
    expect(session.logLines).toContain(
      '[mcp-upstream-proxy] stdin ended with 1 request(s) still running; answering them first (at most 1 s)',
    );
  });

  it('stops as soon as the last open request is answered, before any deadline', async () => {
    const session = await startSession(60_000);
    session.send({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'x' } });
    session.stdin.end();
    await new Promise((resolve) => setImmediate(resolve));
    expect(session.events).toEqual([]);
    await session.transport.send({ jsonrpc: '2.0', id: 7, result: { content: [] } });
    expect(await session.exit).toBe(0);
    expect(session.written).toEqual([{ jsonrpc: '2.0', id: 7, result: { content: [] } }]);
  });
});

describe('a line without end', () => {
  it('ends the input past 10 MB (as the SDK reader does), still answering what came before', async () => {
    const session = await startSession(60_000);
    session.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    // In pieces, as a pipe delivers it; the newline never comes.
    const piece = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 11; i++) session.stdin.write(piece);

    expect(await session.exit).toBe(0);
    expect(session.written).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
    expect(session.logLines).toContain(
      '[mcp-upstream-proxy] warning: stdin line 2 is longer than 10485760 bytes; reading no more',
    );
  });
});

describe('OpenRequests', () => {
  it('drops a real answer that comes after the proxy answered the request itself', () => {
    const requests = new OpenRequests();
    const answer: JSONRPCMessage = { jsonrpc: '2.0', id: 5, result: {} };
    requests.received({ jsonrpc: '2.0', id: 5, method: 'tools/call' });
    expect(requests.mayWrite(answer)).toBe(true);
    expect(requests.takeAll()).toEqual([5]);
    expect(requests.mayWrite(answer)).toBe(false);
    expect(requests.size).toBe(0);
  });

  it('tells 1 from "1"', () => {
    const requests = new OpenRequests();
    requests.received({ jsonrpc: '2.0', id: 1, method: 'ping' });
    requests.written({ jsonrpc: '2.0', id: '1', result: {} });
    expect(requests.size).toBe(1);
  });
});

describe('drainDeadlineMs', () => {
  it('is the startup wait plus the longest call timeout, plus a margin for the proxy to answer first', () => {
    const upstream = (timeoutMs: number) => ({ timeoutMs }) as Parameters<typeof drainDeadlineMs>[0]['upstreams'][0];
    expect(drainDeadlineMs({ startupTimeoutMs: 5_000, upstreams: [upstream(60_000), upstream(90_000)] })).toBe(96_000);
    expect(drainDeadlineMs({ startupTimeoutMs: 5_000, upstreams: [] })).toBe(6_000);
  });
});
