/**
 * OAuth end to end: the proxy against a real OAuth-protected upstream on 127.0.0.1 (authorization server on
 * another port), with a test browser that follows the redirects to the proxy's loopback callback.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type OAuthUpstreamFixture,
  type StartOAuthUpstreamOptions,
  startOAuthUpstream,
} from '../fixtures/oauth-upstream.js';
import { eventually, startTestProxy, type TestProxy, type TestUpstream } from '../helpers/proxy.js';
import { signInWorkspace, TEST_BROWSER } from '../helpers/sign-in.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function oauthUpstream(options: StartOAuthUpstreamOptions = {}): Promise<OAuthUpstreamFixture> {
  const fixture = await startOAuthUpstream(options);
  cleanups.push(() => fixture.close());
  return fixture;
}

const workspace = () => signInWorkspace('proxy-oauth-', cleanups);

async function proxyFor(upstreams: TestUpstream[], env: Record<string, string>): Promise<TestProxy> {
  const proxy = await startTestProxy(upstreams, { env });
  cleanups.push(() => proxy.close());
  return proxy;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function textOf(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0] as { text: string }).text;
}

describe.each([
  { transport: 'http' as const, url: (fixture: OAuthUpstreamFixture) => fixture.mcpUrl },
  { transport: 'sse' as const, url: (fixture: OAuthUpstreamFixture) => fixture.sseUrl },
])('first sign-in over $transport', ({ transport, url }) => {
  it('opens the browser once, stores the tokens privately, and serves the tools', async () => {
    const fixture = await oauthUpstream();
    const { env, browserRuns } = await workspace();
    const { client, waitForState, logs } = await proxyFor([{ name: 'secure', url: url(fixture), transport }], {
      ...env,
      DEBUG: '1',
    });
    await waitForState('secure', /^connected\.ready/, 15_000);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('echo');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'signed' } }))).toBe('signed');
    expect(await browserRuns()).toBe(1);
    expect(fixture.counters.registrations).toBe(1);
    expect(fixture.counters.authorizations).toBe(1);
    // PKCE and the resource indicator went with the authorization.
    expect(fixture.authorizationRequests[0]?.resource).toBeDefined();

    const dir = join(env.PROXY_TOKEN_DIR, 'secure');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'tokens.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'client-info.json'))).mode & 0o777).toBe(0o600);
    // No secret in any log line, DEBUG included.
    const stored = JSON.parse(await readFile(join(dir, 'tokens.json'), 'utf8'));
    const secrets = [stored.access_token, stored.refresh_token].filter(Boolean) as string[];
    expect(secrets.length).toBe(2);
    for (const secret of secrets) expect(logs.join('\n')).not.toContain(secret);
  });
});

describe('stored tokens', () => {
  it('are reused after a restart with no browser', async () => {
    const fixture = await oauthUpstream();
    const { env, browserRuns } = await workspace();
    const first = await startTestProxy([{ name: 'again', url: fixture.mcpUrl }], { env });
    await first.waitForState('again', /^connected\.ready/, 15_000);
    await first.close();

    const second = await proxyFor([{ name: 'again', url: fixture.mcpUrl }], env);
    await second.waitForState('again', /^connected\.ready/, 15_000);
    expect(textOf(await second.client.callTool({ name: 'echo', arguments: { text: 'back' } }))).toBe('back');
    expect(await browserRuns()).toBe(1);
    expect(fixture.counters.authorizations).toBe(1);
  });

  it('are refreshed ahead of expiry, with no browser', async () => {
    const fixture = await oauthUpstream({ accessTokenTtlSeconds: 2 });
    const { env, browserRuns } = await workspace();
    const { client, waitForState } = await proxyFor([{ name: 'short', url: fixture.mcpUrl }], env);
    await waitForState('short', /^connected\.ready/, 15_000);
    await eventually(() => fixture.counters.refreshes >= 1, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'fresh' } }))).toBe('fresh');
    expect(await browserRuns()).toBe(1);
    expect(fixture.counters.unauthorized401).toBe(1);
  });
});

describe('refused grants', () => {
  it('signs in again when the refresh token is rejected', async () => {
    const fixture = await oauthUpstream();
    const { env, browserRuns } = await workspace();
    const { client, waitForState } = await proxyFor([{ name: 'revoked', url: fixture.mcpUrl }], env);
    await waitForState('revoked', /^connected\.ready/, 15_000);
    fixture.revokeRefreshTokens();
    fixture.revokeAccessTokens();
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await eventually(() => fixture.counters.authorizations === 2, 15_000);
    await waitForState('revoked', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
    expect(await browserRuns()).toBe(2);
    expect(fixture.counters.invalidGrants).toBeGreaterThanOrEqual(1);
  });

  it('registers again when the client was revoked', async () => {
    const fixture = await oauthUpstream();
    const { env } = await workspace();
    const { client, waitForState } = await proxyFor([{ name: 'forgotten', url: fixture.mcpUrl }], env);
    await waitForState('forgotten', /^connected\.ready/, 15_000);
    fixture.revokeClient();
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await eventually(() => fixture.counters.registrations === 2, 15_000);
    await waitForState('forgotten', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
  });
});

describe('client identity', () => {
  it('uses a static client from PROXY_<NAME>_CLIENT_ID/_SECRET and registers nothing', async () => {
    const fixture = await oauthUpstream({
      dynamicRegistration: false,
      staticClients: [{ client_id: 'static-client', client_secret: 'static-secret', redirect_uris: 'any-loopback' }],
    });
    const { env } = await workspace();
    const { client, waitForState, logs } = await proxyFor([{ name: 'my-app', url: fixture.mcpUrl }], {
      ...env,
      // A port of its own: a static client needs its callback on the configured port, which other tests may hold.
      PROXY_OAUTH_CALLBACK_PORT: String(await freePort()),
      PROXY_MY_APP_CLIENT_ID: 'static-client',
      PROXY_MY_APP_CLIENT_SECRET: 'static-secret',
      DEBUG: '1',
    });
    await waitForState('my-app', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'static' } }))).toBe('static');
    expect(fixture.counters.registrations).toBe(0);
    expect(fixture.clientIds()).toContain('static-client');
    expect(logs.join('\n')).not.toContain('static-secret');
  });

  // mcp-devtools users bring clients registered for its redirect, http://localhost:3334/callback.
  it.each([
    { case: "mcp-devtools' localhost redirect by default", host: undefined, path: '/callback', configured: false },
    { case: 'the host PROXY_OAUTH_CALLBACK_HOST names', host: '127.0.0.1', path: '/callback', configured: false },
    {
      case: 'the redirect_uri configured, on its port and path',
      host: '127.0.0.1',
      path: '/oauth/return',
      configured: true,
    },
  ])('returns a static client to $case', async ({ host, path, configured }) => {
    const port = await freePort();
    const redirectUri = `http://${host ?? 'localhost'}:${port}${path}`;
    // Registered for exactly one redirect URI, as a client registered by hand is: any other is refused.
    const fixture = await oauthUpstream({
      dynamicRegistration: false,
      staticClients: [{ client_id: 'devtools-client', redirect_uris: [redirectUri] }],
    });
    const { env } = await workspace();
    const { client, waitForState } = await proxyFor(
      [{ name: 'devtools', url: fixture.mcpUrl, ...(configured && { oauth: { redirectUri: new URL(redirectUri) } }) }],
      {
        ...env,
        // A configured redirect_uri names the port itself.
        ...(!configured && { PROXY_OAUTH_CALLBACK_PORT: String(port) }),
        ...(host && !configured && { PROXY_OAUTH_CALLBACK_HOST: host }),
        PROXY_DEVTOOLS_CLIENT_ID: 'devtools-client',
      },
    );
    await waitForState('devtools', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'back' } }))).toBe('back');
    expect(fixture.counters.authorizations).toBe(1);
  });
});

describe.each([
  { transport: 'http' as const, url: (fixture: OAuthUpstreamFixture) => fixture.mcpUrl },
  { transport: 'sse' as const, url: (fixture: OAuthUpstreamFixture) => fixture.sseUrl },
])('step-up over $transport', ({ transport, url }) => {
  it('signs in again with the wider scope a 403 asks for, and the call then works', async () => {
    const fixture = await oauthUpstream({ requiredScopes: { admin_tool: 'mcp:write' } });
    const { env, browserRuns } = await workspace();
    const { client, waitForState } = await proxyFor([{ name: 'scoped', url: url(fixture), transport }], env);
    await waitForState('scoped', /^connected\.ready/, 15_000);
    expect(fixture.issuedScopes().at(-1)).not.toContain('mcp:write');

    const refused = await client.callTool({ name: 'admin_tool', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/upstream "scoped" needs more permissions/);
    await eventually(() => fixture.counters.authorizations === 2, 15_000);
    await waitForState('scoped', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'admin_tool', arguments: {} }))).toBe('admin_tool: ok');
    expect(fixture.issuedScopes().at(-1)).toEqual(expect.arrayContaining(['mcp:read', 'mcp:write']));
    expect(await browserRuns()).toBe(2);
  });
});

describe('a static client whose callback port is taken', () => {
  it('fails with an error naming the port to free', async () => {
    const fixture = await oauthUpstream({
      dynamicRegistration: false,
      staticClients: [{ client_id: 'static-client', redirect_uris: 'any-loopback' }],
    });
    const { env } = await workspace();
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const { waitForState, logs } = await proxyFor([{ name: 'pinned', url: fixture.mcpUrl }], {
      ...env,
      PROXY_OAUTH_CALLBACK_PORT: String(port),
      PROXY_PINNED_CLIENT_ID: 'static-client',
    });
    await waitForState('pinned', 'failed', 15_000);
    expect(logs.join('\n')).toContain(`free port ${port} and restart`);
    expect(fixture.counters.authorizations).toBe(0);
  });
});

describe('several sign-ins', () => {
  it('signs in to two upstreams at once', async () => {
    const one = await oauthUpstream({ name: 'one' });
    const two = await oauthUpstream({ name: 'two' });
    const { env, browserRuns } = await workspace();
    const { client, waitForState } = await proxyFor(
      [
        { name: 'one', url: one.mcpUrl, toolPrefix: 'one_' },
        { name: 'two', url: two.mcpUrl, toolPrefix: 'two_' },
      ],
      env,
    );
    await Promise.all([
      waitForState('one', /^connected\.ready/, 15_000),
      waitForState('two', /^connected\.ready/, 15_000),
    ]);
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['one_echo', 'two_echo']));
    expect(await browserRuns()).toBe(2);
  });
});

describe('no browser', () => {
  it('prints the sign-in link, sends it to the client as a log message, and completes when it is opened', async () => {
    const fixture = await oauthUpstream();
    const { env } = await workspace();
    const { client, waitForState, logs } = await proxyFor([{ name: 'manual', url: fixture.mcpUrl }], {
      ...env,
      BROWSER: 'none',
    });
    const messages: string[] = [];
    client.setNotificationHandler('notifications/message', (notification) => {
      messages.push(String(notification.params.data));
    });
    await waitForState('manual', 'authorizing.waitingForUser', 15_000);
    await eventually(() => messages.length > 0);
    const url = /open (\S+)/.exec(messages[0]!)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/authorize\?/);
    expect(logs.some((line) => line.includes(url!))).toBe(true);
    // The user opens the link.
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [TEST_BROWSER, url!], (error) => (error ? reject(error) : resolve())),
    );
    await waitForState('manual', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'done' } }))).toBe('done');
  });
});

describe('a 401 without OAuth', () => {
  it('fails for good, naming the headers to check, instead of retrying forever', async () => {
    // Answers 401 to everything and offers no metadata: an API key that is wrong, say.
    const server = createServer((_req, res) => res.writeHead(_req.url?.startsWith('/.well-known') ? 404 : 401).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { env } = await workspace();
    const { port } = server.address() as AddressInfo;
    const { waitForState, logs } = await proxyFor(
      [{ name: 'keyed', url: `http://127.0.0.1:${port}/mcp`, transport: 'http', headers: { 'X-Api-Key': 'wrong' } }],
      env,
    );
    await waitForState('keyed', 'failed', 15_000);
    expect(logs.join('\n')).toContain('refused access (401) and offers no OAuth sign-in; check its configured headers');
  });
});

describe('authorization-server metadata naming another issuer (RFC 8414 §3.3)', () => {
  it('is accepted on the same origin as its metadata URL, with one warning naming the upstream', async () => {
    // Path-based tenants whose metadata leaves the path out of `issuer` (as the conformance suite's mock AS does).
    const fixture = await oauthUpstream({ metadataIssuer: (asUrl) => new URL('/tenant1', asUrl).href });
    const { env, browserRuns } = await workspace();
    const { client, waitForState, logs } = await proxyFor([{ name: 'tenant', url: fixture.mcpUrl }], env);
    await waitForState('tenant', /^connected\.ready/, 15_000);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'same origin' } }))).toBe('same origin');
    expect(await browserRuns()).toBe(1);
    const warnings = logs.filter((line) => line.includes('authorization server metadata names issuer'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('upstream "tenant"');
    expect(warnings[0]).toContain(`${fixture.asUrl.origin}/tenant1`);
  });

  it('is refused on another origin: no registration, no browser, no tools', async () => {
    // `localhost` instead of `127.0.0.1`: the same server, but another origin, as an impersonating AS would name.
    const fixture = await oauthUpstream({ metadataIssuer: (asUrl) => `http://localhost:${asUrl.port}/` });
    const { env, browserRuns } = await workspace();
    const { client, waitForState, logs } = await proxyFor([{ name: 'mixup', url: fixture.mcpUrl }], env);
    await waitForState('mixup', 'reconnecting', 15_000);
    expect(logs.join('\n')).toMatch(/upstream "mixup": cannot discover its authorization server \(Issuer mismatch/);
    expect(logs.join('\n')).not.toContain('accepted because it is on the same origin');
    expect((await client.listTools()).tools).toEqual([]);
    expect(fixture.counters.registrations).toBe(0);
    expect(fixture.counters.authorizations).toBe(0);
    expect(await browserRuns()).toBe(0);
  });
});
