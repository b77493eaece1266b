/**
 * How the built bin ends a session without holding the client up: requests piped before the end of stdin are all
 * answered, bad lines are answered, signals answer what is open, an orphaned proxy exits, and --help/--version are
 * output. Driven over raw stdio (see raw-stdio.ts), against a real SDK upstream on 127.0.0.1. `npm test` builds first.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream } from '../fixtures/upstreams.js';
import { attachRawSession, BIN, INITIALIZE, INITIALIZED, startRawSession } from './raw-stdio.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let tokenDir = '';
beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), 'proxy-lifecycle-tokens-'));
});
afterAll(() => rm(tokenDir, { recursive: true, force: true }));

/** Only what the proxy needs, so the developer's own PROXY_* or DEBUG variables can't change a test. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PROXY_TOKEN_DIR: tokenDir,
    BROWSER: 'none',
    ...extra,
  };
}

/** `promise`, or a failure if it has not settled after `seconds` (a hang, not a slow machine). */
function withinSeconds<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

async function upstreamEnv(upstream: Record<string, unknown> = {}) {
  const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'slow'] });
  cleanups.push(() => http.close());
  const env = cleanEnv({
    ENABLE_ADDITIONAL_TOOLS: 'proxy',
    PROXY_UPSTREAMS: JSON.stringify([{ name: 'alpha', url: http.url.href, ...upstream }]),
  });
  return { http, env };
}

function spawnSession(env: Record<string, string>) {
  const session = startRawSession(env);
  cleanups.push(() => {
    session.child.kill('SIGKILL');
  });
  return session;
}

const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

describe('the end of a session', () => {
  it('answers every request piped before the end of stdin, then exits 0 by itself', async () => {
    const { http, env } = await upstreamEnv();
    const session = spawnSession(env);
    session.send(INITIALIZE);
    session.send(INITIALIZED);
    session.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    session.send(call(3, 'echo', { text: 'piped' }));
    session.send({ jsonrpc: '2.0', id: 4, method: 'ping' });
    session.child.stdin?.end();

    expect(await withinSeconds(30, session.exited)).toBe(0);
    const answers = session.messages.filter((m) => m.method === undefined);
    expect(answers.map((m) => m.id).sort()).toEqual([1, 2, 3, 4]);
    expect(answers.every((m) => m.error === undefined)).toBe(true);
    expect((await session.answer(2)).result?.tools).toEqual([
      expect.objectContaining({ name: 'echo' }),
      expect.objectContaining({ name: 'slow' }),
    ]);
    expect((await session.answer(3)).result?.content).toEqual([{ type: 'text', text: 'piped' }]);
    // It still ended its upstream session on the way out.
    expect(http.sessionsDeleted).toBe(1);
  });

  it('answers a call still running when stdin ends before exiting (here: its timeout error)', async () => {
    const { env } = await upstreamEnv({ timeout_ms: 500 });
    const session = spawnSession(env);
    session.send(INITIALIZE);
    session.send(INITIALIZED);
    session.send(call(2, 'slow', { ms: 60_000 }));
    session.child.stdin?.end();

    expect(await withinSeconds(30, session.exited)).toBe(0);
    const answer = await session.answer(2);
    expect(answer.result?.isError).toBe(true);
    const [content] = (answer.result?.content ?? []) as Array<{ text: string }>;
    expect(content?.text).toMatch(/upstream "alpha" did not answer tools\/call "slow" within 500 ms/);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'answers a call still running on %s with a shutdown error',
    async (signal) => {
      const { http, env } = await upstreamEnv();
      const session = spawnSession(env);
      session.send(INITIALIZE);
      session.send(INITIALIZED);
      session.send(call(3, 'slow', { ms: 60_000 }));
      // Running means the upstream holds it; a signal before that would test a queued request, not a running one.
      await withinSeconds(
        20,
        waitFor(() => http.counters.callTool === 1),
      );
      process.kill(session.child.pid as number, signal);

      expect(await withinSeconds(10, session.exited)).toBe(0);
      const answer = await session.answer(3);
      expect(answer.error).toEqual({ code: -32603, message: `Proxy shutting down: received ${signal}` });
    },
  );

  it('exits at once when stdout is closed, though stdin is still open', async () => {
    const { env } = await upstreamEnv();
    const session = spawnSession(env);
    session.send(INITIALIZE);
    await withinSeconds(20, session.answer(1));
    session.child.stdout?.destroy();
    // Its answer is what meets the closed pipe.
    session.send({ jsonrpc: '2.0', id: 2, method: 'ping' });

    expect(await withinSeconds(20, session.exited)).toBe(0);
    expect(session.stderr()).toMatch(/stdout is closed \(EPIPE\); exiting/);
  });

  it('answers a line that is not JSON with -32700 and one stderr line that does not quote it, and goes on', async () => {
    const { env } = await upstreamEnv();
    const session = spawnSession(env);
    session.send(INITIALIZE);
    session.send(INITIALIZED);
    session.sendLine('not json, and secret-4711');
    session.sendLine('{"jsonrpc": "2.0", "id": 8, "method": 42}');
    session.send(call(2, 'echo', { text: 'still here' }));

    expect((await withinSeconds(20, session.answer(2))).result?.content).toEqual([
      { type: 'text', text: 'still here' },
    ]);
    expect(await session.answer(null)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'Parse error' },
    });
    expect((await session.answer(8)).error).toEqual({ code: -32600, message: 'Invalid Request' });
    const complaints = session
      .stderr()
      .split('\n')
      .filter((line) => line.includes('is not JSON-RPC'));
    expect(complaints).toEqual([
      '[mcp-upstream-proxy] warning: stdin line 3 is not JSON-RPC (Parse error); answered -32700',
      '[mcp-upstream-proxy] warning: stdin line 4 is not JSON-RPC (Invalid Request); answered -32600',
    ]);
    expect(session.stderr()).not.toContain('secret-4711');
  });
});

