/**
 * Headless sign-in with the device authorization grant (RFC 8628) against node-oidc-provider's device flow: the
 * verification URL and user code go to stderr, to the client's log and into the answer of every call made while
 * waiting; a test user on "another device" (helpers/device-user.ts) submits the provider's forms; the proxy,
 * polling at the server's interval, gets tokens that then refresh like a browser sign-in's.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEVICE_CODE_GRANT } from '../../src/oauth/client-identity.js';
import { DeviceUser } from '../helpers/device-user.js';
import { echo, useOidcTestKit } from '../helpers/oidc.js';
import { eventually, startTestProxy, type TestProxy, type TestUpstream } from '../helpers/proxy.js';

const { cleanups, oidcUpstream, workspace } = useOidcTestKit('proxy-oidc-device-');

async function proxyFor(
  upstream: TestUpstream,
  env: Record<string, string>,
  onLog?: (message: string) => void,
): Promise<TestProxy> {
  const proxy = await startTestProxy([upstream], {
    env,
    client: {
      setup: (client) =>
        client.setNotificationHandler('notifications/message', ({ params }) => onLog?.(String(params.data))),
    },
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** The line the device flow prints: where to go, the code, and how long it is good for. */
const DEVICE_LINE = /upstream "([^"]+)": to sign in, open (\S+) and enter the code (\S+) \(expires in ([^)]+)\)/;

async function devicePrompt(proxy: TestProxy): Promise<{ line: string; url: string; userCode: string }> {
  await eventually(() => proxy.logs.some((line) => DEVICE_LINE.test(line)), 15_000).catch((error: Error) => {
    throw new Error(`${error.message}; stderr:\n${proxy.logs.join('\n')}`);
  });
  const line = proxy.logs.find((entry) => DEVICE_LINE.test(entry)) as string;
  const [, , url, userCode] = DEVICE_LINE.exec(line) as RegExpExecArray;
  return { line, url: url as string, userCode: userCode as string };
}

