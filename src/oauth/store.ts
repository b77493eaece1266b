/**
 * The token store: one private folder per upstream, `<root>/<upstream>/`, holding `tokens.json` and
 * `client-info.json`, the same files the mcp-devtools proxy (Go) keeps, so either tool can reuse the other's sign-in.
 *
 * - Folders are 0700 (a looser existing one is tightened), files 0600; every write is a temp file in the same
 *   folder (0600, fsynced) renamed over the old one, so a reader in another process sees the old file or the new
 *   one, never a partial one.
 * - Reading is lenient (unknown fields, `expires_at` as RFC 3339 or epoch seconds/ms, Go's zero time) and writing
 *   is strict: OAuth's snake_case names, `expires_at` as an ISO string, `issuer`.
 * - A file that cannot be understood reads as `undefined` and is left where it is for the user; the warning names
 *   the file and what is wrong with it, never its content, since the content is secrets.
 * - A root folder that other users can open is left as it is (it may be shared on purpose), with one warning.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { InvalidUpstreamNameError, TokenStoreIoError } from '../errors/index.js';
import { registerSecret } from '../observe/redact.js';

export interface StoredTokens {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  /** Absolute expiry of the access token, epoch milliseconds. */
  expiresAt?: number;
  scope?: string;
  /** The authorization server that issued the tokens (its metadata `issuer`). */
  issuer?: string;
}

export interface StoredClient {
  clientId: string;
  clientSecret?: string;
  /** As in RFC 7591: epoch seconds, 0 for a secret that never expires. */
  clientSecretExpiresAt?: number;
  redirectUris?: string[];
  tokenEndpointAuthMethod?: string;
  issuer?: string;
  /**
   * The registration response as received (or as read from the file, unknown fields included). On write, the
   * typed fields above win over the same fields in `raw`; an undefined typed field removes it.
   */
  raw: Record<string, unknown>;
}

export const TOKENS_FILE = 'tokens.json';
export const CLIENT_FILE = 'client-info.json';

/** A file larger than this is not a token file (and is not read into memory). */
const MAX_FILE_BYTES = 1024 * 1024;
const UPSTREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const isWindows = process.platform === 'win32';

/**
 * `PROXY_TOKEN_DIR` (absolute, relative to the working directory, or starting with `~/`), else
 * `~/.mcp-devtools/oauth`, where mcp-devtools keeps its own.
 */
export function tokenRoot(env: NodeJS.ProcessEnv): string {
  const home = (isWindows ? env.USERPROFILE : env.HOME) || homedir();
  const configured = env.PROXY_TOKEN_DIR?.trim();
  if (!configured) return join(home, '.mcp-devtools', 'oauth');
  if (configured === '~') return home;
  if (configured.startsWith('~/') || (isWindows && configured.startsWith('~\\'))) {
    return join(home, configured.slice(2));
  }
  return resolve(configured);
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function ioError(what: string, error: unknown): TokenStoreIoError {
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
async function warnIfRootIsOpen(root: string, warn: (message: string) => void): Promise<void> {
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

// ---------------------------------------------------------------------------------------------------------------
// Reading: lenient, because mcp-devtools (Go) and older versions write these files too.

const text = z
  .string()
  .nullish()
  .transform((value) => (value ? value : undefined));
const instant = z.union([z.string(), z.number(), z.null()]).optional();

const tokensFileSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: text,
  refresh_token: text,
  expires_at: instant,
  expires_in: z.union([z.number(), z.string(), z.null()]).optional(),
  scope: text,
  issuer: text,
});

const clientFileSchema = z.looseObject({
  client_id: z.string().min(1),
  client_secret: text,
  client_secret_expires_at: instant,
  // Go writes `null` for a registration without redirect URIs.
  redirect_uris: z.array(z.string()).nullish(),
  token_endpoint_auth_method: text,
  issuer: text,
});

/** Epoch numbers below this are seconds, above it milliseconds (1e11 s is the year 5138, 1e11 ms is 1973). */
const SECONDS_LIMIT = 1e11;

/**
 * An instant as epoch milliseconds: RFC 3339 / ISO text (Go writes nanoseconds and offsets), or epoch seconds or
 * milliseconds as a number or digits. `undefined` for absent, zero, negative and Go's zero time (all: "no expiry");
 * `NaN` for text that is no instant at all.
 */
function instantToMs(value: string | number | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  let ms: number;
  const trimmed = typeof value === 'string' ? value.trim() : value;
  if (trimmed === '') return undefined;
  if (typeof trimmed === 'number' || /^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed);
    ms = n < SECONDS_LIMIT ? n * 1000 : n;
  } else {
    ms = Date.parse(trimmed);
    if (Number.isNaN(ms)) return Number.NaN;
  }
  if (!Number.isFinite(ms)) return Number.NaN;
  return ms > 0 ? Math.round(ms) : undefined;
}