// Spawns the bin, relays its own stdin to the bin's, and hands the write end of the bin's stdin to a grandchild that
// only holds it (for 2 minutes at most). Killed, it leaves the bin behind with stdin still open: only the bin's
// watchdog can end it. (The test's own end of the parent's stdin would not do: Node destroys it when the child exits.)
const ORPHANING_PARENT = `
const { spawn } = require('node:child_process');
const bin = spawn(process.execPath, [process.argv[1]], { stdio: ['pipe', 'inherit', 'inherit'] });
const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: [bin.stdin, 'ignore', 'ignore'] });
process.stdin.pipe(bin.stdin);
require('node:fs').writeSync(3, bin.pid + ' ' + holder.pid + '\\n');
`;

describe('an orphaned proxy', () => {
  it('exits when the process that started it dies without closing its stdin', async () => {
    const parent = spawn(process.execPath, ['-e', ORPHANING_PARENT, BIN], {
      env: cleanEnv({ ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: '[]' }),
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const [pidLine] = (await once(parent.stdio[3] as Readable, 'data')) as [Buffer];
    const pids = pidLine.toString().trim().split(' ').map(Number);
    cleanups.push(() => {
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone (the bin should be).
        }
      }
    });
    // The session: the parent's pipes are the bin's, and the parent never reads or writes them.
    const session = attachRawSession(parent);
    session.send(INITIALIZE);
    await withinSeconds(20, session.answer(1));

    parent.kill('SIGKILL');
    // The pipes close only when their last holder, the bin, has exited; the test still holds stdin open.
    await withinSeconds(20, once(parent.stdout as Readable, 'end'));
    expect(session.stderr()).toMatch(/stopping: parent process \d+ (exited|no longer exists)/);
    expect(session.stderr()).not.toContain('stdin ended');
  });
});

/** Runs the bin to completion with no stdin. */
async function runBin(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = await once(child, 'close');
  return { code: code as number, stdout, stderr };
}

describe('--help and --version', () => {
  it('print to stdout and exit 0 without starting a server; --help names every flag and the main variables', async () => {
    const version = await runBin(['--version']);
    expect(version).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\S*\n$/), stderr: '' });

    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    for (const flag of ['--config FILE', '--trace FILE', '--inspect', '--help', '--version']) {
      expect(help.stdout).toContain(flag);
    }
    const variables = [
      'ENABLE_ADDITIONAL_TOOLS',
      'PROXY_UPSTREAMS',
      'PROXY_URL',
      'PROXY_TRANSPORT',
      'PROXY_INCLUDE_TOOLS',
      'PROXY_IGNORE_TOOLS',
      'PROXY_STARTUP_TIMEOUT_MS',
      'PROXY_CATALOG_CACHE',
      'PROXY_TRACE',
      'PROXY_INSPECT',
      'DEBUG',
    ];
    for (const variable of variables) expect(help.stdout).toMatch(new RegExp(`^ +${variable} `, 'm'));
    expect(help.stdout).toContain('README');
  });

  it('sends a bad argument to stderr with exit 2, and nothing to stdout', async () => {
    const bad = await runBin(['--verbose']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain("Unknown option '--verbose'");
    expect(bad.stderr).toContain('--config FILE');
  });
});

/** Resolves once `condition()` holds, looking every 20 ms. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
