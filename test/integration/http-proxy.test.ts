/**
 * Corporate networks: HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case) route upstream and OAuth requests through a
 * forward proxy. The proxy here is a real one on 127.0.0.1 that takes absolute-form requests only and resolves the
 * reserved `.test` names to 127.0.0.1 itself: a request for `upstream.test` that succeeds went through it, since
 * nothing else here can resolve that name.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readHttpProxySettings } from '../../src/config/index.js';
import { UpstreamError } from '../../src/errors/index.js';
import { discoverServerInfo } from '../../src/oauth/discovery.js';
import { createLogger } from '../../src/observe/log.js';
import { NO_CLIENT } from '../../src/upstream/bridge.js';
import { connectSse, connectStreamableHttp } from '../../src/upstream/connect.js';
import { closeHttpAgent, upstreamFetch, useHttpProxy } from '../../src/upstream/http.js';
import { startOAuthUpstream } from '../fixtures/oauth-upstream.js';
import { startUpstream, type UpstreamKind } from '../fixtures/upstreams.js';

const silent = createLogger({ debug: false, write: () => {} });
const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'];

const cleanups: Array<() => Promise<void>> = [];

/** Sets a variable and gives the HTTP agent the proxy settings config reads from the environment then, as at start. */
function stubEnv(name: string, value: string): void {
  vi.stubEnv(name, value);
  useHttpProxy(readHttpProxySettings(process.env));
}

beforeEach(async () => {
  // Whatever the developer's shell has set, each test starts with no proxy; the agent reads them when it is built.
  for (const name of PROXY_VARIABLES) stubEnv(name, '');
  await closeHttpAgent();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
  useHttpProxy({});
  await closeHttpAgent();
});

interface ForwardProxy {
  url: string;
  /** `METHOD absolute-url` of every request it forwarded, and `CONNECT host:port` of every tunnel asked for. */
  seen: string[];
  /** The Proxy-Authorization header of every request, when there was one. */
  credentials: string[];
}

/** A forward proxy on 127.0.0.1: absolute-form requests for `*.test` hosts go to 127.0.0.1, streamed both ways. */
async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const credentials: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = URL.canParse(req.url ?? '') ? new URL(req.url ?? '') : undefined;
    if (!target?.hostname.endsWith('.test')) return void res.writeHead(400).end('absolute-form, *.test only\n');
    const { 'proxy-authorization': proxyAuthorization, 'proxy-connection': _, ...headers } = req.headers;
    if (proxyAuthorization) credentials.push(proxyAuthorization);
    const forwarded = httpRequest(
      { host: '127.0.0.1', port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // At once, as a proxy does: an SSE stream's headers come long before its first event.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.destroy());
    // The client went away (an SSE stream closed): so does the stream to the upstream.
    res.on('close', () => forwarded.destroy());
    req.pipe(forwarded);
  });
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, credentials };
}

async function fixture(kind: UpstreamKind = 'streamable-http') {
  const upstream = await startUpstream({ kind, name: 'behind-proxy', tools: ['echo'] });
  cleanups.push(() => upstream.close());
  return upstream;
}

/** Connects, lists and calls `echo`, then closes; the answer shows the whole session worked. */
async function echoThrough(url: URL, transport: 'http' | 'sse' = 'http'): Promise<string> {
  const connect = transport === 'http' ? connectStreamableHttp : connectSse;
  const connection = await connect({ name: 'corp', url, headers: {}, bridge: NO_CLIENT, logger: silent });
  try {
    const { tools } = await connection.listCatalog();
    expect(tools.map((tool) => tool.name)).toEqual(['echo']);
    const outcome = await connection.request({
      method: 'tools/call',
      params: { name: 'echo', arguments: { text: 'via proxy' } },
      label: 'tools/call "echo"',
      timeoutMs: 10_000,
    });
    if (outcome.type !== 'result') throw new Error(`echo failed: ${JSON.stringify(outcome)}`);
    return JSON.stringify(outcome.result.content);
  } finally {
    await connection.close();
  }
}

