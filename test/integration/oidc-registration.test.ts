/**
 * Registration and the authorization request against node-oidc-provider (issue 10 §2): the proxy registers as a
 * native app on its loopback redirect (SEP-837), with the first token endpoint method in the provider's list that
 * it can perform; when the provider refuses optional metadata it registers again with less, and a refusal no
 * retry can fix ends in `failed`, not in a loop. Entra-style options: `oauth.resource` replaces (or, `false`,
 * leaves out) the RFC 8707 resource, and `oauth.authorize_params` reach the authorization request.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OidcUpstreamFixture } from '../fixtures/oidc-upstream.js';
import { echo, useOidcTestKit } from '../helpers/oidc.js';
import { startTestProxy, type TestProxy, type TestUpstream } from '../helpers/proxy.js';

const { cleanups, oidcUpstream, workspace } = useOidcTestKit('proxy-oidc-registration-');

/** The proxy, and the authorization URLs its browser opened (what the proxy sent, before the provider's defaults). */
async function proxyFor(
  fixture: OidcUpstreamFixture,
  upstream: Omit<TestUpstream, 'url'>,
): Promise<TestProxy & { openedUrls(): Promise<URL[]> }> {
  const { env, dir } = await workspace();
  const proxy = await startTestProxy([{ ...upstream, url: fixture.mcpUrl }], { env });
  cleanups.push(() => proxy.close());
  const openedUrls = async () =>
    (await readFile(join(dir, 'browser.log'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => new URL(line.trim().split(/\s+/).at(-1) ?? ''));
  return Object.assign(proxy, { openedUrls });
}

async function providerMetadata(fixture: OidcUpstreamFixture): Promise<Record<string, unknown>> {
  const response = await fetch(`${fixture.issuer}/.well-known/openid-configuration`);
  return (await response.json()) as Record<string, unknown>;
}

describe('dynamic registration with an OpenID provider', () => {
  it('registers as a native app, with the first token endpoint method of the provider it can perform', async () => {
    const fixture = await oidcUpstream();
    const proxy = await proxyFor(fixture, { name: 'native' });
    await proxy.waitForState('native', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'hello')).toEqual({ text: 'hello', isError: false });

    const [registration] = fixture.counters.registrationRequests;
    expect(registration?.error).toBeUndefined();
    expect(registration?.metadata.application_type).toBe('native');
    expect(registration?.metadata.redirect_uris).toEqual([
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/callback$/),
    ]);
    const methods = (await providerMetadata(fixture)).token_endpoint_auth_methods_supported as string[];
    const performable = methods.find((method) =>
      ['none', 'client_secret_basic', 'client_secret_post'].includes(method),
    );
    expect(registration?.metadata.token_endpoint_auth_method).toBe(performable);
  });

  it('registers again without the scope the provider refuses, and still gets refresh tokens', async () => {
    // The resource advertises a scope the provider does not list: it refuses to register a client for it.
    const fixture = await oidcUpstream({ unknownScopes: ['mcp:admin'], accessTokenTtlSeconds: 2 });
    const proxy = await proxyFor(fixture, { name: 'fallback' });
    await proxy.waitForState('fallback', /^connected\.ready/, 15_000);

    const requests = fixture.counters.registrationRequests;
    expect(requests.map((request) => request.error)).toEqual(['invalid_client_metadata', undefined]);
    expect(requests[0]?.metadata.scope).toContain('mcp:admin');
    expect(requests[1]?.metadata).not.toHaveProperty('scope');
    expect(proxy.logs.join('\n')).toContain('registered without scope');
    // The authorization request still asks for offline_access, so expiries are refreshed.
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await echo(proxy, 'after expiry')).toEqual({ text: 'after expiry', isError: false });
    expect(refreshes()).toBeGreaterThanOrEqual(1);
    expect(fixture.counters.authorizations).toBe(1);
  });

  it('fails for good, with the provider’s reason, when registration needs a token it does not have', async () => {
    const fixture = await oidcUpstream({ registrationNeedsToken: true });
    const proxy = await proxyFor(fixture, { name: 'closed' });
    await proxy.waitForState('closed', 'failed', 15_000);
    const failure = proxy.logs.find((line) => line.includes('→ failed'));
    expect(failure).toContain('refused to register the proxy (invalid_request: no access token provided');
    expect(failure).toContain('set PROXY_CLOSED_CLIENT_ID');
    // Failed is final: no registration loop.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(fixture.counters.registrationRequests).toHaveLength(1);
    expect(fixture.counters.authorizations).toBe(0);
  });
});

describe('Entra-style options', () => {
  const AUDIENCE = 'https://api.example.test/mcp';

  it('oauth.resource replaces the resource: the provider knows only that one', async () => {
    const fixture = await oidcUpstream({ audience: AUDIENCE });
    const proxy = await proxyFor(fixture, { name: 'entra', oauth: { resource: AUDIENCE } });
    await proxy.waitForState('entra', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'aud')).toEqual({ text: 'aud', isError: false });
    const [opened] = await proxy.openedUrls();
    expect(opened?.searchParams.get('resource')).toBe(AUDIENCE);
  });

  it('oauth.resource false sends no resource, and authorize_params reach the authorization request', async () => {
    const fixture = await oidcUpstream({ audience: AUDIENCE });
    const proxy = await proxyFor(fixture, {
      name: 'entra-v1',
      oauth: { resource: false, authorizeParams: { ui_locales: 'de', login_hint: 'test-user' } },
    });
    await proxy.waitForState('entra-v1', /^connected\.ready/, 15_000);
    // The provider's default resource gave the token its audience.
    expect(await echo(proxy, 'default resource')).toEqual({ text: 'default resource', isError: false });
    const [opened] = await proxy.openedUrls();
    expect(opened?.searchParams.has('resource')).toBe(false);
    expect(opened?.searchParams.get('ui_locales')).toBe('de');
    expect(fixture.counters.authorizationRequests[0]?.params).toMatchObject({
      ui_locales: 'de',
      login_hint: 'test-user',
    });
  });
});
