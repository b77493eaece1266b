import { readFileSync } from 'node:fs';

/** From package.json: one level above src/ when run from source (tests), two above dist/src/ when built. */
function readVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (pkg.name === 'mcp-upstream-proxy') return pkg.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();

/** How the proxy introduces itself, to its client and to every upstream alike. */
export const IMPLEMENTATION = { name: 'mcp-upstream-proxy', version: VERSION };
