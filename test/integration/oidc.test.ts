/**
 * OAuth against node-oidc-provider, a strict OpenID provider, as an MCP server's authorization server: it issues a
 * refresh token only for `offline_access` asked for with `prompt=consent` (issue 10 §1). One sign-in must last
 * through any number of access-token expiries.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OidcUpstreamFixture } from '../fixtures/oidc-upstream.js';
import { echo, useOidcTestKit } from '../helpers/oidc.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

const { cleanups, oidcUpstream, workspace } = useOidcTestKit('proxy-oidc-');

async function proxyFor(fixture: OidcUpstreamFixture, name: string, env: Record<string, string>): Promise<TestProxy> {
  const proxy = await startTestProxy([{ name, url: fixture.mcpUrl }], { env });
  cleanups.push(() => proxy.close());
  return proxy;
}

const EXPIRIES = 20;

describe('an OpenID provider as authorization server', () => {
  it(`signs in once and refreshes through ${EXPIRIES} expiries of a 2 s token, and after a restart`, async () => {
    const fixture = await oidcUpstream({ accessTokenTtlSeconds: 2 });
    const { env, browserRuns } = await workspace();
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    const first = await proxyFor(fixture, 'oidc', env);
    await first.waitForState('oidc', /^connected\.ready/, 15_000);
    expect(fixture.counters.tokensIssued.authorization_code).toBe(1);
    // offline_access was asked for with prompt=consent, so the provider kept it.
    expect(fixture.counters.authorizationRequests).toHaveLength(1);
    const [request] = fixture.counters.authorizationRequests;
    expect(request?.scope?.split(' ').sort()).toEqual(['mcp:tools', 'offline_access']);
    expect(request?.prompt).toBe('consent');

    const failed: string[] = [];
    for (let expiry = 1; expiry <= EXPIRIES; expiry++) {
      await eventually(() => refreshes() >= expiry, 5_000);
      const answer = await echo(first, `call ${expiry}`);
      if (answer.isError || answer.text !== `call ${expiry}`) failed.push(`${expiry}: ${answer.text}`);
    }
    expect(failed).toEqual([]);
    expect(refreshes()).toBeGreaterThanOrEqual(EXPIRIES);
    // One refresh token from the code exchange, a rotated one from every refresh.
    expect(fixture.counters.refreshTokensIssued).toBe(1 + refreshes());
    expect(fixture.counters.authorizations).toBe(1);
    expect(await browserRuns()).toBe(1);
    expect(first.logs.join('\n')).not.toMatch(/no refresh token/);
    expect(first.proxy.status().upstreams[0]?.refreshable).toBe(true);
    await first.close();

    const beforeRestart = refreshes();
    const second = await proxyFor(fixture, 'oidc', env);
    await second.waitForState('oidc', /^connected\.ready/, 15_000);
    expect(await echo(second, 'back')).toEqual({ text: 'back', isError: false });
    await eventually(() => refreshes() > beforeRestart, 5_000);
    expect(await echo(second, 'still')).toEqual({ text: 'still', isError: false });
    expect(fixture.counters.authorizations).toBe(1);
    expect(await browserRuns()).toBe(1);
  }, 60_000);

  it('says once, with the time, that a sign-in without refresh token will need another when it expires', async () => {
    const fixture = await oidcUpstream({ refreshTokens: false });
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor(fixture, 'norefresh', env);
    await proxy.waitForState('norefresh', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'ok')).toEqual({ text: 'ok', isError: false });
    expect(fixture.counters.refreshTokensIssued).toBe(0);
    expect(fixture.counters.authorizationRequests[0]?.scope?.split(' ')).toContain('offline_access');
    const warnings = proxy.logs.filter((line) => /no refresh token/.test(line));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/upstream "norefresh"/);
    expect(warnings[0]).toMatch(/new sign-in/);
    const when = warnings[0]?.match(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/)?.[0];
    expect(when).toBeDefined();
    expect(Math.abs(Date.parse(when ?? '') - (Date.now() + 3_600_000))).toBeLessThan(60_000);
    expect(await browserRuns()).toBe(1);
    // And status says so: no refresh, a new sign-in when the token expires.
    const [status] = proxy.proxy.status().upstreams;
    expect(status?.refreshable).toBe(false);
    expect(status?.tokenExpiresAt).toBe(when);
  }, 30_000);

  it('registers again when the stored registration leaves offline_access out of its scope', async () => {
    const fixture = await oidcUpstream();
    const { env, browserRuns } = await workspace();
    // A registration as an earlier proxy made it: scope without offline_access, which the provider then refuses.
    const response = await fetch(`${fixture.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        scope: 'mcp:tools',
      }),
    });
    expect(response.status).toBe(201);
    const { redirect_uris: _any, ...registration } = (await response.json()) as Record<string, unknown>;
    const dir = join(env.PROXY_TOKEN_DIR, 'stale');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, 'client-info.json'), JSON.stringify(registration), { mode: 0o600 });

    const proxy = await proxyFor(fixture, 'stale', env);
    await proxy.waitForState('stale', /^connected\.ready/, 15_000);
    expect(fixture.counters.registrations).toBe(2);
    expect(fixture.counters.authorizationRequests[0]?.scope?.split(' ')).toContain('offline_access');
    expect(fixture.counters.refreshTokensIssued).toBe(1);
    const stored = JSON.parse(await readFile(join(dir, 'client-info.json'), 'utf8')) as { client_id: string };
    expect(stored.client_id).not.toBe(registration.client_id);
    expect(proxy.logs.join('\n')).not.toMatch(/no refresh token/);
    expect(await browserRuns()).toBe(1);
  }, 30_000);

  it('lets calls that meet a refused token wait for the one refresh in flight, and all succeed', async () => {
    const fixture = await oidcUpstream();
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor(fixture, 'revoked', env);
    await proxy.waitForState('revoked', /^connected\.ready/, 15_000);
    expect((await echo(proxy, 'before')).isError).toBe(false);
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    expect(refreshes()).toBe(0);

    // The token is an hour from expiry, so no scheduled refresh helps: each of these calls meets a 401.
    fixture.revokeSeenTokens();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => echo(proxy, `call ${i}`)));
    expect(results.map((result) => result.isError)).toEqual(Array(8).fill(false));
    expect(results.map((result) => result.text)).toEqual(Array.from({ length: 8 }, (_, i) => `call ${i}`));
    expect(refreshes()).toBe(1);
    expect(await browserRuns()).toBe(1);
  });

  it('asks for offline_access alone when the resource advertises no scope, and refreshes with no browser', async () => {
    // The provider's stock scopes only (openid, offline_access), and a resource that lists none. The SDK's own
    // scope choice leaves scope out, and then this provider grants nothing: the sign-in ends in access_denied
    // (measured with chooseScope returning undefined here).
    const fixture = await oidcUpstream({ resourceScopes: [], accessTokenTtlSeconds: 2 });
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor(fixture, 'stock', env);
    await proxy.waitForState('stock', /^connected\.ready/, 15_000);
    expect(fixture.counters.authorizationRequests.map((request) => request.scope)).toEqual(['offline_access']);
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    for (let expiry = 1; expiry <= 3; expiry++) {
      await eventually(() => refreshes() >= expiry, 5_000);
      expect(await echo(proxy, `call ${expiry}`)).toEqual({ text: `call ${expiry}`, isError: false });
    }
    expect(await browserRuns()).toBe(1);
  }, 30_000);

  it('lets two proxies on one token folder refresh one after the other, never with the same refresh token', async () => {
    // Both hold the same tokens and schedule their refresh for the same moment. A second refresh with a rotated
    // refresh token is a reuse, for which this provider revokes the whole grant: a new sign-in for both.
    const fixture = await oidcUpstream({ accessTokenTtlSeconds: 2 });
    const { env, browserRuns } = await workspace();
    const first = await proxyFor(fixture, 'shared', env);
    await first.waitForState('shared', /^connected\.ready/, 15_000);
    const second = await proxyFor(fixture, 'shared', env);
    await second.waitForState('shared', /^connected\.ready/, 15_000);
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    for (let expiry = 1; expiry <= 4; expiry++) {
      const before = refreshes();
      await eventually(() => refreshes() > before, 5_000);
      expect(await echo(first, `first ${expiry}`)).toEqual({ text: `first ${expiry}`, isError: false });
      expect(await echo(second, `second ${expiry}`)).toEqual({ text: `second ${expiry}`, isError: false });
    }
    expect(fixture.counters.grantErrors).toEqual({});
    expect(fixture.counters.authorizations).toBe(1);
    expect(await browserRuns()).toBe(1);
  }, 40_000);
});
