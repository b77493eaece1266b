import { request as httpRequest } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readOAuthSettings } from '../../src/config/index.js';
import {
  OAuthAuthorizationDeniedError,
  OAuthCallbackAbortedError,
  OAuthCallbackListenError,
  OAuthCallbackTimeoutError,
} from '../../src/errors/index.js';
import {
  CallbackServer,
  type CallbackServerOptions,
  closeSharedCallbackServer,
  escapeHtml,
  sharedCallbackServer,
} from '../../src/oauth/callback.js';
import { createLogger } from '../../src/observe/log.js';
import { acceptsConnection, externalAddress } from '../fixtures/loopback-probe.js';

const LONG = 20_000; // a wait that no test lets run out
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ debug: true, write: (line) => lines.push(line) }) };
}

async function start(options: CallbackServerOptions = {}) {
  const { lines, logger } = capturingLogger();
  const server = await CallbackServer.start({ port: 0, logger, ...options });
  cleanups.push(() => server.close());
  return { server, lines };
}

async function callback(server: CallbackServer, query: Record<string, string> | string, init?: RequestInit) {
  const search = typeof query === 'string' ? query : new URLSearchParams(query).toString();
  const response = await fetch(`${server.redirectUri}?${search}`, init);
  return { status: response.status, type: response.headers.get('content-type'), html: await response.text() };
}

/** Settles to 'pending' when the promise has not settled by the next macrotask. */
async function peek<T>(promise: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<symbol>((resolve) => setTimeout(() => resolve(marker), 20)),
  ]);
  return result === marker ? 'pending' : (result as 'resolved' | 'rejected');
}

