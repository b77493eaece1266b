import { readFileSync } from 'node:fs';

/** From package.json, which sits two levels above both src/ and dist/src/. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
