/**
 * The built bin as an orphan: its parent is killed while something else keeps the bin's stdin open, and only the
 * bin's own watchdog can end it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachRawSession, BIN, cleanEnv, INITIALIZE, withinSeconds } from './raw-stdio.js';

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
      env: cleanEnv(tokenDir, { ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: '[]' }),
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
    // The parent's stdout and stderr are the bin's; what the test writes to the parent's stdin is relayed.
    const session = attachRawSession(parent);
    session.send(INITIALIZE);
    await withinSeconds(20, session.answer(1));

    parent.kill('SIGKILL');
    // stdout ends only when its last holder, the bin, has exited; the holder still keeps the bin's stdin open.
    await withinSeconds(20, once(parent.stdout as Readable, 'end'));
    expect(session.stderr()).toMatch(/stopping: parent process \d+ (exited|no longer exists)/);
  });
});