/** Occupies a free loopback port, the way another program on the machine would. */
async function occupyPort(): Promise<number> {
  const blocker: NetServer = createNetServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
  cleanups.push(() => new Promise((resolve) => blocker.close(() => resolve())));
  const address = blocker.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('CallbackServer routing', () => {
  it('routes two concurrent sign-ins by state, each to its own waiter', async () => {
    const { server } = await start();
    expect(server.redirectUri).toBe(`http://127.0.0.1:${server.port}/callback`);
    const alpha = server.waitFor('state-alpha', { upstream: 'alpha', timeoutMs: LONG });
    const beta = server.waitFor('state-beta', { upstream: 'beta', timeoutMs: LONG });

    const betaPage = await callback(server, { code: 'code-b', state: 'state-beta', iss: 'https://as.example' });
    expect(betaPage.status).toBe(200);
    expect(betaPage.type).toBe('text/html; charset=utf-8');
    expect(betaPage.html).toContain('Signed in to <strong>beta</strong>. You can close this tab.');
    const betaResult = await beta;
    expect(betaResult).toMatchObject({ code: 'code-b', state: 'state-beta', iss: 'https://as.example' });
    expect(betaResult.params.get('code')).toBe('code-b');
    expect(await peek(alpha)).toBe('pending');

    expect((await callback(server, { code: 'code-a', state: 'state-alpha' })).status).toBe(200);
    const alphaResult = await alpha;
    expect(alphaResult).toMatchObject({ code: 'code-a', state: 'state-alpha' });
    expect(alphaResult.iss).toBeUndefined();
  });

  it('a reused state gets a 400 page; the other waiter is unaffected', async () => {
    const { server, lines } = await start();
    const first = server.waitFor('s1', { upstream: 'first', timeoutMs: LONG });
    const second = server.waitFor('s2', { upstream: 'second', timeoutMs: LONG });
    await callback(server, { code: 'c1', state: 's1' });
    await expect(first).resolves.toMatchObject({ code: 'c1' });

    const replay = await callback(server, { code: 'c1-again', state: 's1' });
    expect(replay.status).toBe(400);
    expect(replay.html).toContain('already used');
    expect(replay.html).not.toContain('c1-again');
    expect(lines.join('\n')).toContain('already used');
    expect(await peek(second)).toBe('pending');
    await callback(server, { code: 'c2', state: 's2' });
    await expect(second).resolves.toMatchObject({ code: 'c2', state: 's2' });
    // Nor can a used state be waited for again.
    await expect(server.waitFor('s1', { upstream: 'first', timeoutMs: LONG })).rejects.toThrow('already used');
  });

  it('a forged, missing or repeated state gets a 400 page and the flow goes on waiting', async () => {
    const { server } = await start();
    const waiting = server.waitFor('the-real-state', { upstream: 'alpha', timeoutMs: LONG });
    const forgeries: Array<Record<string, string> | string> = [
      { code: 'x', state: 'forged' },
      { code: 'x', state: 'the-real-stat' }, // a prefix
      { code: 'x', state: 'the-real-state-and-more' },
      { code: 'x' },
      'code=x&state=the-real-state&state=the-real-state',
    ];
    for (const query of forgeries) {
      const page = await callback(server, query);
      expect(page.status).toBe(400);
      expect(page.html).toContain('does not belong to a sign-in in progress');
    }
    // A callback with the right state but neither code nor error is not an answer either.
    const empty = await callback(server, { state: 'the-real-state' });
    expect(empty.status).toBe(400);
    expect(await peek(waiting)).toBe('pending');
    await callback(server, { code: 'real', state: 'the-real-state' });
    await expect(waiting).resolves.toMatchObject({ code: 'real' });
  });

  it('answers 404 to other paths and to methods other than GET', async () => {
    const { server } = await start();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/callback/extra?code=c&state=st`)).status).toBe(404);
    expect((await fetch(`${base}/callback?code=c&state=st`, { method: 'POST', body: '' })).status).toBe(404);
    expect(await peek(waiting)).toBe('pending');
  });
});

/** A GET with the headers a browser (or a forged request) would send; fetch cannot forge Host. */
function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('CallbackServer answers only requests addressed to it, from no other site', () => {
  const refusals: Array<{ what: string; headers: (port: number) => Record<string, string>; status: number }> = [
    { what: 'another name (DNS rebinding)', headers: (port) => ({ host: `evil.example:${port}` }), status: 421 },
    { what: 'another port', headers: (port) => ({ host: `127.0.0.1:${port + 1}` }), status: 421 },
    { what: 'no port', headers: () => ({ host: '127.0.0.1' }), status: 421 },
    {
      what: 'a cross-site Origin',
      headers: (port) => ({ host: `127.0.0.1:${port}`, origin: 'https://evil.example' }),
      status: 403,
    },
    { what: 'Origin: null', headers: (port) => ({ host: `127.0.0.1:${port}`, origin: 'null' }), status: 403 },
    {
      what: 'the Origin of another loopback port',
      headers: (port) => ({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port + 1}` }),
      status: 403,
    },
  ];

  it.each(refusals)('$what → $status, and the waiting sign-in is not answered', async ({ headers, status }) => {
    const { server, lines } = await start();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    const refused = await rawGet(server.port, '/callback?code=c&state=st', headers(server.port));
    expect(refused.status).toBe(status);
    expect(refused.body).not.toContain('alpha');
    expect(lines.some((line) => line.includes('OAuth callback refused'))).toBe(true);
    expect(await peek(waiting)).toBe('pending');
    // The real callback still gets through.
    await callback(server, { code: 'real', state: 'st' });
    await expect(waiting).resolves.toMatchObject({ code: 'real' });
  });

  it.each([
    ['localhost', (port: number) => ({ host: `localhost:${port}` })],
    ['its own Origin', (port: number) => ({ host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` })],
    [
      'the localhost Origin, any case',
      (port: number) => ({ host: `LocalHost:${port}`, origin: `http://LOCALHOST:${port}` }),
    ],
  ])('accepts %s', async (_what, headers) => {
    const { server } = await start();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    const page = await rawGet(server.port, '/callback?code=c&state=st', headers(server.port));
    expect(page.status).toBe(200);
    await expect(waiting).resolves.toMatchObject({ code: 'c' });
  });
});

describe('CallbackServer errors and pages', () => {
  it('error=access_denied rejects the waiter with a clear message and shows an escaped error page', async () => {
    const { server, lines } = await start();
    // Caught at once: it rejects while the callback request is still being answered.
    const outcome = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG }).catch((e: unknown) => e);
    const description = 'The user <script>alert(1)</script> said "no"\nINJECTED LINE';
    const page = await callback(server, {
      error: 'access_denied',
      error_description: description,
      state: 'st',
      code: 'SECRET-CODE-1',
    });
    const error = await outcome;
    expect(error).toBeInstanceOf(OAuthAuthorizationDeniedError);
    expect(error).toMatchObject({ code: 'ERR_PROXY_OAUTH_DENIED', error: 'access_denied', upstream: 'alpha' });
    const message = (error as Error).message;
    expect(message).toContain('upstream "alpha": sign-in failed: access_denied');
    expect(message).toContain('said "no"');
    expect(message).not.toContain('\n'); // a description cannot add lines to a log
    expect(message).not.toContain('SECRET-CODE-1');

    expect(page.status).toBe(200);
    expect(page.html).toContain('Sign-in to <strong>alpha</strong> failed: <code>access_denied</code>');
    expect(page.html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(page.html).not.toContain('<script>');
    expect(page.html).not.toContain('SECRET-CODE-1');
    expect(lines.join('\n')).not.toContain('SECRET-CODE-1');
  });

  it('escapes the upstream name in pages, and never shows or logs the code', async () => {
    const { server, lines } = await start();
    const name = '<b>x&y"z\'</b>';
    const waiting = server.waitFor('st', { upstream: name, timeoutMs: LONG });
    const page = await callback(server, { code: 'SECRET-CODE-2', state: 'st' });
    await waiting;
    expect(page.html).toContain(`Signed in to <strong>${escapeHtml(name)}</strong>`);
    expect(page.html).toContain('&#60;b&#62;x&#38;y&#34;z&#39;&#60;/b&#62;');
    expect(page.html).not.toContain('<b>');
    expect(page.html).not.toContain('SECRET-CODE-2');
    expect(lines.join('\n')).not.toContain('SECRET-CODE-2');
  });

  it('sends pages that cannot leak the code through a Referer or load anything', async () => {
    const { server } = await start();
    void server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    const response = await fetch(`${server.redirectUri}?code=c&state=st`);
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    await response.text();
  });
});

