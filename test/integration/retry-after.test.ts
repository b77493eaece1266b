/**
 * Retry-After: a 429 or 503 that says when to come back makes the failure carry `retryAfterMs`, whether it came on
 * the requests that open the session or on a list after it. The counterpart is a raw HTTP server on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors/index.js';
import { createLogger } from '../../src/observe/log.js';
import { NO_CLIENT } from '../../src/upstream/bridge.js';
import { type ConnectTarget, connectSse, connectStreamableHttp } from '../../src/upstream/connect.js';
import { MAX_RETRY_AFTER_MS } from '../../src/upstream/http.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<URL> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
}

const target = (url: URL, debug = false): ConnectTarget => ({
  name: 'busy',
  url,
  headers: {},
  bridge: NO_CLIENT,
  logger: createLogger({ debug, write: () => {} }),
});

type Connect = typeof connectStreamableHttp;

async function connectFailure(connect: Connect, url: URL, debug = false): Promise<UpstreamError> {
  const error = await connect(target(url, debug)).then(
    async (connection) => {
      await connection.close();
      throw new Error('connected, expected a failure');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

const TRANSPORTS: Array<{ transport: string; connect: Connect }> = [
  { transport: 'Streamable HTTP', connect: connectStreamableHttp },
  { transport: 'SSE', connect: connectSse },
];

describe.each(TRANSPORTS)('connecting over $transport', ({ connect }) => {
  it('429 with Retry-After: 7 → a network failure with retryAfterMs 7000', async () => {
    const url = await serve((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end('slow down'));
    const error = await connectFailure(connect, url);
    expect({ kind: error.kind, code: error.code, retryAfterMs: error.retryAfterMs }).toEqual({
      kind: 'network',
      code: 'ERR_UPSTREAM_HTTP',
      retryAfterMs: 7000,
    });
    expect(error.message).toContain('HTTP 429');
    expect(error.message).toContain('retry after 7 s');
  });

  it('with DEBUG on too (another fetch wrapper)', async () => {
    const url = await serve((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end());
    expect((await connectFailure(connect, url, true)).retryAfterMs).toBe(7000);
  });

  it('503 with Retry-After as an HTTP date', async () => {
    // A minute ahead, in whole seconds as HTTP dates have (rounded down): at most 60 s from the moment it is read.
    const at = new Date(Date.now() + 60_000);
    const url = await serve((_req, res) => res.writeHead(503, { 'retry-after': at.toUTCString() }).end());
    const error = await connectFailure(connect, url);
    expect(error.code).toBe('ERR_UPSTREAM_HTTP');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it('Retry-After: 0 is kept as 0, and the message has no wait to tell', async () => {
    const url = await serve((_req, res) => res.writeHead(503, { 'retry-after': '0' }).end());
    const error = await connectFailure(connect, url);
    expect(error.retryAfterMs).toBe(0);
    expect(error.message).not.toContain('retry after');
  });

  it('a Retry-After of a day is capped at ten minutes', async () => {
    const url = await serve((_req, res) => res.writeHead(503, { 'retry-after': '86400' }).end());
    expect((await connectFailure(connect, url)).retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it.each([
    ['429 without Retry-After', 429, undefined],
    ['429 with a Retry-After that is neither seconds nor a date', 429, 'soon'],
    ['500 with Retry-After (only 429 and 503 count)', 500, '7'],
  ])('%s → no retryAfterMs', async (_what, status, retryAfter) => {
    const url = await serve((_req, res) =>
      res.writeHead(status, retryAfter === undefined ? {} : { 'retry-after': retryAfter }).end(),
    );
    const error = await connectFailure(connect, url);
    expect(error.code).toBe('ERR_UPSTREAM_HTTP');
    expect(error.retryAfterMs).toBeUndefined();
  });
});

/** A Streamable HTTP server (JSON answers, no sessions) that initializes and then answers `tools/list` with `list`. */
async function serverThatThrottlesLists(list: (res: ServerResponse) => void): Promise<URL> {
  return serve((req, res, body) => {
    if (req.method !== 'POST') return void res.writeHead(405, { allow: 'POST' }).end();
    const message = JSON.parse(body) as { id?: number; method: string; params?: { protocolVersion?: string } };
    if (message.id === undefined) return void res.writeHead(202).end();
    const answer = (payload: object) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, ...payload }));
    if (message.method === 'initialize') {
      return answer({
        result: {
          protocolVersion: message.params?.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'busy', version: '1.0.0' },
        },
      });
    }
    if (message.method === 'tools/list') return list(res);
    answer({ error: { code: -32601, message: 'Method not found' } });
  });
}

describe('listing after connecting', () => {
  it('a tools/list answered 503 with Retry-After: 3 fails with retryAfterMs 3000', async () => {
    const url = await serverThatThrottlesLists((res) => res.writeHead(503, { 'retry-after': '3' }).end());
    const connection = await connectStreamableHttp(target(url));
    cleanups.push(() => connection.close());
    const error = await connection.listCatalog().then(
      () => new Error('listed, expected a failure'),
      (failure: unknown) => failure as UpstreamError,
    );
    expect(error).toMatchObject({ code: 'ERR_UPSTREAM_HTTP', retryAfterMs: 3000 });
    expect(error.message).toContain('upstream "busy"');
  });

  it('a list failing without Retry-After carries none, even after an earlier throttled list', async () => {
    let throttle = true;
    const url = await serverThatThrottlesLists((res) => {
      res.writeHead(throttle ? 429 : 500, throttle ? { 'retry-after': '3' } : {}).end();
      throttle = false;
    });
    const connection = await connectStreamableHttp(target(url));
    cleanups.push(() => connection.close());
    await expect(connection.listCatalog()).rejects.toMatchObject({ retryAfterMs: 3000 });
    const second = (await connection.listCatalog().catch((failure: unknown) => failure)) as UpstreamError;
    expect(second).toMatchObject({ code: 'ERR_UPSTREAM_HTTP' });
    expect(second.retryAfterMs).toBeUndefined();
  });
});
