/**
 * The first list never holds the client up: answered from each upstream's saved catalog, bounded by the startup
 * wait when there is none, and followed by list_changed when the client gave up on it (as Claude Code does at 30 s).
 * An upstream that accepts connections and never answers is the counterpart nobody's fixture is kind about.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtocolError } from '@modelcontextprotocol/client';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CATALOG } from '../../src/catalog/index.js';
import { CATALOG_FILE, CatalogStore } from '../../src/catalog/persisted.js';
import { loadConfig, readOAuthSettings } from '../../src/config/index.js';
import { createLogger } from '../../src/observe/log.js';
import { startProxy } from '../../src/proxy.js';
import { startEverything } from '../fixtures/everything.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { listDirect } from '../helpers/direct.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

/** Accepts TCP connections and never answers a byte: a hung upstream. */
async function startSilentServer(): Promise<{ url: URL; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const names = (tools: Array<{ name: string }>) => tools.map((tool) => tool.name).sort();

describe('the first list', () => {
  let tokenDir: string;
  let healthy: UpstreamFixture;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  const proxies: TestProxy[] = [];

  beforeEach(async () => {
    tokenDir = await mkdtemp(join(tmpdir(), 'proxy-first-list-'));
    healthy = await startUpstream({ kind: 'streamable-http', name: 'healthy', tools: ['echo', 'add'] });
    silent = await startSilentServer();
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all([healthy.close(), silent.close()]);
    await rm(tokenDir, { recursive: true, force: true });
  });

  const start = async (...args: Parameters<typeof startTestProxy>) => {
    const proxy = await startTestProxy(...args);
    proxies.push(proxy);
    return proxy;
  };

  it('saves each upstream catalog beside its tokens, private to the user', async () => {
    const first = await start([{ name: 'healthy', url: healthy.url }], {
      catalogCache: true,
      env: { PROXY_TOKEN_DIR: tokenDir },
    });
    expect(names((await first.client.listTools()).tools)).toEqual(['add', 'echo']);
    await first.close();
    proxies.length = 0;

    const path = join(tokenDir, 'healthy', CATALOG_FILE);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(path, 'utf8'));
    expect(saved.catalog.tools.map((tool: { name: string }) => tool.name)).toEqual(['echo', 'add']);
    // The fingerprint is a hash: the file holds no header value.
    expect(saved.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers at once from the saved catalog of an upstream that never answers', async () => {
    const upstreams = [
      { name: 'healthy', url: healthy.url },
      { name: 'hung', url: silent.url, timeoutMs: 1_000 },
    ];
    // What an earlier session saved for the hung upstream, for this very configuration.
    const [, hungConfig] = (
      await loadConfig({
        env: {
          ENABLE_ADDITIONAL_TOOLS: 'proxy',
          PROXY_UPSTREAMS: JSON.stringify(upstreams.map(({ name, url }) => ({ name, url: url.href }))),
        },
      })
    ).upstreams;
    const store = new CatalogStore({ root: tokenDir, upstream: hungConfig!, onWarning: () => {} });
    store.save({ ...EMPTY_CATALOG, tools: [{ name: 'hung_search', inputSchema: { type: 'object' } }] });
    await store.flushed();

    // A startup wait far longer than this test may run: only the saved catalog can answer in time.
    const proxy = await start(upstreams, {
      catalogCache: true,
      startupTimeoutMs: 120_000,
      env: { PROXY_TOKEN_DIR: tokenDir },
    });
    // The healthy upstream has no saved catalog: the list waits for it, not for the hung one.
    expect(names((await proxy.client.listTools()).tools)).toEqual(['add', 'echo', 'hung_search']);
    // A call to the saved tool waits for its upstream (its timeout_ms) and says which one.
    const result = await proxy.client.callTool({ name: 'hung_search', arguments: {} });
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/upstream \\"hung\\" is not connected/);
  });

  it('without a saved catalog, answers after the startup wait with the upstreams that are up', async () => {
    const proxy = await start(
      [
        { name: 'healthy', url: healthy.url },
        { name: 'hung', url: silent.url },
      ],
      { startupTimeoutMs: 1_000 },
    );
    expect(names((await proxy.client.listTools()).tools)).toEqual(['add', 'echo']);
  });

  it('tells the client the list changed once it is complete, when the client gave up on it', async () => {
    const proxy = await start(
      [
        { name: 'healthy', url: healthy.url },
        { name: 'hung', url: silent.url },
      ],
      { startupTimeoutMs: 2_000 },
    );
    // The client cancels its list before the proxy can answer it (Claude Code does so at 30 s).
    const abandoned = new AbortController();
    const listing = proxy.client.listTools(undefined, { signal: abandoned.signal }).catch((error) => error);
    setTimeout(() => abandoned.abort('the client gave up'), 200);
    expect(await listing).toBeInstanceOf(Error);
    expect(proxy.listChanged()).toBe(0);
    await eventually(() => proxy.listChanged() > 0, 10_000);
    expect(names((await proxy.client.listTools()).tools)).toEqual(['add', 'echo']);
  });

  it('follows a saved catalog that differs from the live one with list_changed, and drops what is gone', async () => {
    const first = await start([{ name: 'healthy', url: healthy.url }], {
      catalogCache: true,
      env: { PROXY_TOKEN_DIR: tokenDir },
    });
    await first.client.listTools();
    await first.close();
    proxies.length = 0;

    healthy.setTools('echo', 'subtract');
    const second = await start([{ name: 'healthy', url: healthy.url }], {
      catalogCache: true,
      env: { PROXY_TOKEN_DIR: tokenDir },
    });
    const before = names((await second.client.listTools()).tools);
    // Answered from the saved catalog, or from the live one if it was quicker: never a mix.
    expect([
      ['add', 'echo'],
      ['echo', 'subtract'],
    ]).toContainEqual(before);
    await second.waitForState('healthy', 'connected.ready.idle');
    if (before.includes('add')) await eventually(() => second.listChanged() > 0);
    expect(names((await second.client.listTools()).tools)).toEqual(['echo', 'subtract']);
    const gone = await second.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }).catch((error) => error);
    expect(gone).toBeInstanceOf(ProtocolError);
    expect((gone as ProtocolError).message).toMatch(/Unknown tool/);
  });

  it('with PROXY_CATALOG_CACHE=0, saves nothing', async () => {
    const proxy = await start([{ name: 'healthy', url: healthy.url }], {
      catalogCache: false,
      env: { PROXY_TOKEN_DIR: tokenDir },
    });
    await proxy.client.listTools();
    await proxy.close();
    proxies.length = 0;
    await expect(stat(join(tokenDir, 'healthy', CATALOG_FILE))).rejects.toThrow(/ENOENT/);
  });
});

