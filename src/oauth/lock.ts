/**
 * The sign-in lock: MCP clients often start the same server twice, and two browser tabs asking the user to sign in
 * to the same upstream is one too many. `sign-in.lock` in the upstream's token folder is created with `wx` (the
 * file system is the arbiter: exactly one create succeeds) and holds `{pid, hostname, createdAt, token}`.
 *
 * Waiting for another process's sign-in is waiting for its lock: there is no separate "tokens changed" signal.
 * The pattern is
 *
 * ```ts
 * const before = (await store.readTokens())?.accessToken;
 * const lock = await acquireSignInLock(store.dir, { timeoutMs });
 * try {
 *   const now = await store.readTokens();
 *   if (now && now.accessToken !== before) return now; // signed in by the process we waited for
 *   // ...the browser flow, then store.writeTokens(...)
 * } finally {
 *   await lock.release();
 * }
 * ```
 *
 * A lock is stale, and taken over, when its process is gone: on this host, its pid is not alive (or it was written
 * before the last boot, or by this very pid but not by this process); on another host (a shared home folder), it
 * has not been touched for `timeoutMs`, and at least two minutes (a holder touches its lock every 5 s).
 *
 * Taking over happens under a second, short-lived lock (`sign-in.lock.takeover`) and only after reading the same
 * stale content again, so two processes that both find a stale lock cannot delete each other's fresh one.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname as osHostname, uptime } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { type SignInLockHolder, SignInLockTimeoutError } from '../errors/index.js';
import { ensurePrivateDir } from '../files/private-files.js';

export const SIGN_IN_LOCK_FILE = 'sign-in.lock';
const TAKEOVER_FILE = `${SIGN_IN_LOCK_FILE}.takeover`;

const DEFAULT_POLL_MS = 250;
/** A holder refreshes its lock's mtime this often, so a waiter on another host can tell it is alive. */
const HEARTBEAT_MS = 5_000;
/** A lock file with no readable content yet is being written; after this long its writer is gone. */
const UNREADABLE_GRACE_MS = 5_000;
/**
 * A lock from another host is judged by when it was last touched: after `timeoutMs` (the holder's sign-in, bound
 * by the same timeout, is over by then), but never sooner than this, which outlasts the heartbeat even through
 * NFS's attribute cache (up to 60 s).
 */
const OTHER_HOST_MIN_STALE_MS = 120_000;
/** The takeover lock is held for a few file operations; one this old was left by a process that died. */
const TAKEOVER_STALE_MS = 10_000;

export interface SignInLockOptions {
  /** How long to wait for another process's sign-in; 0 tries once. */
  timeoutMs: number;
  /** How often to look again while another process holds the lock (default 250 ms). */
  pollMs?: number;
  /** Stops waiting (rejects with the signal's reason), e.g. when the upstream's actor stops. */
  signal?: AbortSignal;
}

export interface SignInLock {
  /** Removes the lock if it is still this one's. Idempotent; never throws. */
  release(): Promise<void>;
  readonly path: string;
  /** True when another process held the lock first: its tokens may be in the store now. */
  readonly waited: boolean;
}

const lockFileSchema = z.looseObject({
  pid: z.number().int().positive(),
  hostname: z.string(),
  createdAt: z.string(),
  token: z.string().optional(),
});

interface Observed {
  /** The raw content, compared again before a takeover. */
  content: string;
  mtimeMs: number;
  holder: (SignInLockHolder & { token?: string }) | undefined;
}

/** Locks this process holds, by path → token: to tell them from a dead process's lock that had the same pid. */
const held = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits while signing in (SIGTERM handled, say) frees its lock at once instead of leaving it to be
  // found stale.
  process.once('exit', () => {
    for (const [path, token] of held) {
      try {
        if (readFileSync(path, 'utf8').includes(token)) unlinkSync(path);
      } catch {
        // Gone already, or not ours to remove.
      }
    }
  });
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Takes the sign-in lock of the upstream whose token folder is `dir` (created private if missing), waiting while
 * another live process holds it. Throws `SignInLockTimeoutError` after `timeoutMs`.
 */