function secondsOf(value: string | number | null | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 0 || value === '0') return 0;
  const ms = instantToMs(value);
  return ms === undefined || Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

function describeIssues(error: z.ZodError): string {
  // Paths and kinds only: zod's messages are safe today, but the input they describe is secret.
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the file'}: ${issue.code.replaceAll('_', ' ')}`)
    .join('; ');
}

interface FileRead {
  json: unknown;
  mtimeMs: number;
}

// ---------------------------------------------------------------------------------------------------------------

export interface TokenStoreOptions {
  /** Told about files that are ignored (corrupt, unreadable expiry); the message never holds file content. */
  onWarning?: (message: string) => void;
}

/**
 * The files of one upstream. Reads never create anything; writes create the folder. Several processes may use
 * the same store at once: each write replaces a whole file, and the last write wins.
 */
export class TokenStore {
  readonly dir: string;
  private readonly onWarning: (message: string) => void;
  private rootChecked: Promise<void> | undefined;

  constructor(
    readonly root: string,
    readonly upstream: string,
    options: TokenStoreOptions = {},
  ) {
    if (!UPSTREAM_NAME.test(upstream)) throw new InvalidUpstreamNameError(upstream);
    const base = resolve(root);
    this.dir = join(base, upstream);
    // The name check already excludes separators and dots; this holds even if it is ever loosened.
    const inside = relative(base, this.dir);
    if (inside !== upstream || inside.startsWith('..') || isAbsolute(inside)) {
      throw new InvalidUpstreamNameError(upstream);
    }
    this.onWarning = options.onWarning ?? (() => {});
  }