describe('device sign-in (RFC 8628) with node-oidc-provider', () => {
  it('shows the URL and code everywhere, signs in when the user approves, and refreshes with no new prompt', async () => {
    const fixture = await oidcUpstream({ accessTokenTtlSeconds: 2, deviceFlow: { intervalSeconds: 1 } });
    const { env, browserRuns } = await workspace();
    const clientLog: string[] = [];
    const proxy = await proxyFor(
      { name: 'headless', url: fixture.mcpUrl, oauth: { flow: 'device' } },
      { ...env, PROXY_OAUTH_TIMEOUT_MS: '60000' },
      (message) => clientLog.push(message),
    );

    // stderr: the verification_uri_complete, the code, and its lifetime (oidc-provider's DeviceCode TTL, 600 s).
    const { line, url, userCode } = await devicePrompt(proxy);
    expect(line).toContain('upstream "headless": to sign in, open');
    expect(url).toBe(`${fixture.issuer}/device?user_code=${userCode}`);
    expect(userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(line).toContain('(expires in 10 min)');
    await proxy.waitForState('headless', 'authorizing.waitingForUser');

    // A printed code does not hold the first list: it answers now, without the upstream's tools.
    const listed = await proxy.client.listTools();
    expect(listed.tools.map((tool) => tool.name)).not.toContain('echo');
    expect(proxy.proxy.status().upstreams[0]?.state).toBe('authorizing.waitingForUser');

    // The client's log carries the URL and the code too.
    await eventually(() => clientLog.some((message) => message.includes(userCode)));
    expect(clientLog).toContain(`Sign in to upstream "headless": open ${url} and enter the code ${userCode}`);

    // The device code is a secret: never on stderr, nor the client's log.
    const deviceCodeShapes = proxy.logs.filter((entry) => /device_code=(?!\[redacted\])/.test(entry));
    expect(deviceCodeShapes).toEqual([]);

    // The user approves on another device; the proxy, polling every second, gets its tokens.
    const result = await new DeviceUser().approve(url);
    expect(result.status).toBe(200);
    expect(result.page).toContain('Sign-in Success');
    await proxy.waitForState('headless', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'signed in')).toEqual({ text: 'signed in', isError: false });
    expect(fixture.counters.tokensIssued[DEVICE_CODE_GRANT]).toBe(1);
    expect(fixture.counters.tokensIssued.authorization_code).toBeUndefined();
    expect(await browserRuns()).toBe(0);
    // Scope and resource (RFC 8707) on the device authorization request, offline_access among the scope.
    const [request] = fixture.counters.deviceAuthorizations;
    expect(request?.scope?.split(' ').sort()).toEqual(['mcp:tools', 'offline_access']);
    expect(request?.resource).toBe(fixture.mcpUrl.href);
    // Polled at the server's interval (1 s), not faster.
    const polls = fixture.counters.devicePolls;
    for (let index = 1; index < polls.length; index++) {
      expect((polls[index] as number) - (polls[index - 1] as number)).toBeGreaterThanOrEqual(900);
    }

    // Two expiries of the 2 s token: refreshed, with no new device prompt.
    const refreshes = () => fixture.counters.tokensIssued.refresh_token ?? 0;
    await eventually(() => refreshes() >= 2, 10_000);
    expect(await echo(proxy, 'refreshed')).toEqual({ text: 'refreshed', isError: false });
    expect(fixture.counters.deviceAuthorizations).toHaveLength(1);
    expect(proxy.logs.filter((entry) => DEVICE_LINE.test(entry))).toHaveLength(1);
    expect(proxy.proxy.status().upstreams[0]?.refreshable).toBe(true);
  }, 60_000);

  it('asks again when a token without refresh expires, and a call made while waiting answers with URL and code', async () => {
    const fixture = await oidcUpstream({
      accessTokenTtlSeconds: 3,
      refreshTokens: false,
      deviceFlow: { intervalSeconds: 1 },
    });
    const { env } = await workspace();
    const proxy = await proxyFor({ name: 'again', url: fixture.mcpUrl, oauth: { flow: 'device' } }, env);
    const first = await devicePrompt(proxy);
    await new DeviceUser().approve(first.url);
    await proxy.waitForState('again', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'one')).toEqual({ text: 'one', isError: false });

    // The token expires; with no refresh token the next call leads to a new device prompt, with a new code.
    const expired = Date.now() + 3_500;
    await eventually(() => Date.now() > expired, 5_000);
    await echo(proxy, 'expired').catch(() => undefined);
    await proxy.waitForState('again', 'authorizing.waitingForUser', 15_000);
    await eventually(() => proxy.logs.filter((line) => DEVICE_LINE.test(line)).length === 2);
    const [, , url, userCode] = DEVICE_LINE.exec(
      proxy.logs.filter((line) => DEVICE_LINE.test(line))[1] as string,
    ) as RegExpExecArray;
    expect(userCode).not.toBe(first.userCode);

    // Its tools stay listed, and a call answers where to sign in: the URL and the code.
    const waiting = await echo(proxy, 'waiting');
    expect(waiting.isError).toBe(true);
    expect(waiting.text).toBe(
      `upstream "again" needs you to sign in: open ${url} and enter the code ${userCode}, then try again`,
    );

    await new DeviceUser().approve(url as string);
    await proxy.waitForState('again', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'two')).toEqual({ text: 'two', isError: false });
    expect(fixture.counters.tokensIssued[DEVICE_CODE_GRANT]).toBe(2);
  }, 45_000);

  it('is chosen by itself with BROWSER=none when the server offers it, and slows down when told to', async () => {
    const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1, slowDownPolls: 1 } });
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor({ name: 'auto', url: fixture.mcpUrl }, { ...env, BROWSER: 'none' });
    const { url } = await devicePrompt(proxy);
    // The first poll is answered slow_down: the next waits 1 + 5 s (RFC 8628 §3.5).
    await eventually(() => fixture.counters.devicePolls.length >= 2, 15_000);
    const [first, second] = fixture.counters.devicePolls as [number, number];
    expect(second - first).toBeGreaterThanOrEqual(5_900);
    await new DeviceUser().approve(url);
    await proxy.waitForState('auto', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'auto')).toEqual({ text: 'auto', isError: false });
    expect(await browserRuns()).toBe(0);
    expect(proxy.logs.join('\n')).not.toMatch(/sign in at /);
  }, 45_000);

  it('uses the browser, not the device flow, when one can be opened', async () => {
    const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1 } });
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor({ name: 'browser', url: fixture.mcpUrl }, env);
    await proxy.waitForState('browser', /^connected\.ready/, 15_000);
    expect(await browserRuns()).toBe(1);
    expect(fixture.counters.deviceAuthorizations).toHaveLength(0);
  }, 30_000);

  it('fails for good, saying why, when flow "device" meets a server without the device flow', async () => {
    const fixture = await oidcUpstream({});
    const { env, browserRuns } = await workspace();
    const proxy = await proxyFor({ name: 'nodevice', url: fixture.mcpUrl, oauth: { flow: 'device' } }, env);
    await proxy.waitForState('nodevice', 'failed', 15_000);
    const [status] = proxy.proxy.status().upstreams;
    expect(status?.lastError?.code).toBe('ERR_UPSTREAM_AUTH_NO_DEVICE_FLOW');
    expect(status?.lastError?.message).toBe(
      'upstream "nodevice": oauth.flow is "device", but its authorization server offers no device authorization endpoint (RFC 8628); use the browser flow',
    );
    expect(await browserRuns()).toBe(0);
    // Checked before anything else: no client was registered for a flow the server does not offer.
    expect(fixture.counters.registrations).toBe(0);
  }, 30_000);

  it('stops polling when the code expires unapproved, saying so', async () => {
    const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1, codeTtlSeconds: 3 } });
    const { env } = await workspace();
    const proxy = await proxyFor({ name: 'late', url: fixture.mcpUrl, oauth: { flow: 'device' } }, env);
    const { line } = await devicePrompt(proxy);
    // oidc-provider rounds the lifetime left down: 3 s, or 2 s when the second turned meanwhile.
    const lifetime = /\(expires in ([23]) s\)/.exec(line)?.[1];
    expect(lifetime).toBeDefined();
    await proxy.waitForState('late', 'needsSignIn', 10_000);
    expect(proxy.logs.join('\n')).toContain(
      `upstream "late": the sign-in code was not approved in time (${lifetime} s); a call starts a new sign-in`,
    );
    const polls = fixture.counters.devicePolls.length;
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(3);
  }, 30_000);

  it('signs in a static public client (client_id in the form, no secret) registered for the device grant', async () => {
    const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1 } });
    const { env } = await workspace();
    const response = await fetch(`${fixture.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    });
    expect(response.status).toBe(201);
    const { client_id: clientId } = (await response.json()) as { client_id: string };
    const proxy = await proxyFor(
      { name: 'public', url: fixture.mcpUrl, oauth: { flow: 'device' } },
      { ...env, PROXY_PUBLIC_CLIENT_ID: clientId },
    );
    const { url } = await devicePrompt(proxy);
    await new DeviceUser().approve(url);
    await proxy.waitForState('public', /^connected\.ready/, 15_000);
    expect(await echo(proxy, 'public')).toEqual({ text: 'public', isError: false });
    // The one registration is the test's own: the proxy used the static client.
    expect(fixture.counters.registrations).toBe(1);
  }, 30_000);

  it.each([
    ['registers again when a stored registration lacks the device grant', ['authorization_code', 'refresh_token'], 2],
    [
      'keeps a stored registration for another redirect when it has the device grant',
      ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
      1,
    ],
  ] as const)(
    '%s',
    async (_title, grants, registrations) => {
      const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1 } });
      const { env } = await workspace();
      // A registration an earlier sign-in made, for another callback port (the device flow needs no redirect).
      const response = await fetch(`${fixture.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          application_type: 'native',
          redirect_uris: ['http://127.0.0.1:1/callback'],
          grant_types: grants,
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
          scope: 'mcp:tools offline_access',
        }),
      });
      expect(response.status).toBe(201);
      const registration = (await response.json()) as Record<string, unknown>;
      const dir = join(env.PROXY_TOKEN_DIR, 'stored');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, 'client-info.json'), JSON.stringify(registration), { mode: 0o600 });

      const proxy = await proxyFor({ name: 'stored', url: fixture.mcpUrl, oauth: { flow: 'device' } }, env);
      const { url } = await devicePrompt(proxy);
      expect(fixture.counters.registrations).toBe(registrations);
      const stored = JSON.parse(await readFile(join(dir, 'client-info.json'), 'utf8')) as {
        client_id: string;
        grant_types: string[];
      };
      expect(stored.client_id === registration.client_id).toBe(registrations === 1);
      expect(stored.grant_types).toContain(DEVICE_CODE_GRANT);
      await new DeviceUser().approve(url);
      await proxy.waitForState('stored', /^connected\.ready/, 15_000);
    },
    30_000,
  );

  it('ends a denied sign-in with a clear message, waiting for a call to start another', async () => {
    const fixture = await oidcUpstream({ deviceFlow: { intervalSeconds: 1 } });
    const { env } = await workspace();
    const proxy = await proxyFor({ name: 'denied', url: fixture.mcpUrl, oauth: { flow: 'device' } }, env);
    const { url } = await devicePrompt(proxy);
    const result = await new DeviceUser().approve(url, { abort: true });
    expect(result.page).toContain('The Sign-in request was interrupted');
    await proxy.waitForState('denied', 'needsSignIn', 15_000);
    expect(proxy.proxy.status().upstreams[0]?.lastError).toBeUndefined();
    expect(proxy.logs.join('\n')).toContain('upstream "denied": the sign-in was denied; a call starts a new sign-in');
    expect(fixture.counters.tokensIssued[DEVICE_CODE_GRANT]).toBeUndefined();

    // Polling stopped with the denial: two more intervals (1 s) pass without a token request.
    const polls = fixture.counters.devicePolls.length;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(fixture.counters.devicePolls).toHaveLength(polls);
    expect(proxy.proxy.status().upstreams[0]?.state).toBe('needsSignIn');
  }, 45_000);
});
