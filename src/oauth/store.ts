/**
 * The token store: one private folder per upstream, `<root>/<upstream>/`, holding `tokens.json` and
 * `client-info.json`, the same files the mcp-devtools proxy (Go) keeps, so either tool can reuse the other's sign-in.
 * Where the root is comes from config (PROXY_TOKEN_DIR); the files' formats are token-files.ts, and how they are
 * kept private private-files.ts.
 *
 * A file that cannot be understood reads as `undefined` and is left where it is for the user; the warning names
 * the file and what is wrong with it, never its content, since the content is secrets.
 */
import { open, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { z } from 'zod';
import { InvalidUpstreamNameError } from '../errors/index.js';
import { errnoOf, ioError, isWindows, syncDir, warnIfRootIsOpen, writePrivateFile } from '../files/private-files.js';
import { registerSecret } from '../observe/redact.js';
import {
  CLIENT_FILE,
  clientFileContent,
  clientFileSchema,
  clientFromFile,
  describeIssues,
  type StoredClient,
  type StoredTokens,
  TOKENS_FILE,
  tokensFileContent,
  tokensFileSchema,
  tokensFromFile,
} from './token-files.js';

export { CLIENT_FILE, type StoredClient, type StoredTokens, TOKENS_FILE } from './token-files.js';

/** A file larger than this is not a token file (and is not read into memory). */
const MAX_FILE_BYTES = 1024 * 1024;
const UPSTREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

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
    const file = await this.readFile(TOKENS_FILE, tokensFileSchema);
    if (!file) return undefined;
    registerSecret(file.data.access_token);
    registerSecret(file.data.refresh_token ?? undefined);
    const tokens = tokensFromFile(file.data, file.mtimeMs);
    if (tokens.expiresAt !== undefined && Number.isNaN(tokens.expiresAt)) {
      // Better refreshed once too often than sent while expired.
      this.onWarning(
        `token store: ${join(this.dir, TOKENS_FILE)}: expires_at is not a date; treating the token as expired`,
      );
      tokens.expiresAt = 0;
    }
    return tokens;
  }

  async writeTokens(tokens: StoredTokens): Promise<void> {
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
    await this.writeJson(TOKENS_FILE, tokensFileContent(tokens));
  }

  clearTokens(): Promise<void> {
    return this.remove(TOKENS_FILE);
  }

  async readClient(): Promise<StoredClient | undefined> {
    const file = await this.readFile(CLIENT_FILE, clientFileSchema);
    if (!file) return undefined;
    registerSecret(file.data.client_secret ?? undefined);
    return clientFromFile(file.data, file.json);
  }

  async writeClient(client: StoredClient): Promise<void> {
    registerSecret(client.clientSecret);
    await this.writeJson(CLIENT_FILE, clientFileContent(client));
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

  /** The file as `schema` reads it, its JSON and its mtime; `undefined` when absent or unusable (warned). */
  private async readFile<T>(
    name: string,
    schema: z.ZodType<T>,
  ): Promise<{ data: T; json: unknown; mtimeMs: number } | undefined> {
    const file = await this.readJson(name);
    if (!file) return undefined;
    const parsed = schema.safeParse(file.json);
    if (!parsed.success) return this.ignore(name, describeIssues(parsed.error));
    return { data: parsed.data, json: file.json, mtimeMs: file.mtimeMs };
  }

  /** The parsed JSON and its mtime; `undefined` when absent or not JSON (warned). Other failures throw. */
  private async readJson(name: string): Promise<{ json: unknown; mtimeMs: number } | undefined> {
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
