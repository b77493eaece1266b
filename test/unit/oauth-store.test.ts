/**
 * The token store and the sign-in lock, on real files under the OS temp folder, with real child processes for
 * the lock races.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokenRoot } from '../../src/config/index.js';
import { InvalidUpstreamNameError, SignInLockTimeoutError } from '../../src/errors/index.js';
import { acquireSignInLock, SIGN_IN_LOCK_FILE } from '../../src/oauth/lock.js';
import { CLIENT_FILE, type StoredClient, type StoredTokens, TOKENS_FILE, TokenStore } from '../../src/oauth/store.js';

const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const posix = process.platform !== 'win32';
const SECRET = 'sekrit-value-that-must-not-leak';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'oauth-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** A store that records its warnings. */
function storeWithWarnings(upstream = 'atlassian'): { store: TokenStore; warnings: string[] } {
  const warnings: string[] = [];
  return { store: new TokenStore(root, upstream, { onWarning: (message) => warnings.push(message) }), warnings };
}

/** Writes a file as another tool would (not through the store). */
async function plant(store: TokenStore, name: string, content: unknown): Promise<string> {
  await mkdir(store.dir, { recursive: true });
  const path = join(store.dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('tokenRoot', () => {
  it('is ~/.mcp-devtools/oauth by default, where mcp-devtools keeps its tokens', () => {
    const home = posix ? { HOME: '/home/someone' } : { USERPROFILE: 'C:\\Users\\someone' };
    expect(tokenRoot(home)).toBe(join(Object.values(home)[0]!, '.mcp-devtools', 'oauth'));
    expect(tokenRoot({ ...home, PROXY_TOKEN_DIR: '  ' })).toBe(join(Object.values(home)[0]!, '.mcp-devtools', 'oauth'));
  });

  it('is PROXY_TOKEN_DIR when set: absolute, relative to the working folder, or under ~', () => {
    const home = posix ? { HOME: '/home/someone' } : { USERPROFILE: 'C:\\Users\\someone' };
    expect(tokenRoot({ ...home, PROXY_TOKEN_DIR: root })).toBe(root);
    expect(tokenRoot({ ...home, PROXY_TOKEN_DIR: 'tokens' })).toBe(resolve('tokens'));
    expect(tokenRoot({ ...home, PROXY_TOKEN_DIR: '~/tok' })).toBe(join(Object.values(home)[0]!, 'tok'));
  });

  it('moves the files of a store built on it', async () => {
    const store = new TokenStore(tokenRoot({ PROXY_TOKEN_DIR: root }), 'moved');
    await store.writeTokens({ accessToken: 'a', tokenType: 'Bearer' });
    expect(await readdir(join(root, 'moved'))).toEqual([TOKENS_FILE]);
  });
});

describe('TokenStore', () => {
  const full: StoredTokens = {
    accessToken: 'access-1',
    tokenType: 'Bearer',
    refreshToken: 'refresh-1',
    expiresAt: Date.UTC(2030, 0, 2, 3, 4, 5, 678),
    scope: 'read write',
    issuer: 'https://auth.example.com',
  };

  it('reads nothing (and creates nothing) before anything is written', async () => {
    const store = new TokenStore(root, 'empty');
    expect(await store.readTokens()).toBeUndefined();
    expect(await store.readClient()).toBeUndefined();
    await store.clearTokens();
    await store.clearClient();
    expect(await readdir(root)).toEqual([]);
  });

  it('round-trips tokens, and writes them with OAuth names, an ISO expires_at and the issuer', async () => {
    const store = new TokenStore(root, 'atlassian');
    expect(store.dir).toBe(join(root, 'atlassian'));
    await store.writeTokens(full);
    expect(await store.readTokens()).toEqual(full);
    expect(JSON.parse(await readFile(join(store.dir, TOKENS_FILE), 'utf8'))).toEqual({
      access_token: 'access-1',
      token_type: 'Bearer',
      refresh_token: 'refresh-1',
      expires_at: '2030-01-02T03:04:05.678Z',
      scope: 'read write',
      issuer: 'https://auth.example.com',
    });

    const minimal: StoredTokens = { accessToken: 'access-2', tokenType: 'DPoP' };
    await store.writeTokens(minimal);
    expect(await store.readTokens()).toEqual(minimal);
    expect(JSON.parse(await readFile(join(store.dir, TOKENS_FILE), 'utf8'))).toEqual({
      access_token: 'access-2',
      token_type: 'DPoP',
    });
  });

  it('round-trips the client, keeping the rest of the registration', async () => {
    const store = new TokenStore(root, 'atlassian');
    const client: StoredClient = {
      clientId: 'client-1',
      clientSecret: 'secret-1',
      clientSecretExpiresAt: 0,
      redirectUris: ['http://127.0.0.1:8765/callback'],
      tokenEndpointAuthMethod: 'client_secret_post',
      issuer: 'https://auth.example.com',
      raw: { client_id: 'client-1', client_id_issued_at: 1_700_000_000, grant_types: ['authorization_code'] },
    };
    await store.writeClient(client);
    const written = JSON.parse(await readFile(join(store.dir, CLIENT_FILE), 'utf8'));
    expect(written).toEqual({
      client_id: 'client-1',
      client_id_issued_at: 1_700_000_000,
      grant_types: ['authorization_code'],
      client_secret: 'secret-1',
      client_secret_expires_at: 0,
      redirect_uris: ['http://127.0.0.1:8765/callback'],
      token_endpoint_auth_method: 'client_secret_post',
      issuer: 'https://auth.example.com',
    });
    expect(await store.readClient()).toEqual({ ...client, raw: written });

    // The typed fields win over raw; an undefined one removes the field.
    await store.writeClient({ clientId: 'client-2', raw: { client_id: 'old', client_secret: 'old-secret', x: 1 } });
    expect(await store.readClient()).toEqual({ clientId: 'client-2', raw: { client_id: 'client-2', x: 1 } });
  });

  it('clears tokens and client separately', async () => {
    const store = new TokenStore(root, 'atlassian');
    await store.writeTokens(full);
    await store.writeClient({ clientId: 'c', raw: {} });
    await store.clearTokens();
    expect(await store.readTokens()).toBeUndefined();
    expect(await store.readClient()).toMatchObject({ clientId: 'c' });
    await store.clearClient();
    await store.clearClient();
    expect(await store.readClient()).toBeUndefined();
  });

  it.runIf(posix)('makes the folder 0700 and the files 0600, tightening a looser existing folder', async () => {
    const store = new TokenStore(join(root, 'nested', 'root'), 'atlassian');
    await store.writeTokens(full);
    await store.writeClient({ clientId: 'c', raw: {} });
    expect(await modeOf(store.dir)).toBe(0o700);
    expect(await modeOf(join(store.dir, TOKENS_FILE))).toBe(0o600);
    expect(await modeOf(join(store.dir, CLIENT_FILE))).toBe(0o600);

    await chmod(store.dir, 0o755);
    await store.writeTokens(full);
    expect(await modeOf(store.dir)).toBe(0o700);
    expect(await modeOf(join(store.dir, TOKENS_FILE))).toBe(0o600);
  });

  it.runIf(posix)('tightens a token file another tool left readable by others when it reads it', async () => {
    const store = new TokenStore(root, 'atlassian');
    const path = await plant(store, TOKENS_FILE, { access_token: 'a', token_type: 'Bearer' });
    await chmod(path, 0o644);
    expect(await store.readTokens()).toEqual({ accessToken: 'a', tokenType: 'Bearer' });
    expect(await modeOf(path)).toBe(0o600);
  });

  it('leaves no temp file behind, even after many writes', async () => {
    const store = new TokenStore(root, 'atlassian');
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.writeTokens({ ...full, accessToken: `access-${i}` })));
    await store.writeClient({ clientId: 'c', raw: {} });
    expect((await readdir(store.dir)).sort()).toEqual([CLIENT_FILE, TOKENS_FILE]);
    expect((await store.readTokens())?.accessToken).toMatch(/^access-\d+$/);
  });

  it('never lets a reader see a partial file while writes go on', async () => {
    const store = new TokenStore(root, 'atlassian');
    // Large tokens of different sizes: a non-atomic write would be caught truncated or half-written.
    const tokenFor = (i: number) => `${String(i).padStart(4, '0')}:${'x'.repeat(100_000 + ((i * 7919) % 150_000))}`;
    await store.writeTokens({ ...full, accessToken: tokenFor(0) });
    let writing = true;
    const writers = (async () => {
      for (let round = 0; round < 8; round++) {
        await Promise.all(
          Array.from({ length: 6 }, (_, k) => store.writeTokens({ ...full, accessToken: tokenFor(round * 6 + k + 1) })),
        );
      }
      writing = false;
    })();
    let reads = 0;
    const bad: string[] = [];
    const readers = Array.from({ length: 4 }, async () => {
      while (writing) {
        const tokens = await store.readTokens();
        const raw = await readFile(join(store.dir, TOKENS_FILE), 'utf8');
        reads++;
        const i = Number(tokens?.accessToken.slice(0, 4));
        if (!tokens || tokens.accessToken !== tokenFor(i) || tokens.refreshToken !== full.refreshToken) {
          bad.push(`readTokens gave ${tokens ? `a token of ${tokens.accessToken.length} chars` : 'nothing'}`);
        }
        try {
          JSON.parse(raw);
        } catch {
          bad.push(`the file held ${raw.length} chars of incomplete JSON`);
        }
      }
    });
    await Promise.all([writers, ...readers]);
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    expect(await readdir(store.dir)).toEqual([TOKENS_FILE]);
  });

  describe('reads files written by mcp-devtools (Go) and other tools leniently', () => {
    it('Go tokens: RFC 3339 with nanoseconds and an offset, expires_in, unknown fields', async () => {
      const { store, warnings } = storeWithWarnings();
      await plant(store, TOKENS_FILE, {
        access_token: 'go-access',
        token_type: 'bearer',
        refresh_token: 'go-refresh',
        expires_in: 3600,
        expires_at: '2030-01-01T10:00:00.123456789+10:00',
        scope: 'a b',
        something_new: { nested: true },
      });
      expect(await store.readTokens()).toEqual({
        accessToken: 'go-access',
        tokenType: 'bearer',
        refreshToken: 'go-refresh',
        expiresAt: Date.UTC(2030, 0, 1, 0, 0, 0, 123),
        scope: 'a b',
      });
      expect(warnings).toEqual([]);
    });

    it.each([
      ['epoch seconds', 1_893_456_000, 1_893_456_000_000],
      ['epoch milliseconds', 1_893_456_000_123, 1_893_456_000_123],
      ['epoch seconds as text', '1893456000', 1_893_456_000_000],
      ['RFC 3339 in UTC', '2030-01-01T00:00:00Z', 1_893_456_000_000],
      ["Go's zero time (no expiry)", '0001-01-01T00:00:00Z', undefined],
      ['zero (no expiry)', 0, undefined],
      ['null (no expiry)', null, undefined],
      ['an empty string (no expiry)', '', undefined],
    ])('expires_at as %s', async (_, expiresAt, expected) => {
      const store = new TokenStore(root, 'atlassian');
      await plant(store, TOKENS_FILE, { access_token: 'a', token_type: 'Bearer', expires_at: expiresAt });
      expect((await store.readTokens())?.expiresAt).toBe(expected);
    });

    it('counts a lone expires_in from when the file was written', async () => {
      const store = new TokenStore(root, 'atlassian');
      const path = await plant(store, TOKENS_FILE, { access_token: 'a', expires_in: 3600 });
      const written = new Date(Date.UTC(2029, 5, 1, 12, 0, 0));
      await utimes(path, written, written);
      expect(await store.readTokens()).toEqual({
        accessToken: 'a',
        tokenType: 'Bearer',
        expiresAt: written.getTime() + 3_600_000,
      });
    });

    it('treats an expires_at that is no date as expired, so the token is refreshed rather than trusted', async () => {
      const { store, warnings } = storeWithWarnings();
      await plant(store, TOKENS_FILE, { access_token: SECRET, token_type: 'Bearer', expires_at: 'next tuesday' });
      expect((await store.readTokens())?.expiresAt).toBe(0);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('expires_at');
      expect(warnings[0]).not.toContain(SECRET);
    });

    it('Go client info: null redirect_uris, a zero secret expiry, fields it does not know about', async () => {
      const store = new TokenStore(root, 'atlassian');
      const goClient = {
        client_id: 'go-client',
        client_secret: 'go-secret',
        client_id_issued_at: 1_700_000_000,
        client_secret_expires_at: 0,
        redirect_uris: null,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        client_name: 'mcp-devtools',
      };
      await plant(store, CLIENT_FILE, goClient);
      expect(await store.readClient()).toEqual({
        clientId: 'go-client',
        clientSecret: 'go-secret',
        clientSecretExpiresAt: 0,
        tokenEndpointAuthMethod: 'client_secret_basic',
        raw: goClient,
      });
      await plant(store, CLIENT_FILE, { client_id: 'c', client_secret_expires_at: '2030-01-01T00:00:00Z' });
      expect((await store.readClient())?.clientSecretExpiresAt).toBe(1_893_456_000);
    });
  });

  describe('a corrupt file reads as nothing, stays where it is, and no secret reaches the warning', () => {
    it.each([
      ['not JSON', `{"access_token": "${SECRET}", "token_type": `],
      ['empty', ''],
      ['a JSON array', JSON.stringify([SECRET])],
      ['without an access token', JSON.stringify({ refresh_token: SECRET, token_type: 'Bearer' })],
      ['with a number as access token', JSON.stringify({ access_token: 42, refresh_token: SECRET })],
      ['with an empty access token', JSON.stringify({ access_token: '', refresh_token: SECRET })],
    ])('tokens.json %s', async (_, content) => {
      const { store, warnings } = storeWithWarnings();
      const path = await plant(store, TOKENS_FILE, content);
      await expect(store.readTokens()).resolves.toBeUndefined();
      expect(await readFile(path, 'utf8')).toBe(content);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(path);
      expect(warnings[0]).not.toContain(SECRET);
      // The path is random (mkdtemp) and may hold "42" itself: only the rest must not echo the value.
      expect(warnings[0]!.replace(path, '')).not.toContain('42');
    });

    it('client-info.json without a client id, and a folder where a file should be', async () => {
      const { store, warnings } = storeWithWarnings();
      await plant(store, CLIENT_FILE, { client_secret: SECRET });
      await mkdir(join(store.dir, TOKENS_FILE));
      expect(await store.readClient()).toBeUndefined();
      expect(await store.readTokens()).toBeUndefined();
      expect(warnings).toHaveLength(2);
      expect(warnings.join('\n')).not.toContain(SECRET);
    });

    it('a corrupt file is replaced by the next write', async () => {
      const store = new TokenStore(root, 'atlassian');
      await plant(store, TOKENS_FILE, '{garbage');
      await store.writeTokens(full);
      expect(await store.readTokens()).toEqual(full);
    });
  });

  it.each([
    '..',
    '.',
    '../escape',
    'a/b',
    'a\\b',
    '/etc',
    'C:\\temp',
    '',
    'x'.repeat(65),
    'name with space',
    'nul\0byte',
  ])('refuses the upstream name %j before touching the file system', (name) => {
    expect(() => new TokenStore(root, name)).toThrow(InvalidUpstreamNameError);
    try {
      new TokenStore(root, name);
    } catch (error) {
      expect((error as InvalidUpstreamNameError).code).toBe('ERR_TOKEN_STORE_NAME');
    }
  });

  it('accepts every name the config accepts', () => {
    for (const name of ['a', 'A-b_9', 'x'.repeat(64)]) {
      expect(new TokenStore(root, name).dir).toBe(join(root, name));
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

async function readLock(dir: string): Promise<{ pid: number; hostname: string; createdAt: string; token?: string }> {
  return JSON.parse(await readFile(join(dir, SIGN_IN_LOCK_FILE), 'utf8'));
}

async function plantLock(dir: string, holder: Record<string, unknown> | string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, SIGN_IN_LOCK_FILE);
  await writeFile(path, typeof holder === 'string' ? holder : JSON.stringify(holder));
  return path;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await once(child, 'exit');
  return pid;
}

describe.runIf(posix)('TokenStore: a token root that others can open', () => {
  /** A root of its own under the test folder, with `mode`. */
  async function rootWithMode(mode: number, name = 'tokens'): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir);
    await chmod(dir, mode);
    return dir;
  }

  it.each([0o755, 0o750, 0o770, 0o707, 0o701])(
    'mode %o: one warning naming the folder and the chmod that fixes it',
    async (mode) => {
      const dir = await rootWithMode(mode);
      const warnings: string[] = [];
      const store = new TokenStore(dir, 'atlassian', { onWarning: (message) => warnings.push(message) });
      await store.readTokens();
      expect(warnings).toEqual([
        `token store: the folder ${dir} is open to other users (mode ${mode.toString(8)}); it holds OAuth tokens, make it private: chmod 700 ${dir}`,
      ]);
      // Left as it is: the user may share it on purpose.
      expect(await modeOf(dir)).toBe(mode);
    },
  );

  it('warns once per process, however many reads, writes and upstreams share the root', async () => {
    const dir = await rootWithMode(0o755);
    const warnings: string[] = [];
    const onWarning = (message: string) => warnings.push(message);
    const stores = ['a', 'b', 'c'].map((upstream) => new TokenStore(dir, upstream, { onWarning }));
    await Promise.all(stores.map((store) => store.readTokens()));
    await stores[0]!.writeTokens({ accessToken: 'x', tokenType: 'Bearer' });
    await stores[1]!.readClient();
    expect(await new TokenStore(dir, 'd', { onWarning }).readTokens()).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`chmod 700 ${dir}`);
  });

  it('says nothing about a private root, or one that does not exist yet (it is created private)', async () => {
    const warnings: string[] = [];
    const onWarning = (message: string) => warnings.push(message);
    const privateRoot = await rootWithMode(0o700);
    await new TokenStore(privateRoot, 'a', { onWarning }).readTokens();
    const missing = join(root, 'not-yet');
    await new TokenStore(missing, 'a', { onWarning }).writeTokens({ accessToken: 'x', tokenType: 'Bearer' });
    expect(await modeOf(missing)).toBe(0o700);
    expect(warnings).toEqual([]);
  });

  it('quotes a folder the shell would split', async () => {
    const dir = await rootWithMode(0o755, "it's my tokens");
    const warnings: string[] = [];
    await new TokenStore(dir, 'a', { onWarning: (message) => warnings.push(message) }).readTokens();
    expect(warnings[0]).toContain(`chmod 700 '${dir.replaceAll("'", "'\\''")}'`);
  });
});

describe('acquireSignInLock', () => {
  it('creates the lock with pid, hostname and time, and release removes it', async () => {
    const dir = join(root, 'atlassian');
    const before = Date.now();
    const lock = await acquireSignInLock(dir, { timeoutMs: 1000 });
    expect(lock.waited).toBe(false);
    expect(lock.path).toBe(join(dir, SIGN_IN_LOCK_FILE));
    const holder = await readLock(dir);
    expect(holder).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(Date.parse(holder.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    if (posix) expect(await modeOf(dir)).toBe(0o700);
    await lock.release();
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('makes a second acquirer wait until the first releases', async () => {
    const dir = join(root, 'atlassian');
    const first = await acquireSignInLock(dir, { timeoutMs: 5000 });
    let secondHeld = false;
    const second = acquireSignInLock(dir, { timeoutMs: 5000, pollMs: 10 }).then((lock) => {
      secondHeld = true;
      return lock;
    });
    await delay(200);
    expect(secondHeld).toBe(false);
    await first.release();
    const lock = await second;
    expect(lock.waited).toBe(true);
    expect((await readLock(dir)).pid).toBe(process.pid);
    await lock.release();
  });

  it('times out with an error that names the holder and the lock file', async () => {
    const dir = join(root, 'atlassian');
    const held = await acquireSignInLock(dir, { timeoutMs: 1000 });
    const started = Date.now();
    const error = await acquireSignInLock(dir, { timeoutMs: 300, pollMs: 20 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(error).toBeInstanceOf(SignInLockTimeoutError);
    const timeout = error as SignInLockTimeoutError;
    expect(timeout.code).toBe('ERR_SIGN_IN_LOCK_TIMEOUT');
    expect(timeout.holder).toMatchObject({ pid: process.pid, hostname: hostname() });
    expect(timeout.message).toContain(join(dir, SIGN_IN_LOCK_FILE));
    expect(timeout.message).toContain(`process ${process.pid}`);
    expect(timeout.message).toMatch(/delete that file/);
    // The holder's lock is untouched.
    expect((await readLock(dir)).token).toBeDefined();
    await held.release();
  });

  it('stops waiting when its signal aborts', async () => {
    const dir = join(root, 'atlassian');
    const held = await acquireSignInLock(dir, { timeoutMs: 1000 });
    const controller = new AbortController();
    const waiting = acquireSignInLock(dir, { timeoutMs: 10_000, pollMs: 20, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('upstream stopped')), 50);
    await expect(waiting).rejects.toThrow();
    await held.release();
  });

  it('takes over the lock of a process that is gone', async () => {
    const dir = join(root, 'atlassian');
    const pid = await deadPid();
    await plantLock(dir, { pid, hostname: hostname(), createdAt: new Date().toISOString(), token: 'dead' });
    const started = Date.now();
    const lock = await acquireSignInLock(dir, { timeoutMs: 20_000, pollMs: 10 });
    // Taken over, not waited out: far below the timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await readLock(dir)).toMatchObject({ pid: process.pid });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('waits for a live process on this host, and takes over its lock if it was written before the last boot', async () => {
    const dir = join(root, 'atlassian');
    // The parent of this test process is alive; its pid stands for another proxy process.
    const live = { pid: process.ppid, hostname: hostname(), token: 'live' };
    await plantLock(dir, { ...live, createdAt: new Date().toISOString() });
    await expect(acquireSignInLock(dir, { timeoutMs: 200, pollMs: 20 })).rejects.toBeInstanceOf(SignInLockTimeoutError);
    await plantLock(dir, { ...live, createdAt: '2000-01-01T00:00:00.000Z' });
    const lock = await acquireSignInLock(dir, { timeoutMs: 200, pollMs: 20 });
    expect(await readLock(dir)).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('takes over a lock with its own pid that this process does not hold (left by an earlier process)', async () => {
    const dir = join(root, 'atlassian');
    await plantLock(dir, { pid: process.pid, hostname: hostname(), createdAt: new Date().toISOString(), token: 'old' });
    const lock = await acquireSignInLock(dir, { timeoutMs: 200, pollMs: 20 });
    expect((await readLock(dir)).token).not.toBe('old');
    await lock.release();
  });

  it('trusts a lock from another host until it is untouched for longer than the timeout (and two minutes)', async () => {
    const dir = join(root, 'atlassian');
    const path = await plantLock(dir, {
      pid: process.ppid,
      hostname: `not-${hostname()}`,
      createdAt: new Date().toISOString(),
    });
    await expect(acquireSignInLock(dir, { timeoutMs: 300, pollMs: 20 })).rejects.toBeInstanceOf(SignInLockTimeoutError);
    // Touched a minute ago: still alive for a waiter whose timeout is shorter than two minutes.
    const minuteAgo = new Date(Date.now() - 60_000);
    await plantLock(dir, { pid: process.ppid, hostname: `not-${hostname()}`, createdAt: minuteAgo.toISOString() });
    await utimes(path, minuteAgo, minuteAgo);
    await expect(acquireSignInLock(dir, { timeoutMs: 300, pollMs: 20 })).rejects.toBeInstanceOf(SignInLockTimeoutError);
    const old = new Date(Date.now() - 10 * 60_000);
    await plantLock(dir, { pid: process.ppid, hostname: `not-${hostname()}`, createdAt: old.toISOString() });
    await utimes(path, old, old);
    const lock = await acquireSignInLock(dir, { timeoutMs: 300, pollMs: 20 });
    expect(await readLock(dir)).toMatchObject({ pid: process.pid, hostname: hostname() });
    await lock.release();
  });

  it('treats an unreadable lock as being written until it is a few seconds old', async () => {
    const dir = join(root, 'atlassian');
    const path = await plantLock(dir, '');
    await expect(acquireSignInLock(dir, { timeoutMs: 200, pollMs: 20 })).rejects.toBeInstanceOf(SignInLockTimeoutError);
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const lock = await acquireSignInLock(dir, { timeoutMs: 200, pollMs: 20 });
    expect(await readLock(dir)).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('does not remove a lock that is no longer its own on release', async () => {
    const dir = join(root, 'atlassian');
    const lock = await acquireSignInLock(dir, { timeoutMs: 200 });
    const other = { pid: process.ppid, hostname: hostname(), createdAt: new Date().toISOString(), token: 'other' };
    await plantLock(dir, other);
    await lock.release();
    expect(await readLock(dir)).toEqual(other);
  });

  describe('between processes', () => {
    let build: string;

    // Node 20 runs no TypeScript: transpile the child and every project file it imports (followed through their
    // relative imports) into a temp folder with the same layout, beside a link to node_modules (for zod).
    beforeAll(async () => {
      build = await mkdtemp(join(tmpdir(), 'oauth-lock-build-'));
      const sources = ['test/fixtures/lock-holder.ts'];
      for (const source of sources) {
        const input = await readFile(join(PROJECT, source), 'utf8');
        for (const [, specifier] of input.matchAll(/from '(\.[^']+)\.js'/g)) {
          const imported = join(dirname(source), `${specifier}.ts`);
          if (!sources.includes(imported)) sources.push(imported);
        }
        const { outputText } = ts.transpileModule(input, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
          fileName: source,
        });
        const target = join(build, source.replace(/\.ts$/, '.js'));
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, outputText);
      }
      await writeFile(join(build, 'package.json'), '{"type": "module"}');
      await symlink(join(PROJECT, 'node_modules'), join(build, 'node_modules'), 'junction');
      return () => rm(build, { recursive: true, force: true });
    });

    interface HolderReport {
      pid: number;
      acquired: number;
      overlaps: number;
    }

    async function runHolder(child: ChildProcess): Promise<HolderReport> {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr!.on('data', (chunk) => {
        stderr += chunk;
      });
      const [code] = await once(child, 'exit');
      if (code !== 0) throw new Error(`lock holder exited with ${code}: ${stderr}`);
      return JSON.parse(stdout) as HolderReport;
    }

    it('never lets two processes hold the lock at once, even racing to take over a stale one', async () => {
      const dir = join(root, 'atlassian');
      const markers = join(root, 'markers');
      await mkdir(markers);
      await plantLock(dir, {
        pid: await deadPid(),
        hostname: hostname(),
        createdAt: new Date().toISOString(),
        token: 'dead',
      });
      const children = 4;
      const iterations = 12;
      const startAt = String(Date.now() + 1500);
      const reports = await Promise.all(
        Array.from({ length: children }, () =>
          runHolder(
            spawn(
              process.execPath,
              [join(build, 'test/fixtures/lock-holder.js'), dir, markers, String(iterations), '4', startAt],
              { stdio: ['ignore', 'pipe', 'pipe'] },
            ),
          ),
        ),
      );
      expect(reports.map((report) => report.acquired)).toEqual(Array(children).fill(iterations));
      expect(reports.reduce((sum, report) => sum + report.overlaps, 0)).toBe(0);
      expect(await readdir(markers)).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    }, 30_000);
  });
});
