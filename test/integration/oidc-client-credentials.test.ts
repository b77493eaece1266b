/**
 * Machine-to-machine sign-in and token endpoint authentication against node-oidc-provider, which accepts a client
 * only by the method it was registered with: a call that succeeds proves the proxy chose that method. The
 * upstreams are configured through the loader (`parseUpstreams`), as a user's PROXY_UPSTREAMS would be, so key
 * files and PROXY_<NAME>_* variables take the real path.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ClientMetadata } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import { parseUpstreams, tokenRoot } from '../../src/config/index.js';
import { TokenStore } from '../../src/oauth/store.js';
import type { OidcUpstreamFixture } from '../fixtures/oidc-upstream.js';
import { echo, useOidcTestKit } from '../helpers/oidc.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import type { SignInWorkspace } from '../helpers/sign-in.js';

const { cleanups, oidcUpstream, workspace } = useOidcTestKit('proxy-oidc-m2m-');

/** One upstream "svc", configured as a user would: its `oauth` block through the loader, with `env`. */
async function proxyFor(
  fixture: OidcUpstreamFixture,
  oauth: Record<string, unknown>,
  env: Record<string, string>,
): Promise<TestProxy> {
  const upstreams = parseUpstreams(
    JSON.stringify([{ name: 'svc', url: fixture.mcpUrl.href, oauth }]),
    'PROXY_UPSTREAMS',
    env,
    false,
  );
  const proxy = await startTestProxy(upstreams, { env });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A signing key pair: the private key as PEM (PKCS#8, or SEC1 as openssl writes EC keys), the public one as JWK. */
function keyPair(alg: 'ES256' | 'RS256', format: 'pkcs8' | 'sec1' = 'pkcs8') {
  const { privateKey, publicKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pem: (privateKey as KeyObject).export({ type: format, format: 'pem' }).toString(),
    jwk: { ...(publicKey as KeyObject).export({ format: 'jwk' }), alg, use: 'sig', kid: `test-${alg}` },
  };
}

/** A client_credentials client registered by hand. */
function machineClient(metadata: Partial<ClientMetadata> & { client_id: string }): ClientMetadata {
  return { grant_types: ['client_credentials'], redirect_uris: [], response_types: [], ...metadata };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const issued = (fixture: OidcUpstreamFixture, grant: string) => fixture.counters.tokensIssued[grant] ?? 0;

/**
 * Calls once per new token while `expiries` tokens of 2 s come and go: every call must succeed, the browser must
 * never open, nothing is registered, and no secret shows in the logs.
 */
async function throughExpiries(
  fixture: OidcUpstreamFixture,
  proxy: TestProxy,
  space: SignInWorkspace,
  expiries: number,
  secrets: string[],
  method: string,
): Promise<void> {
  await proxy.waitForState('svc', /^connected\.ready/, 15_000);
  const failed: string[] = [];
  const first = issued(fixture, 'client_credentials');
  expect(first).toBeGreaterThanOrEqual(1);
  for (let expiry = 1; expiry <= expiries; expiry++) {
    await eventually(() => issued(fixture, 'client_credentials') >= first + expiry, 5_000);
    const answer = await echo(proxy, `call ${expiry}`);
    if (answer.isError || answer.text !== `call ${expiry}`) failed.push(`${expiry}: ${answer.text}`);
  }
  expect(failed).toEqual([]);
  expect(await space.browserRuns()).toBe(0);
  expect(fixture.counters.authorizations).toBe(0);
  expect(fixture.counters.registrations).toBe(0);
  expect(issued(fixture, 'refresh_token')).toBe(0);
  expect(new Set(fixture.counters.clientAuthentications)).toEqual(new Set([method]));
  const logs = proxy.logs.join('\n');
  expect(logs).not.toMatch(/no refresh token|sign in|signing in/i);
  for (const secret of secrets) expect(logs).not.toContain(secret);
  expect(proxy.proxy.status().upstreams[0]?.refreshable).toBe(true);
  // Never a failed connection on the way: new tokens come ahead of expiry.
  expect(proxy.transitions.filter((t) => t.actor === 'svc' && t.state === 'reconnecting')).toEqual([]);
}

describe('client_credentials with a client secret', () => {
  it('client_secret_basic: no browser, a new token before each expiry of a 2 s token, no failed call', async () => {
    const secret = 'svc-basic-secret-0123456789';
    const fixture = await oidcUpstream({
      accessTokenTtlSeconds: 2,
      clientCredentials: true,
      clients: [
        machineClient({
          client_id: 'svc-basic',
          client_secret: secret,
          token_endpoint_auth_method: 'client_secret_basic',
        }),
      ],
    });
    const space = await workspace();
    const proxy = await proxyFor(
      fixture,
      { grant: 'client_credentials', client_id: 'svc-basic' },
      { ...space.env, PROXY_SVC_CLIENT_SECRET: secret },
    );
    await throughExpiries(fixture, proxy, space, 6, [secret], 'client_secret_basic');
    const expiresAt = proxy.proxy.status().upstreams[0]?.tokenExpiresAt;
    expect(Date.parse(expiresAt ?? '') - Date.now()).toBeLessThanOrEqual(2_000);
  });

  it.each([[['client_secret_post', 'client_secret_basic']], [['client_secret_post']]] as const)(
    'client_secret_post when the server lists %j',
    async (methods) => {
      const secret = 'svc-post-secret-0123456789';
      const fixture = await oidcUpstream({
        clientCredentials: true,
        clientAuthMethods: [...methods],
        clients: [
          machineClient({
            client_id: 'svc-post',
            client_secret: secret,
            token_endpoint_auth_method: 'client_secret_post',
          }),
        ],
      });
      const space = await workspace();
      const proxy = await proxyFor(
        fixture,
        { grant: 'client_credentials', client_id: 'svc-post', client_secret: secret },
        space.env,
      );
      await proxy.waitForState('svc', /^connected\.ready/, 15_000);
      expect(await echo(proxy, 'post')).toEqual({ text: 'post', isError: false });
      expect(issued(fixture, 'client_credentials')).toBe(1);
      expect(fixture.counters.clientAuthentications).toEqual(['client_secret_post']);
      expect(await space.browserRuns()).toBe(0);
    },
  );

  it('a wrong secret ends in failed, naming the variables to fix, with no loop of token requests', async () => {
    const fixture = await oidcUpstream({
      clientCredentials: true,
      clients: [machineClient({ client_id: 'svc-basic', client_secret: 'the-right-secret' })],
    });
    const space = await workspace();
    const wrong = 'a-wrong-secret-0123456789';
    const proxy = await proxyFor(
      fixture,
      { grant: 'client_credentials', client_id: 'svc-basic' },
      { ...space.env, PROXY_SVC_CLIENT_SECRET: wrong },
    );
    await proxy.waitForState('svc', 'failed', 15_000);
    const status = proxy.proxy.status().upstreams[0];
    expect(status?.lastError?.code).toBe('ERR_UPSTREAM_AUTH_CLIENT_REJECTED');
    expect(status?.lastError?.message).toMatch(/invalid_client/);
    expect(status?.lastError?.message).toMatch(/PROXY_SVC_CLIENT_ID and PROXY_SVC_CLIENT_SECRET/);
    expect(status?.lastError?.message).not.toContain(wrong);
    // It stays failed: no reconnect, no new token request, no browser.
    const transitionsBefore = proxy.transitions.length;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(
      proxy.transitions.slice(transitionsBefore).filter((t) => t.actor === 'svc' && t.machine === 'upstream'),
    ).toEqual([]);
    expect(proxy.transitions.some((t) => t.actor === 'svc' && t.state === 'reconnecting')).toBe(false);
    expect(issued(fixture, 'client_credentials')).toBe(0);
    expect(await space.browserRuns()).toBe(0);
    expect(proxy.logs.join('\n')).not.toContain(wrong);
  });

  it('fails at once, saying so, when the authorization server does not offer the grant', async () => {
    const fixture = await oidcUpstream({ clients: [machineClient({ client_id: 'svc-basic', client_secret: 's' })] });
    const space = await workspace();
    const proxy = await proxyFor(
      fixture,
      { grant: 'client_credentials', client_id: 'svc-basic', client_secret: 's' },
      space.env,
    );
    await proxy.waitForState('svc', 'failed', 15_000);
    const status = proxy.proxy.status().upstreams[0];
    expect(status?.lastError?.code).toBe('ERR_UPSTREAM_AUTH_GRANT');
    expect(status?.lastError?.message).toMatch(/does not offer the client_credentials grant/);
    expect(fixture.counters.clientAuthentications).toEqual([]);
  });

  it('answers a 401 for a stored token the upstream refuses with one new token', async () => {
    const secret = 'svc-basic-secret-0123456789';
    const fixture = await oidcUpstream({
      clientCredentials: true,
      clients: [machineClient({ client_id: 'svc-basic', client_secret: secret })],
    });
    const space = await workspace();
    const store = new TokenStore(tokenRoot(space.env), 'svc');
    await store.writeTokens({
      accessToken: 'not-a-valid-token',
      tokenType: 'Bearer',
      expiresAt: Date.now() + 3_600_000,
    });
    const proxy = await proxyFor(
      fixture,
      { grant: 'client_credentials', client_id: 'svc-basic' },
      { ...space.env, PROXY_SVC_CLIENT_SECRET: secret },
    );
    await proxy.waitForState('svc', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'renewed')).toEqual({ text: 'renewed', isError: false });
    expect(fixture.counters.unauthorized401).toBe(1);
    expect(issued(fixture, 'client_credentials')).toBe(1);
    expect((await store.readTokens())?.accessToken).not.toBe('not-a-valid-token');
  });
});

describe('an upstream that refuses the tokens its authorization server issues', () => {
  /**
   * An MCP endpoint that answers every request with 401, its metadata naming the provider (and, as `resource`,
   * the real MCP server's URL, which `oauth.resource` then asks for): the provider issues good tokens, which this
   * endpoint refuses anyway.
   */
  async function refusingUpstream(fixture: OidcUpstreamFixture): Promise<{ url: URL; refused: () => number }> {
    let refused = 0;
    const server = createServer((req, res) => {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const metadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
      if (req.url === '/.well-known/oauth-protected-resource/mcp') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ resource: fixture.mcpUrl.href, authorization_servers: [fixture.issuer] }));
        return;
      }
      refused++;
      res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl}"` }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`), refused: () => refused };
  }

  it('fails for good after a new token is refused too, instead of asking for tokens in a loop', async () => {
    const secret = 'svc-basic-secret-0123456789';
    const fixture = await oidcUpstream({
      clientCredentials: true,
      clients: [machineClient({ client_id: 'svc-basic', client_secret: secret })],
    });
    const refusing = await refusingUpstream(fixture);
    const space = await workspace();
    const env = { ...space.env, PROXY_SVC_CLIENT_SECRET: secret };
    const upstreams = parseUpstreams(
      JSON.stringify([
        {
          name: 'svc',
          url: refusing.url.href,
          oauth: { grant: 'client_credentials', client_id: 'svc-basic', resource: fixture.mcpUrl.href },
        },
      ]),
      'PROXY_UPSTREAMS',
      env,
      false,
    );
    const proxy = await startTestProxy(upstreams, { env });
    cleanups.push(() => proxy.close());
    await proxy.waitForState('svc', 'failed', 15_000);
    expect(proxy.proxy.status().upstreams[0]?.lastError?.code).toBe('ERR_UPSTREAM_AUTH_TOKEN_REFUSED');
    const tokens = issued(fixture, 'client_credentials');
    expect(tokens).toBeGreaterThanOrEqual(1);
    expect(tokens).toBeLessThanOrEqual(2);
    const refusedBefore = refusing.refused();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(issued(fixture, 'client_credentials')).toBe(tokens);
    expect(refusing.refused()).toBe(refusedBefore);
    expect(await space.browserRuns()).toBe(0);
  });
});

