/**
 * The audit log of the built bin: every line reaches the file however the process ends (stdin closed, SIGTERM),
 * since lines are written through a stream that the shutdown flushes. Driven over raw stdio against a real SDK
 * upstream on 127.0.0.1. `npm test` builds first.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream } from '../fixtures/upstreams.js';
import { cleanEnv, INITIALIZE, INITIALIZED, startRawSession, withinSeconds } from './raw-stdio.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'proxy-e2e-audit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function start(file: string) {
  const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'fail'] });
  cleanups.push(() => http.close());
  const env = cleanEnv(join(dir, 'tokens'), {
    ENABLE_ADDITIONAL_TOOLS: 'proxy',
    PROXY_UPSTREAMS: JSON.stringify([{ name: 'alpha', url: http.url.href }]),
    PROXY_AUDIT_FILE: file,
  });
  const session = startRawSession(env);
  cleanups.push(() => {
    session.child.kill('SIGKILL');
  });
  session.send(INITIALIZE);
  session.send(INITIALIZED);
  return session;
}

const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

async function outcomes(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((line) => (JSON.parse(line) as { outcome: string }).outcome);
}

describe('the audit log of the bin', () => {
  it('has a line for every request piped before the end of stdin', async () => {
    const file = join(dir, 'stdin-end.jsonl');
    const session = await start(file);
    session.send(call(2, 'echo', { text: 'piped' }));
    session.send(call(3, 'fail', {}));
    session.child.stdin?.end();
    expect(await withinSeconds(30, session.exited)).toBe(0);
    expect(await outcomes(file)).toEqual(['result', 'tool-error']);
  });

  it('has the line of a request answered just before SIGTERM', async () => {
    const file = join(dir, 'sigterm.jsonl');
    const session = await start(file);
    session.send(call(2, 'echo', { text: 'answered' }));
    await withinSeconds(30, session.answer(2));
    session.child.kill('SIGTERM');
    await withinSeconds(30, session.exited);
    expect(await outcomes(file)).toEqual(['result']);
  });
});
