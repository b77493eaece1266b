/**
 * Each upstream's last catalog, kept on disk beside its tokens (`<PROXY_TOKEN_DIR>/<name>/catalog.json`, 0600,
 * written atomically the way the tokens are), so that the first lists of the next session are answered at once instead of waiting for
 * every upstream to connect: a client that lists once (or cancels a slow list) still sees every tool.
 *
 * A catalog is used only by an upstream configured the same way (the fingerprint of its URL, transport, headers and
 * OAuth settings): after an edit, the old list could name tools the upstream no longer has for us.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { UpstreamConfig } from '../config/index.js';
import { TokenStoreIoError } from '../errors/index.js';
import { writePrivateFile } from '../files/private-files.js';
import { EMPTY_CATALOG, type UpstreamCatalog } from './types.js';

export const CATALOG_FILE = 'catalog.json';

/** What identifies an upstream's catalog: change any of these and the upstream may list other things. */
export function catalogFingerprint(upstream: UpstreamConfig): string {
  const identity = JSON.stringify({
    url: upstream.url.href,
    transport: upstream.transport,
    headers: Object.entries(upstream.headers).sort(([a], [b]) => a.localeCompare(b)),
    oauth: upstream.oauth && { ...upstream.oauth, clientMetadataUrl: upstream.oauth.clientMetadataUrl?.href },
  });
  // A hash: the file must not hold header values or client secrets, even 0600.
  return createHash('sha256').update(identity).digest('hex');
}

// Items are checked one by one where they are listed; here only the shape of the file.
const fileSchema = z.object({
  version: z.literal(1),
  fingerprint: z.string(),
  savedAt: z.string(),
  catalog: z.object({
    tools: z.array(z.looseObject({ name: z.string() })),
    resources: z.array(z.looseObject({ uri: z.string(), name: z.string() })),
    resourceTemplates: z.array(z.looseObject({ uriTemplate: z.string(), name: z.string() })),
    prompts: z.array(z.looseObject({ name: z.string() })),
  }),
});

export interface CatalogStoreOptions {
  /** The token root (PROXY_TOKEN_DIR or ~/.mcp-devtools/oauth). */
  root: string;
  upstream: UpstreamConfig;
  /** Told once about a catalog that cannot be read or written (never its content). */
  onWarning: (message: string) => void;
}

/** One upstream's persisted catalog. Reading never throws; writing is fire-and-forget and skips unchanged lists. */
export class CatalogStore {
  private readonly dir: string;
  private readonly fingerprint: string;
  private lastWritten: string | undefined;
  private writing: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(private readonly options: CatalogStoreOptions) {
    this.dir = join(options.root, options.upstream.name);
    this.fingerprint = catalogFingerprint(options.upstream);
  }

  /** The catalog saved for this very configuration, if any. */
  async read(): Promise<UpstreamCatalog | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, CATALOG_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.warn(`cannot be read (${errnoOf(error)})`);
      return undefined;
    }
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch {
      this.warn('is not a catalog this version can read; it is replaced once the upstream is listed');
      return undefined;
    }
    if (parsed.fingerprint !== this.fingerprint) return undefined;
    this.lastWritten = JSON.stringify(parsed.catalog);
    return { ...EMPTY_CATALOG, ...(parsed.catalog as UpstreamCatalog) };
  }

  /** Saves `catalog` unless it is what the file already holds; one write at a time, the latest wins. */
  save(catalog: UpstreamCatalog): void {
    // Cache hints are not kept: a saved catalog is of unknown age, so nothing of its freshness still holds.
    const { cacheHints: _, ...lists } = catalog;
    const serialized = JSON.stringify(lists);
    if (serialized === this.lastWritten) return;
    this.lastWritten = serialized;
    this.writing = this.writing.then(() => this.write(serialized)).catch(() => {});
  }

  /** Resolves when the writes asked for so far are done (tests, shutdown). */
  flushed(): Promise<void> {
    return this.writing;
  }

  private async write(serialized: string): Promise<void> {
    if (serialized !== this.lastWritten) return; // a newer catalog is queued behind this one
    const content = `{"version":1,"fingerprint":${JSON.stringify(this.fingerprint)},"savedAt":${JSON.stringify(new Date().toISOString())},"catalog":${serialized}}\n`;
    try {
      await writePrivateFile(this.dir, CATALOG_FILE, content);
    } catch (error) {
      this.warn(`cannot be written (${error instanceof TokenStoreIoError ? error.reason : errnoOf(error)})`);
    }
  }

  private warn(what: string): void {
    if (this.warned) return;
    this.warned = true;
    this.options.onWarning(`upstream "${this.options.upstream.name}": the saved catalog ${CATALOG_FILE} ${what}`);
  }
}

function errnoOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
