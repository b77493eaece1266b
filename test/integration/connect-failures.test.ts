/**
 * The failure classifier against the errors the SDK really throws, from real servers on 127.0.0.1 that misbehave
 * in one way each: every failure must come out with the kind the statechart acts on (src/errors), a stable
 * code, and a message that names the upstream and never shows the URL's query string.
 *
 * Not here: a server that accepts and never answers. It ends in ERR_UPSTREAM_CONNECT_TIMEOUT after
 * CONNECT_TIMEOUT_MS (30 s), too slow for this suite; the startup test in resilience.test.ts covers the proxy side.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProtocolError, ProtocolErrorCode, SSEClientTransport } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConnection } from '../../machines/types.js';
import { type FailureKind, UpstreamError } from '../../src/errors/index.js';
import { createLogger } from '../../src/observe/log.js';
import { NO_CLIENT } from '../../src/upstream/bridge.js';
import { type ConnectTarget, connectSse, connectStreamableHttp } from '../../src/upstream/connect.js';
import { eventually, startTestProxy } from '../helpers/proxy.js';

const silent = createLogger({ debug: false, write: () => {} });

const SECRET = 'secret-value';
/** How long an SSE stream left open would take to show its reconnects, with the servers' `retry: 50`. */
const LINGER_WINDOW_MS = 1_500;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LoopbackServer {
  readonly port: number;
  readonly origin: string;
  /** Every request received, in order. */
  readonly requests: Array<{ method: string; path: string }>;
  count(method: string): number;
}

/** A real HTTP server on 127.0.0.1, port 0, that records every request before `handler` answers it. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, self: LoopbackServer) => void) {
  const requests: LoopbackServer['requests'] = [];
  const self: LoopbackServer = {
    port: 0,
    origin: '',
    requests,
    count: (method) => requests.filter((request) => request.method === method).length,
  };
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '' });
    handler(req, res, self);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return Object.assign(self, { port, origin: `http://127.0.0.1:${port}` });
}

/** A port nothing listens on: bind one, then let it go (port 1 would be refused by fetch as a "bad port"). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Connect = (target: ConnectTarget) => Promise<UpstreamConnection>;

async function connectFailure(connect: Connect, url: URL): Promise<UpstreamError> {
  const outcome = await connect({ name: 'acme', url, headers: {}, bridge: NO_CLIENT, logger: silent }).then(
    async (connection) => {
      await connection.close();
      return new Error(`connected to ${url.origin}, expected a failure`);
    },
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(UpstreamError);
  return outcome as UpstreamError;
}

/** Names the upstream, keeps secrets out. */
function expectSafeMessage(error: UpstreamError): void {
  expect(error.message).toContain('upstream "acme"');
  expect(error.message).not.toContain(SECRET);
  expect(error.message).not.toContain('?');
}

/** A legacy SSE stream, written by hand: `retry: 50` (fast reconnects if the client left it open), then `frames`. */
function sseStream(res: ServerResponse, frames: string, end: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(`retry: 50\n\n${frames}`);
  if (end) res.end();
}

const endpointFrame = (endpoint: string) => `event: endpoint\ndata: ${endpoint}\n\n`;

const TRANSPORTS: Array<{ transport: string; connect: Connect; method: string }> = [
  { transport: 'Streamable HTTP', connect: connectStreamableHttp, method: 'POST' },
  { transport: 'SSE', connect: connectSse, method: 'GET' },
];

