/**
 * How the built bin ends a session without holding the client up: requests piped before the end of stdin are all
 * answered, bad lines are answered, signals answer what is open, a closed stdout ends it at once. Driven over raw
 * stdio (see raw-stdio.ts), against a real SDK upstream on 127.0.0.1. `npm test` builds first.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startModernUpstream } from '../fixtures/modern-upstream.js';
import { startUpstream } from '../fixtures/upstreams.js';
import { cleanEnv, INITIALIZE, INITIALIZED, startRawSession, waitFor, withinSeconds } from './raw-stdio.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// Tokens never come from (or go to) the developer's own store.
let tokenDir = '';
beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), 'proxy-e2e-tokens-'));
});
afterAll(() => rm(tokenDir, { recursive: true, force: true }));

async function upstreamEnv(upstream: Record<string, unknown> = {}) {
  const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'slow'] });
  cleanups.push(() => http.close());
  const env = cleanEnv(tokenDir, {
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

  it('fails what it asked the client when stdin ends unanswered, so the call waiting on it answers at once', async () => {
    const modern = await startModernUpstream('modern');
    cleanups.push(() => modern.close());
    const session = spawnSession(
      cleanEnv(tokenDir, {
        ENABLE_ADDITIONAL_TOOLS: 'proxy',
        PROXY_UPSTREAMS: JSON.stringify([{ name: 'modern', url: modern.url.href }]),
      }),
    );
    session.send({ ...INITIALIZE, params: { ...INITIALIZE.params, capabilities: { elicitation: { form: {} } } } });
    session.send(INITIALIZED);
    session.send(call(2, 'ask_name', {}));
    // The upstream's question reaches the client as an elicitation/create request, which the client never answers.
    await withinSeconds(
      20,
      waitFor(() => session.messages.some((m) => m.method === 'elicitation/create')),
    );
    session.child.stdin?.end();

    // Without it, the call would wait for its timeout (60 s), and the process with it.
    expect(await withinSeconds(20, session.exited)).toBe(0);
    const answer = await session.answer(2);
    expect(JSON.stringify(answer)).toContain('The client closed its input (stdin) before answering');
  });

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