export async function acquireSignInLock(dir: string, options: SignInLockOptions): Promise<SignInLock> {
  const { timeoutMs, signal } = options;
  const pollMs = Math.max(1, options.pollMs ?? DEFAULT_POLL_MS);
  const path = join(dir, SIGN_IN_LOCK_FILE);
  const deadline = Date.now() + Math.max(0, timeoutMs);
  let waited = false;
  await ensurePrivateDir(dir);
  installExitHook();

  for (;;) {
    signal?.throwIfAborted();
    const token = randomUUID();
    if (await tryCreate(path, token)) return heldLock(path, token, waited);

    const observed = await observe(path);
    if (observed === undefined) continue; // released in between: try again at once
    if (isStale(observed, path, timeoutMs) && (await removeIfStillStale(dir, path, observed, timeoutMs))) continue;

    const now = Date.now();
    if (now >= deadline) throw new SignInLockTimeoutError(path, timeoutMs, publicHolder(observed.holder));
    waited = true;
    await delay(Math.min(pollMs, deadline - now), undefined, { signal });
  }
}

/** `wx`: fails with EEXIST when the lock exists, so of any number of processes exactly one creates it. */
async function tryCreate(path: string, token: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    throw error;
  }
  const holder = { pid: process.pid, hostname: osHostname(), createdAt: new Date().toISOString(), token };
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`, { encoding: 'utf8' });
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw error;
  }
  await handle.close();
  return true;
}

function heldLock(path: string, token: string, waited: boolean): SignInLock {
  held.set(path, token);
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  heartbeat.unref();
  let released: Promise<void> | undefined;
  return {
    path,
    waited,
    release() {
      released ??= (async () => {
        clearInterval(heartbeat);
        held.delete(path);
        try {
          // Only our own: a lock that was (wrongly) taken over belongs to someone else now.
          const observed = await observe(path);
          if (observed?.holder?.token === token) await unlink(path);
        } catch {
          // Never throws: the worst case is a lock left for the next process to find stale.
        }
      })();
      return released;
    },
  };
}

async function observe(path: string): Promise<Observed | undefined> {
  let content: string;
  let mtimeMs: number;
  try {
    [content, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((info) => info.mtimeMs)]);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
  let holder: Observed['holder'];
  try {
    const parsed = lockFileSchema.safeParse(JSON.parse(content));
    if (parsed.success) holder = parsed.data;
  } catch {
    // Not written yet, or garbage: judged by its age.
  }
  return { content, mtimeMs, holder };
}

function publicHolder(holder: Observed['holder']): SignInLockHolder | undefined {
  return holder ? { pid: holder.pid, hostname: holder.hostname, createdAt: holder.createdAt } : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return errnoOf(error) !== 'ESRCH';
  }
}

function isStale(observed: Observed, path: string, timeoutMs: number): boolean {
  const { holder, mtimeMs } = observed;
  const now = Date.now();
  if (!holder) return now - mtimeMs > UNREADABLE_GRACE_MS;
  const createdMs = Date.parse(holder.createdAt);
  if (holder.hostname !== osHostname()) {
    const touched = Math.max(Number.isNaN(createdMs) ? 0 : createdMs, mtimeMs);
    return now - touched > Math.max(timeoutMs, OTHER_HOST_MIN_STALE_MS);
  }
  // Written before this machine booted: its pid may well belong to an unrelated process now.
  const bootMs = now - uptime() * 1000;
  if (!Number.isNaN(createdMs) && createdMs < bootMs - 60_000) return true;
  if (holder.pid === process.pid) return held.get(path) !== holder.token;
  return !isAlive(holder.pid);
}

/**
 * Deletes a stale lock, under the takeover lock and only if it still has the content found stale: a fresh lock
 * created meanwhile by a process that took over first is left alone. True when the way is clear to try again.
 */
async function removeIfStillStale(dir: string, path: string, stale: Observed, timeoutMs: number): Promise<boolean> {
  const guard = join(dir, TAKEOVER_FILE);
  try {
    const handle = await open(guard, 'wx', 0o600);
    await handle.close();
  } catch (error) {
    if (errnoOf(error) !== 'EEXIST') return false;
    // Another process is taking over right now, or died doing it long ago.
    const info = await stat(guard).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > TAKEOVER_STALE_MS) await unlink(guard).catch(() => {});
    return false;
  }
  try {
    const again = await observe(path);
    if (again === undefined) return true;
    if (again.content !== stale.content || !isStale(again, path, timeoutMs)) return false;
    await unlink(path);
    return true;
  } catch {
    return false;
  } finally {
    await unlink(guard).catch(() => {});
  }
}