describe('client_credentials with a private key (private_key_jwt)', () => {
  it.each([
    ['ES256', 'a key file (SEC1 PEM, as openssl writes it)'],
    ['RS256', 'PROXY_SVC_PRIVATE_KEY'],
  ] as const)('%s, from %s: a newly signed assertion for each token, no failed call', async (alg, source) => {
    const key = keyPair(alg, alg === 'ES256' ? 'sec1' : 'pkcs8');
    const fixture = await oidcUpstream({
      accessTokenTtlSeconds: 2,
      clientCredentials: true,
      clients: [
        machineClient({
          client_id: `svc-${alg}`,
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: alg,
          jwks: { keys: [key.jwk] },
        }),
      ],
    });
    const space = await workspace();
    const oauth: Record<string, unknown> = { grant: 'client_credentials', client_id: `svc-${alg}` };
    const env: Record<string, string> = { ...space.env };
    if (source.startsWith('a key file')) {
      const file = join(space.dir, 'client-key.pem');
      await writeFile(file, key.pem, { mode: 0o600 });
      oauth.private_key_file = file;
    } else {
      env.PROXY_SVC_PRIVATE_KEY = key.pem;
    }
    const proxy = await proxyFor(fixture, oauth, env);
    await throughExpiries(fixture, proxy, space, 3, [key.pem.split('\n')[1] ?? key.pem], 'private_key_jwt');
  });
});