  async readTokens(): Promise<StoredTokens | undefined> {
    const file = await this.readJson(TOKENS_FILE);
    if (!file) return undefined;
    const parsed = tokensFileSchema.safeParse(file.json);
    if (!parsed.success) return this.ignore(TOKENS_FILE, describeIssues(parsed.error));
    const data = parsed.data;
    registerSecret(data.access_token);
    registerSecret(data.refresh_token ?? undefined);
    let expiresAt = instantToMs(data.expires_at);
    if (expiresAt === undefined && data.expires_at === undefined) {
      // Only a relative lifetime: count it from when the file was written.
      const seconds = Number(data.expires_in);
      if (data.expires_in !== null && data.expires_in !== undefined && Number.isFinite(seconds) && seconds > 0) {
        expiresAt = Math.round(file.mtimeMs + seconds * 1000);
      }
    }
    if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
      // Better refreshed once too often than sent while expired.
      this.onWarning(
        `token store: ${join(this.dir, TOKENS_FILE)}: expires_at is not a date; treating the token as expired`,
      );
      expiresAt = 0;
    }
    return dropUndefined({
      accessToken: data.access_token,
      tokenType: data.token_type ?? 'Bearer',
      refreshToken: data.refresh_token,
      expiresAt,
      scope: data.scope,
      issuer: data.issuer,
    });
  }

  async writeTokens(tokens: StoredTokens): Promise<void> {
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
    const expiresAt = tokens.expiresAt;
    await this.writeJson(TOKENS_FILE, {
      access_token: tokens.accessToken,
      token_type: tokens.tokenType,
      refresh_token: tokens.refreshToken,
      expires_at: expiresAt !== undefined && Number.isFinite(expiresAt) ? new Date(expiresAt).toISOString() : undefined,
      scope: tokens.scope,
      issuer: tokens.issuer,
    });
  }

  clearTokens(): Promise<void> {
    return this.remove(TOKENS_FILE);
  }

  async readClient(): Promise<StoredClient | undefined> {
    const file = await this.readJson(CLIENT_FILE);
    if (!file) return undefined;
    const parsed = clientFileSchema.safeParse(file.json);
    if (!parsed.success) return this.ignore(CLIENT_FILE, describeIssues(parsed.error));
    const data = parsed.data;
    registerSecret(data.client_secret ?? undefined);
    return dropUndefined({
      clientId: data.client_id,
      clientSecret: data.client_secret,
      clientSecretExpiresAt: secondsOf(data.client_secret_expires_at),
      redirectUris: data.redirect_uris ?? undefined,
      tokenEndpointAuthMethod: data.token_endpoint_auth_method,
      issuer: data.issuer,
      raw: file.json as Record<string, unknown>,
    });
  }

  async writeClient(client: StoredClient): Promise<void> {
    registerSecret(client.clientSecret);
    await this.writeJson(CLIENT_FILE, {
      ...client.raw,
      client_id: client.clientId,
      client_secret: client.clientSecret,
      client_secret_expires_at: client.clientSecretExpiresAt,
      redirect_uris: client.redirectUris,
      token_endpoint_auth_method: client.tokenEndpointAuthMethod,
      issuer: client.issuer,
    });
  }

  clearClient(): Promise<void> {
    return this.remove(CLIENT_FILE);
  }

  private ignore(name: string, why: string): undefined {
    this.onWarning(`token store: ignoring ${join(this.dir, name)} (${why}); fix or delete it, or sign in again`);
    return undefined;
  }

  /** Before the first read or write of this store. */
  private checkRoot(): Promise<void> {
    this.rootChecked ??= warnIfRootIsOpen(resolve(this.root), this.onWarning);
    return this.rootChecked;
  }

  /** The parsed JSON and its mtime; `undefined` when absent or not JSON (warned). Other failures throw. */
  private async readJson(name: string): Promise<FileRead | undefined> {
    await this.checkRoot();
    const path = join(this.dir, name);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return undefined;
      throw ioError(`reading ${path}`, error);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) return this.ignore(name, 'not a file');
      if (info.size > MAX_FILE_BYTES) return this.ignore(name, `larger than ${MAX_FILE_BYTES} bytes`);
      // A copy made with a loose umask (or by another tool) is tightened the first time it is read.
      if (!isWindows && (info.mode & 0o077) !== 0 && info.uid === process.getuid?.()) {
        await handle.chmod(0o600).catch(() => {});
      }
      const content = await handle.readFile({ encoding: 'utf8' });
      try {
        // JSON.parse's messages quote the input, so none of it goes into the warning.
        return { json: JSON.parse(content) as unknown, mtimeMs: info.mtimeMs };
      } catch {
        return this.ignore(name, content.trim() === '' ? 'empty' : 'not valid JSON');
      }
    } catch (error) {
      if (errnoOf(error) === 'EISDIR') return this.ignore(name, 'not a file');
      throw ioError(`reading ${path}`, error);
    } finally {
      await handle.close().catch(() => {});
    }
  }

  private async writeJson(name: string, content: Record<string, unknown>): Promise<void> {
    await this.checkRoot();
    await writePrivateFile(this.dir, name, `${JSON.stringify(content, null, 2)}\n`);
  }

  private async remove(name: string): Promise<void> {
    const path = join(this.dir, name);
    try {
      await unlink(path);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return;
      throw ioError(`deleting ${path}`, error);
    }
    await syncDir(this.dir);
  }
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
async function syncDir(dir: string): Promise<void> {
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

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
