/**
 * Files private to the user: folders 0700 (a looser existing one is tightened), files 0600, every write a temp file
 * in the same folder (0600, fsynced) renamed over the old one, so a reader in another process sees the old file or
 * the new one, never a partial one. A root folder other users can open is left as it is (it may be shared on
 * purpose), with one warning.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { TokenStoreIoError } from '../errors/index.js';

export const isWindows = process.platform === 'win32';

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function ioError(what: string, error: unknown): TokenStoreIoError {
  const reason = errnoOf(error) ?? 'unknown error';
  return new TokenStoreIoError(`token store: ${what} failed (${reason})`, reason);
}

/**
 * Creates `dir` (and its parents) private to the user, and tightens an existing `dir` that others may read.
 * Parents that already exist are left alone: the root may be a folder the user shares on purpose.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await stat(dir);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if (!isWindows && (info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  } catch (error) {
    throw ioError(`creating the folder ${dir}`, error);
  }
}

/** Roots checked in this process: one warning per root, however many upstreams keep their folders there. */
const checkedRoots = new Set<string>();

/** `chmod 700 <dir>`, quoted for a POSIX shell when the path needs it. */
function chmodCommand(dir: string): string {
  return `chmod 700 ${/^[\w@%+=:,./-]+$/.test(dir) ? dir : `'${dir.replaceAll("'", `'\\''`)}'`}`;
}

/** Warns, once per root, when group or others may read, write or enter the token root (a missing one is fine). */
export async function warnIfRootIsOpen(root: string, warn: (message: string) => void): Promise<void> {
  if (isWindows || checkedRoots.has(root)) return;
  checkedRoots.add(root);
  const mode = await stat(root).then(
    (info) => info.mode & 0o777,
    () => undefined,
  );
  if (mode === undefined || (mode & 0o077) === 0) return;
  warn(
    `token store: the folder ${root} is open to other users (mode ${mode.toString(8)}); it holds OAuth tokens, make it private: ${chmodCommand(root)}`,
  );
}

/**
 * Writes `dir/name` private to the user: a temp file beside the target (0600, fsynced), renamed over it, so a reader
 * (another proxy process) sees the old file or the new one. Creates `dir` (0700) when needed.
 */
export async function writePrivateFile(dir: string, name: string, data: string): Promise<void> {
  await ensurePrivateDir(dir);
  const path = join(dir, name);
  const temp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      // The umask may have taken the owner's bits too; the file must be exactly 0600.
      if (!isWindows) await handle.chmod(0o600);
      await handle.writeFile(data, { encoding: 'utf8' });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameReplacing(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw ioError(`writing ${path}`, error);
  }
  await syncDir(dir);
}

/** Windows refuses to replace a file another process has open (a reader); that passes within milliseconds. */
async function renameReplacing(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = errnoOf(error);
      if (!isWindows || attempt >= 20 || (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY')) throw error;
      await delay(10 + attempt * 5);
    }
  }
}

/** So the rename itself survives a crash. Best effort: not every platform or file system can fsync a folder. */
export async function syncDir(dir: string): Promise<void> {
  if (isWindows) return;
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability only; the write itself has succeeded.
  }
}
