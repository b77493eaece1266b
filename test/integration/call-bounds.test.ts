/**
 * How a forwarded call ends, against real upstreams on 127.0.0.1: bounded by max_call_ms even when progress keeps
 * coming, sent again after the reconnect when the upstream refused the connection (it never saw it), and never
 * handing the client a secret the upstream echoed in its error.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ProtocolError } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const textOf = (result: { content?: unknown }) =>
  ((result.content as Array<{ text?: string }> | undefined) ?? []).map((block) => block.text ?? '').join('\n');

/** A plain HTTP front for an upstream: POSTs pass through, GET is 405; it can stop listening and start again. */
async function startFront(target: URL) {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(405, { allow: 'POST, DELETE' }).end();
      return;
    }
    const forwarded = request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) =>
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  await listen();
  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.end();
    await closed;
  };
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    listen,
    stop,
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

describe('a forwarded call', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const upstream = async (
    name: string,
    kind: 'streamable-http' | 'streamable-http-stateless' = 'streamable-http',
  ): Promise<UpstreamFixture> => {
    const fixture = await startUpstream({ kind, name });
    cleanups.push(() => fixture.close());
    return fixture;
  };
  const proxyFor = async (...args: Parameters<typeof startTestProxy>): Promise<TestProxy> => {
    const proxy = await startTestProxy(...args);
    cleanups.push(() => proxy.close());
    return proxy;
  };

  it('ends after max_call_ms even while the upstream keeps sending progress', async () => {
    const fixture = await upstream('chatty');
    const { client } = await proxyFor([{ name: 'chatty', url: fixture.url, timeoutMs: 1_000, maxCallMs: 1_500 }]);
    // 100 progress notifications 100 ms apart: each resets timeout_ms, none resets max_call_ms.
    const result = await client.callTool(
      { name: 'progress', arguments: { steps: 100, delayMs: 100 } },
      { onprogress: () => {}, timeout: 8_000 },
    );
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/upstream "chatty" still ran after 1500 ms \(max_call_ms\)/);
  });

  it('waits for the reconnect when the upstream refused the connection, and is answered then', async () => {
    // A front with no standalone stream (GET is 405): nothing tells the proxy the upstream went away but the call.
    const fixture = await upstream('flaky');
    const front = await startFront(fixture.url);
    cleanups.push(() => front.close());
    const test = await proxyFor([{ name: 'flaky', url: front.url, timeoutMs: 10_000 }]);
    expect((await test.client.callTool({ name: 'echo', arguments: { text: 'before' } })).isError).toBeFalsy();
    await front.stop();
    // Let the closed keep-alive sockets go: the call then opens a new connection, which is refused.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(test.proxy.status().upstreams[0]!.state).toBe('connected.ready.idle');
    const pending = test.client.callTool({ name: 'echo', arguments: { text: 'after' } });
    setTimeout(() => void front.listen(), 300);
    const result = await pending;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('after');
  });

  it('redacts a configured header value the upstream echoes in its error', async () => {
    const fixture = await upstream('echoing');
    const secret = 'sk-live-0123456789abcdef';
    const { client } = await proxyFor([{ name: 'echoing', url: fixture.url, headers: { 'x-api-key': secret } }]);
    const error = await client
      .callTool({ name: 'throw_rpc', arguments: { message: `rejected key ${secret} (Authorization: Bearer abc.def)` } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    const { message } = error as ProtocolError;
    expect(message).not.toContain(secret);
    expect(message).not.toContain('abc.def');
    expect(message).toMatch(/rejected key \[redacted\]/);
  });
});