describe('CallbackServer timeouts, aborts and close', () => {
  it('rejects after timeoutMs; a late callback then gets a 400', async () => {
    const { server } = await start();
    const started = Date.now();
    const error = await server.waitFor('late', { upstream: 'alpha', timeoutMs: 50 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(OAuthCallbackTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_PROXY_OAUTH_TIMEOUT', upstream: 'alpha', timeoutMs: 50 });
    expect((error as Error).message).toBe('upstream "alpha": no sign-in completed within 50 ms');
    const page = await callback(server, { code: 'c', state: 'late' });
    expect(page.status).toBe(400);
    expect(page.html).toContain('timed out');
  });

  it('rejects when its signal aborts, already or later, and leaves the others waiting', async () => {
    const { server } = await start();
    const other = server.waitFor('other', { upstream: 'other', timeoutMs: LONG });
    const controller = new AbortController();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG, signal: controller.signal });
    controller.abort(new Error('upstream removed'));
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthCallbackAbortedError);
    expect(error).toMatchObject({ code: 'ERR_PROXY_OAUTH_ABORTED', cause: new Error('upstream removed') });
    expect((await callback(server, { code: 'c', state: 'st' })).status).toBe(400);

    await expect(
      server.waitFor('st2', { upstream: 'alpha', timeoutMs: LONG, signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(OAuthCallbackAbortedError);
    expect(await peek(other)).toBe('pending');
  });

  it('close() rejects pending waits, stops listening, and refuses new waits', async () => {
    const { server } = await start();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    const closing = server.close();
    await expect(waiting).rejects.toThrow('upstream "alpha": sign-in wait ended: callback server closed');
    await closing;
    expect(await acceptsConnection('127.0.0.1', server.port)).toBe(false);
    await expect(server.waitFor('new', { upstream: 'alpha', timeoutMs: LONG })).rejects.toBeInstanceOf(
      OAuthCallbackAbortedError,
    );
    await server.close(); // twice is fine
  });

  it('refuses to wait twice for the same state, or for an empty one', async () => {
    const { server } = await start();
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    await expect(server.waitFor('st', { upstream: 'beta', timeoutMs: LONG })).rejects.toThrow('already used');
    await expect(server.waitFor('', { upstream: 'beta', timeoutMs: LONG })).rejects.toThrow('must not be empty');
    await expect(server.waitFor('other', { upstream: 'beta', timeoutMs: 2 ** 31 })).rejects.toThrow(
      'timeoutMs must be from 1 to 2147483647',
    );
    await callback(server, { code: 'c', state: 'st' });
    await expect(waiting).resolves.toMatchObject({ code: 'c' });
  });
});

describe('CallbackServer ports', () => {
  it('listens on 127.0.0.1 only', async () => {
    const { server } = await start();
    expect(await acceptsConnection('127.0.0.1', server.port)).toBe(true);
    if (externalAddress) expect(await acceptsConnection(externalAddress, server.port)).toBe(false);
  });

  it('falls back to a free port of the range when the preferred one is taken', async () => {
    const taken = await occupyPort();
    const { server, lines } = await start({ port: taken, range: [3000, 4000] });
    expect(server.port).not.toBe(taken);
    expect(server.port).toBeGreaterThanOrEqual(3000);
    expect(server.port).toBeLessThanOrEqual(4000);
    expect(server.redirectUri).toBe(`http://127.0.0.1:${server.port}/callback`);
    expect(lines).toContain(
      `[mcp-upstream-proxy] warning: OAuth callback port ${taken} is in use; using ${server.port} instead`,
    );
    const waiting = server.waitFor('st', { upstream: 'alpha', timeoutMs: LONG });
    await callback(server, { code: 'c', state: 'st' });
    await expect(waiting).resolves.toMatchObject({ code: 'c' });
    if (externalAddress) expect(await acceptsConnection(externalAddress, server.port)).toBe(false);
  });

  it('fails with an error naming the port to free when the range has no free port', async () => {
    const taken = await occupyPort();
    const error = await CallbackServer.start({ port: taken, range: [taken, taken] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthCallbackListenError);
    expect((error as Error).message).toBe(
      `OAuth callback port ${taken} is in use, and no port from ${taken} to ${taken} is free: free port ${taken} ` +
        'or set PROXY_OAUTH_CALLBACK_PORT to a free port',
    );
  });

  it('takes its preferred port from PROXY_OAUTH_CALLBACK_PORT, as config resolves it', async () => {
    const taken = await occupyPort();
    const { callbackPort } = readOAuthSettings({ PROXY_OAUTH_CALLBACK_PORT: String(taken) });
    await expect(CallbackServer.start({ port: callbackPort, range: [taken, taken] })).rejects.toThrow(
      `free port ${taken}`,
    );
  });
});

describe('sharedCallbackServer', () => {
  it('starts once on first use, returns the same server after, and starts anew after closing', async () => {
    cleanups.push(() => closeSharedCallbackServer());
    const [first, second] = await Promise.all([sharedCallbackServer({ port: 0 }), sharedCallbackServer({ port: 0 })]);
    expect(second).toBe(first);
    expect(await sharedCallbackServer()).toBe(first);
    await closeSharedCallbackServer();
    expect(await acceptsConnection('127.0.0.1', first.port)).toBe(false);
    const third = await sharedCallbackServer({ port: 0 });
    expect(third).not.toBe(first);
    expect(await acceptsConnection('127.0.0.1', third.port)).toBe(true);
  });

  it('forgets a failed start, so the next use tries again', async () => {
    cleanups.push(() => closeSharedCallbackServer());
    const taken = await occupyPort();
    await expect(sharedCallbackServer({ port: taken, range: [taken, taken] })).rejects.toBeInstanceOf(
      OAuthCallbackListenError,
    );
    const server = await sharedCallbackServer({ port: 0 });
    expect(await acceptsConnection('127.0.0.1', server.port)).toBe(true);
  });
});
