/**
 * `npm run diagrams`: writes the Mermaid statecharts of the machines into docs/statecharts.md and README.md.
 * Writes only what changed, so running it twice changes nothing.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOCS_FILE, README_FILE, statechartsMarkdown, withReadmeBlock } from './statecharts-docs.js';

// Compiled to dist/scripts/: the repository is two levels up.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function update(file: string, next: (current: string) => string): void {
  const path = join(root, file);
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    // A file that does not exist yet is written in full.
  }
  const content = next(current);
  if (content === current) {
    console.error(`${file}: up to date`);
    return;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  console.error(`${file}: written`);
}

update(DOCS_FILE, () => statechartsMarkdown());
update(README_FILE, withReadmeBlock);