async function connectFailure(url: URL): Promise<UpstreamError> {
  const error = await connectStreamableHttp({ name: 'corp', url, headers: {}, bridge: NO_CLIENT, logger: silent }).then(
    async (connection) => {
      await connection.close();
      throw new Error('connected, expected a failure');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** The fixture's endpoint under a name only the forward proxy resolves. */
const viaName = (url: URL, host = 'upstream.test') => new URL(`http://${host}:${url.port}${url.pathname}`);

describe('HTTP_PROXY', () => {
  it.each(['HTTP_PROXY', 'http_proxy'])('%s: an http:// upstream is reached through the proxy', async (variable) => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv(variable, proxy.url);
    const url = viaName(upstream.url);
    expect(await echoThrough(url)).toContain('via proxy');
    expect(proxy.seen).toContain(`POST ${url.href}`);
    // Every request the upstream got came through the proxy, in absolute form (no CONNECT tunnel for http://).
    expect(proxy.seen.filter((line) => line.startsWith('CONNECT'))).toEqual([]);
    expect(proxy.seen.length).toBeGreaterThanOrEqual(upstream.counters.httpRequests);
  });

  it('carries the legacy SSE transport too: its long GET stream and its POSTs', async () => {
    const proxy = await startForwardProxy();
    const upstream = await fixture('sse');
    stubEnv('HTTP_PROXY', proxy.url);
    expect(await echoThrough(viaName(upstream.url), 'sse')).toContain('via proxy');
    expect(proxy.seen).toContain(`GET ${viaName(upstream.url).href}`);
    expect(proxy.seen.some((line) => line.startsWith('POST http://upstream.test:'))).toBe(true);
  });

  it('a proxy given without a scheme is http://; credentials in it go to the proxy as Proxy-Authorization', async () => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv('HTTP_PROXY', `user:s3cret@${new URL(proxy.url).host}`);
    expect(await echoThrough(viaName(upstream.url))).toContain('via proxy');
    expect(proxy.credentials.length).toBeGreaterThan(0);
    expect(new Set(proxy.credentials)).toEqual(new Set([`Basic ${Buffer.from('user:s3cret').toString('base64')}`]));
  });

  it('a proxy variable that is no URL fails each connect with a message that names it, not its value', async () => {
    stubEnv('HTTPS_PROXY', 'http://user:s3cret@[bad');
    const error = await connectFailure(new URL('http://upstream.test:1/mcp'));
    expect(error.kind).toBe('network');
    expect(error.message).toContain('HTTPS_PROXY');
    expect(error.message).not.toContain('s3cret');
  });

  it('OAuth discovery goes through the proxy as well', async () => {
    const proxy = await startForwardProxy();
    const oauth = await startOAuthUpstream({ kinds: ['streamable-http'] });
    cleanups.push(() => oauth.close());
    stubEnv('HTTP_PROXY', proxy.url);
    const info = await discoverServerInfo(viaName(oauth.mcpUrl, 'mcp.test'), {
      fetchFn: upstreamFetch,
      onIssuerAccepted: () => {},
    });
    expect(info.authorizationServerMetadata?.issuer).toBe(oauth.issuer);
    expect(proxy.seen).toContain(`GET http://mcp.test:${oauth.mcpUrl.port}/.well-known/oauth-protected-resource/mcp`);
  });
});

describe('NO_PROXY', () => {
  // Without the proxy nothing resolves `upstream.test`: the connect fails, and the proxy has seen nothing.
  it.each([
    ['NO_PROXY', 'upstream.test'],
    ['no_proxy', 'upstream.test'],
    ['NO_PROXY', 'example.com, .test'],
    ['NO_PROXY', '*'],
  ])('%s=%s: the upstream is contacted directly', async (variable, value) => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv('HTTP_PROXY', proxy.url);
    stubEnv(variable, value);
    // Whatever the local resolver makes of the name, it is not the fixture, and not through the proxy.
    await connectFailure(viaName(upstream.url));
    expect(proxy.seen).toEqual([]);
    expect(upstream.counters.httpRequests).toBe(0);
  });

  it('a NO_PROXY entry for another host leaves the upstream behind the proxy', async () => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv('HTTP_PROXY', proxy.url);
    stubEnv('NO_PROXY', 'example.com,upstream.test:1');
    expect(await echoThrough(viaName(upstream.url))).toContain('via proxy');
    expect(proxy.seen.length).toBeGreaterThan(0);
  });

  it.each(['127.0.0.1', 'localhost'])('loopback (%s) is never proxied: the proxy could not reach it', async (host) => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv('HTTP_PROXY', proxy.url);
    stubEnv('NO_PROXY', 'example.com');
    const url = new URL(upstream.url);
    url.hostname = host;
    expect(await echoThrough(url)).toContain('via proxy');
    expect(proxy.seen).toEqual([]);
    expect(upstream.counters.httpRequests).toBeGreaterThan(0);
  });
});

describe('HTTPS_PROXY', () => {
  it('is for https:// only: an http:// upstream is contacted directly', async () => {
    const proxy = await startForwardProxy();
    const upstream = await fixture();
    stubEnv('HTTPS_PROXY', proxy.url);
    await connectFailure(viaName(upstream.url));
    expect(proxy.seen).toEqual([]);
  });

  it('tunnels https:// with CONNECT', async () => {
    const proxy = await startForwardProxy();
    stubEnv('https_proxy', proxy.url);
    // The proxy refuses the tunnel: the point is that it was asked for one, for this host and port.
    const error = await connectFailure(new URL('https://secure.test:8443/mcp'));
    expect(error.kind).toBe('network');
    expect(proxy.seen).toEqual(['CONNECT secure.test:8443']);
  });
});