const BEHAVIOURS: Array<{
  behaviour: string;
  respond: (res: ServerResponse) => void;
  kind: FailureKind;
  code: string;
}> = [
  {
    behaviour: '401 with WWW-Authenticate: Bearer',
    respond: (res) => res.writeHead(401, { 'www-authenticate': 'Bearer' }).end(),
    kind: 'auth',
    code: 'ERR_UPSTREAM_AUTH_REQUIRED',
  },
  {
    behaviour: '400',
    respond: (res) => res.writeHead(400).end(),
    kind: 'fallback',
    code: 'ERR_UPSTREAM_TRANSPORT_REFUSED',
  },
  {
    behaviour: '404',
    respond: (res) => res.writeHead(404).end(),
    kind: 'fallback',
    code: 'ERR_UPSTREAM_TRANSPORT_REFUSED',
  },
  {
    behaviour: '405',
    respond: (res) => res.writeHead(405, { allow: 'GET' }).end(),
    kind: 'fallback',
    code: 'ERR_UPSTREAM_TRANSPORT_REFUSED',
  },
  {
    behaviour: '403',
    respond: (res) => res.writeHead(403).end(),
    kind: 'permanent',
    code: 'ERR_UPSTREAM_FORBIDDEN',
  },
  {
    behaviour: '500',
    respond: (res) => res.writeHead(500).end('internal error'),
    kind: 'network',
    code: 'ERR_UPSTREAM_HTTP',
  },
  {
    behaviour: '200 text/html',
    respond: (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><p>Welcome</p>'),
    kind: 'fallback',
    code: 'ERR_UPSTREAM_NOT_MCP',
  },
  {
    behaviour: '200 application/json that is not JSON-RPC',
    respond: (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'),
    kind: 'fallback',
    code: 'ERR_UPSTREAM_NOT_MCP',
  },
];

describe.each(TRANSPORTS)('connecting over $transport', ({ transport, connect, method }) => {
  it.each(BEHAVIOURS)('$behaviour → $kind / $code', async ({ respond, kind, code }) => {
    const server = await serve((_req, res) => respond(res));
    const url = new URL(`${server.origin}/mcp?key=${SECRET}`);
    const error = await connectFailure(connect, url);
    expect({ kind: error.kind, code: error.code }).toEqual({ kind, code });
    expectSafeMessage(error);
    expect(error.message).toContain(`${transport} at ${server.origin}/mcp`);
    // The answer came from this server, to the request that opens this transport.
    expect(server.requests[0]?.method).toBe(method);
  });

  it('connection refused → network / ERR_UPSTREAM_UNREACHABLE (ECONNREFUSED)', async () => {
    const url = new URL(`http://127.0.0.1:${await refusedPort()}/mcp?key=${SECRET}`);
    const error = await connectFailure(connect, url);
    expect({ kind: error.kind, code: error.code }).toEqual({ kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE' });
    expectSafeMessage(error);
    expect(error.message).toContain('(ECONNREFUSED)');
  });

  it('connection refused: the failure carries the bare cause in `reason`', async () => {
    const url = new URL(`http://127.0.0.1:${await refusedPort()}/mcp`);
    const error = await connectFailure(connect, url);
    expect(error.reason).toBe('ECONNREFUSED');
  });
});

describe('connecting over SSE to a stream that ends before its endpoint event', () => {
  it('is a network failure (retrying may fix it)', async () => {
    const server = await serve((_req, res) => sseStream(res, ': nothing yet\n\n', true));
    const error = await connectFailure(connectSse, new URL(`${server.origin}/sse?key=${SECRET}`));
    expect({ kind: error.kind, code: error.code }).toEqual({ kind: 'network', code: 'ERR_UPSTREAM_UNREACHABLE' });
    expectSafeMessage(error);
  });

  // The SDK's SseError for a stream that closed normally has no code and the message "SSE error: undefined".
  it('says what happened rather than "undefined"', async () => {
    const server = await serve((_req, res) => sseStream(res, '', true));
    const error = await connectFailure(connectSse, new URL(`${server.origin}/sse`));
    expect(error.message).not.toMatch(/undefined/);
  });
});

const FOREIGN_ENDPOINTS: Array<{ where: string; endpoint: (sse: LoopbackServer, foreign: LoopbackServer) => string }> =
  [
    { where: 'another port', endpoint: (_sse, foreign) => `${foreign.origin}/messages?sessionId=s1` },
    // The very same server under another host name: still another origin.
    { where: 'another host name', endpoint: (sse) => `http://localhost:${sse.port}/messages?sessionId=s1` },
  ];

describe.each(FOREIGN_ENDPOINTS)('SSE endpoint on $where', ({ endpoint }) => {
  /** An SSE server whose endpoint event points elsewhere; the stream stays open. Anything the client POSTs is counted. */
  async function foreignEndpointServers() {
    const foreign = await serve((_req, res) => res.writeHead(202).end());
    const sse = await serve((req, res, self) => {
      if (req.method === 'GET') sseStream(res, endpointFrame(endpoint(self, foreign)), false);
      else res.writeHead(202).end();
    });
    return { sse, foreign, posts: () => sse.count('POST') + foreign.count('POST') };
  }

  it('connectSse → permanent / ERR_UPSTREAM_SSE_ORIGIN, and nothing is sent there', async () => {
    const { sse, foreign, posts } = await foreignEndpointServers();
    const error = await connectFailure(connectSse, new URL(`${sse.origin}/sse?key=${SECRET}`));
    expect({ kind: error.kind, code: error.code }).toEqual({ kind: 'permanent', code: 'ERR_UPSTREAM_SSE_ORIGIN' });
    expectSafeMessage(error);
    expect(sse.count('GET')).toBe(1);
    expect(posts()).toBe(0);
    expect(foreign.requests).toEqual([]);
  });

  it('through the proxy: the upstream fails for good, exposes no tools, and is never called', async () => {
    const { sse, posts } = await foreignEndpointServers();
    const test = await startTestProxy([
      { name: 'elsewhere', url: `${sse.origin}/sse?key=${SECRET}`, transport: 'sse' },
    ]);
    cleanups.push(() => test.close());
    // The failure may come before the waiter is set up: look in the transitions first (same tick, no gap).
    const reached = (state: string) => test.transitions.some((t) => t.actor === 'elsewhere' && t.state === state);
    if (!reached('failed')) await test.waitForState('elsewhere', 'failed');

    expect((await test.client.listTools()).tools).toEqual([]);
    const call = await test.client
      .callTool({ name: 'echo', arguments: { text: 'x' } })
      .catch((error: unknown) => error);
    expect(call).toBeInstanceOf(ProtocolError);
    expect((call as ProtocolError).code).toBe(ProtocolErrorCode.InvalidParams);

    expect(posts()).toBe(0);
    expect(sse.count('GET')).toBe(1);
    const states = test.transitions.filter((t) => t.actor === 'elsewhere').map((t) => t.state);
    expect(states).toEqual(['waitingForClient', 'connecting.sse', 'failed']);
    const failure = test.logs.find((line) => line.includes('failed') && line.includes('upstream "elsewhere"'));
    expect(failure).toMatch(/another origin/);
    for (const line of test.logs) expect(line).not.toContain(SECRET);
  });
});

describe('a failed SSE connect closes what it opened', () => {
  // Each server sends `retry: 50` and then ends its stream: an EventSource left open reconnects every 50 ms.
  const FAILURES: Array<{ failure: string; frames: (server: LoopbackServer) => string; code: string }> = [
    { failure: 'the stream ends before its endpoint event', frames: () => '', code: 'ERR_UPSTREAM_UNREACHABLE' },
    {
      failure: 'the endpoint is on another origin',
      frames: (server) => endpointFrame(`http://localhost:${server.port}/messages?sessionId=s1`),
      code: 'ERR_UPSTREAM_SSE_ORIGIN',
    },
  ];

  it.each(FAILURES)('$failure: no reconnect after the failure', async ({ frames, code }) => {
    const server = await serve((_req, res, self) => sseStream(res, frames(self), true));
    const error = await connectFailure(connectSse, new URL(`${server.origin}/sse`));
    expect(error.code).toBe(code);
    const getsAtFailure = server.count('GET');
    expect(getsAtFailure).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, LINGER_WINDOW_MS));
    expect(server.count('GET')).toBe(getsAtFailure);
  });

  it('control: an SDK SSE transport left open does reconnect within that window', async () => {
    const server = await serve((_req, res) => sseStream(res, '', true));
    const transport = new SSEClientTransport(new URL(`${server.origin}/sse`));
    cleanups.push(() => transport.close());
    await expect(transport.start()).rejects.toThrow();
    await eventually(() => server.count('GET') >= 3, LINGER_WINDOW_MS);
  });
});

describe('an http-first upstream that neither transport reaches', () => {
  it('fails with one message naming what each transport answered', async () => {
    const server = await serve((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<p>no</p>'));
    const test = await startTestProxy([{ name: 'nowhere', url: `${server.origin}/mcp?key=${SECRET}` }]);
    cleanups.push(() => test.close());
    await test.waitForState('nowhere', 'failed');
    const [status] = test.proxy.status().upstreams;
    expect(status?.lastError?.code).toBe('ERR_UPSTREAM_NO_TRANSPORT');
    expect(status?.lastError?.message).toBe(
      `upstream "nowhere": neither transport answered as MCP: no MCP server over Streamable HTTP at ${server.origin}/mcp (HTTP 404); then no MCP server over SSE at ${server.origin}/mcp (HTTP 404)`,
    );
    expect(status?.lastError?.message).not.toContain(SECRET);
  });
});