describe('a static client signing in with the browser, by the method the server lists first', () => {
  it.each([
    ['client_secret_basic', undefined],
    ['client_secret_post', ['client_secret_post', 'client_secret_basic', 'private_key_jwt', 'none'] as const],
    ['private_key_jwt', undefined],
    // A public client (no secret, no key), though the server lists `none` last.
    ['none', undefined],
  ] as const)('%s: signs in once and refreshes through expiries of a 2 s token', async (method, order) => {
    const port = await freePort();
    const key = keyPair('ES256');
    const secret = `static-${method}-secret-0123456789`;
    const withKey = method === 'private_key_jwt';
    const withSecret = method === 'client_secret_basic' || method === 'client_secret_post';
    const fixture = await oidcUpstream({
      accessTokenTtlSeconds: 2,
      ...(order && { clientAuthMethods: [...order] }),
      clients: [
        {
          client_id: 'static-app',
          ...(withKey && { jwks: { keys: [key.jwk] } }),
          ...(withSecret && { client_secret: secret }),
          application_type: 'native',
          redirect_uris: [`http://localhost:${port}/callback`],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: method,
        },
      ],
    });
    const space = await workspace();
    const proxy = await proxyFor(
      fixture,
      {
        client_id: 'static-app',
        ...(withKey && { private_key: key.pem }),
        ...(withSecret && { client_secret: secret }),
      },
      { ...space.env, PROXY_OAUTH_CALLBACK_PORT: String(port) },
    );
    await proxy.waitForState('svc', /^connected\.ready/, 15_000);
    expect(issued(fixture, 'authorization_code')).toBe(1);
    const failed: string[] = [];
    for (let expiry = 1; expiry <= 3; expiry++) {
      await eventually(() => issued(fixture, 'refresh_token') >= expiry, 5_000);
      const answer = await echo(proxy, `call ${expiry}`);
      if (answer.isError || answer.text !== `call ${expiry}`) failed.push(`${expiry}: ${answer.text}`);
    }
    expect(failed).toEqual([]);
    expect(await space.browserRuns()).toBe(1);
    expect(fixture.counters.registrations).toBe(0);
    // The code exchange and every refresh, by the method the server listed first among those the proxy can do.
    expect(fixture.counters.clientAuthentications.length).toBeGreaterThanOrEqual(4);
    expect(new Set(fixture.counters.clientAuthentications)).toEqual(new Set([method]));
    expect(proxy.logs.join('\n')).not.toContain(secret);
  });
});
