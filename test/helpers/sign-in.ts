/**
 * What an OAuth test needs around the proxy: a token folder and the test browser (which follows the redirects to the
 * proxy's loopback callback), with a log that counts how often a sign-in opened it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The test browser: follows redirects, keeps cookies, logs each URL it opens to TEST_BROWSER_LOG. */
export const TEST_BROWSER = fileURLToPath(new URL('../fixtures/test-browser.mjs', import.meta.url));

export interface SignInWorkspace {
  dir: string;
  /** PROXY_TOKEN_DIR, BROWSER (the test browser) and a sign-in timeout for the proxy. */
  env: { PROXY_TOKEN_DIR: string; BROWSER: string; PROXY_OAUTH_TIMEOUT_MS: string };
  /** How many times the browser was opened so far. */
  browserRuns(): Promise<number>;
}

/**
 * A workspace shared by the proxies of one test; `cleanups` gets what removes it. `browserDelayMs` makes the test
 * browser wait before it starts, as a person would (TEST_BROWSER_DELAY_MS).
 */
export async function signInWorkspace(
  prefix: string,
  cleanups: Array<() => Promise<void>>,
  options: { browserDelayMs?: number } = {},
): Promise<SignInWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const browserLog = join(dir, 'browser.log');
  const env = {
    PROXY_TOKEN_DIR: join(dir, 'tokens'),
    // The browser runs with the proxy process's own environment: the log file goes on its command line.
    BROWSER: [
      '/usr/bin/env',
      `TEST_BROWSER_LOG=${browserLog}`,
      ...(options.browserDelayMs ? [`TEST_BROWSER_DELAY_MS=${options.browserDelayMs}`] : []),
      process.execPath,
      TEST_BROWSER,
    ].join(' '),
    PROXY_OAUTH_TIMEOUT_MS: '20000',
  };
  const browserRuns = async () =>
    (await readFile(browserLog, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  return { dir, env, browserRuns };
}