describe('status before the client has initialized', () => {
  it('shows the chart state waitingForClient, not a state no chart has', async () => {
    const config = await loadConfig({
      env: { ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: '[{"name": "a", "url": "http://127.0.0.1:9/mcp"}]' },
    });
    const [, serverTransport] = InMemoryTransport.createLinkedPair();
    const tokenDir = await mkdtemp(join(tmpdir(), 'proxy-status-'));
    const proxy = await startProxy({
      config: {
        ...config,
        catalogCache: false,
        oauth: readOAuthSettings({ PROXY_TOKEN_DIR: tokenDir, BROWSER: 'none' }),
      },
      logger: createLogger({ debug: false, write: () => {} }),
      transport: serverTransport,
    });
    try {
      expect(proxy.status().upstreams.map((upstream) => upstream.state)).toEqual(['waitingForClient']);
    } finally {
      await proxy.stop();
      await rm(tokenDir, { recursive: true, force: true });
    }
  });
});

describe('the first list from a saved catalog of server-everything', () => {
  it('is what the server listed, answered while the server is down', async () => {
    const tokenDir = await mkdtemp(join(tmpdir(), 'proxy-first-list-everything-'));
    const everything = await startEverything('streamableHttp');
    const upstreams = [{ name: 'everything', url: everything.url, transport: 'http' as const, timeoutMs: 1_000 }];
    const options = { catalogCache: true, env: { PROXY_TOKEN_DIR: tokenDir } };
    try {
      const direct = await listDirect(everything.url, 'http');
      const first = await startTestProxy(upstreams, options);
      const listed = (await first.client.listTools()).tools;
      const resourcesListed = (await first.client.listResources()).resources;
      await first.close();
      expect(listed).toEqual(direct);
      await everything.close();

      // The server is gone; the list still shows every tool it had, as it had them, and calls say it is down.
      const second = await startTestProxy(upstreams, { ...options, startupTimeoutMs: 120_000 });
      try {
        expect((await second.client.listTools()).tools).toEqual(direct);
        expect((await second.client.listResources()).resources).toEqual(resourcesListed);
        const call = await second.client.callTool({ name: 'echo', arguments: { message: 'x' } });
        expect(call.isError).toBe(true);
        expect(JSON.stringify(call.content)).toMatch(/upstream \\"everything\\"/);
      } finally {
        await second.close();
      }
    } finally {
      await everything.close();
      await rm(tokenDir, { recursive: true, force: true });
    }
  }, 60_000);
});
