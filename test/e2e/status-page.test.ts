/**
 * The status page of the built bin (`--inspect`) in a real headless browser: Debian's chromium driven by
 * playwright-core. The page follows an upstream going down and coming back without a reload, and its screenshots
 * show it. `npm test` installs chromium when it is missing (scripts/test-prerequisites.mjs); without it this test fails (it does not skip).
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream } from '../fixtures/upstreams.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
/** Bounded waits for what the page shows; no timing is asserted. */
const WAIT_MS = 15_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

/** `CHROMIUM` if set, else `chromium` (Debian) or `chromium-browser` on the PATH. */
function findChromium(): string {
  const candidates = process.env.CHROMIUM
    ? [process.env.CHROMIUM]
    : (process.env.PATH ?? '/usr/bin')
        .split(delimiter)
        .flatMap((dir) => [join(dir, 'chromium'), join(dir, 'chromium-browser')]);
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(
    'chromium not found (looked for CHROMIUM, then chromium and chromium-browser on the PATH): the status page test ' +
      'needs a real browser; install it with `apt-get install -y --no-install-recommends chromium` (npm test does, through scripts/test-prerequisites.mjs)',
  );
}

async function launchBrowser(): Promise<Browser> {
  const executablePath = findChromium();
  // Chromium refuses to run as root with its sandbox on; only then is it turned off.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath, headless: true, args });
}

/** Waits until the upstream's card shows `state` (live: the page is never reloaded). */
async function waitForShownState(page: Page, upstream: string, state: string): Promise<void> {
  await page.waitForFunction(
    ([name, expected]) =>
      document.querySelector(`[data-upstream="${name}"] [data-field="state"]`)?.textContent === expected,
    [upstream, state] as const,
    { timeout: WAIT_MS },
  );
}

/** The innermost highlighted box of the upstream's statechart. */
function highlighted(page: Page, upstream: string): Promise<string | null> {
  return page.evaluate((name) => {
    const boxes = document.querySelectorAll(`[data-upstream="${name}"] .sc-state.active`);
    return boxes[boxes.length - 1]?.getAttribute('data-state') ?? null;
  }, upstream);
}

describe('the status page in a browser', () => {
  it('shows an upstream going down and coming back, live', async () => {
    const browser = await launchBrowser();
    cleanups.push(() => browser.close());
    const upstream = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'add', 'fail'] });
    cleanups.push(() => upstream.close());
    const tokenDir = await mkdtemp(join(tmpdir(), 'proxy-e2e-tokens-'));
    cleanups.push(() => rm(tokenDir, { recursive: true, force: true }));

    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, '--inspect'],
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PROXY_TOKEN_DIR: tokenDir,
        BROWSER: 'none',
        ENABLE_ADDITIONAL_TOOLS: 'proxy',
        PROXY_UPSTREAMS: JSON.stringify([{ name: 'alpha', url: upstream.url.href, ignore_tools: ['fail'] }]),
      },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const client = new Client({ name: 'e2e-status-page', version: '1.0.0' });
    await client.connect(transport);
    cleanups.push(() => client.close());
    await client.listTools();

    const url = /status page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)?.[1];
    expect(url, stderr).toBeDefined();
    expect(stderr).toMatch(/Stately inspector: http:\/\/127\.0\.0\.1:\d+\/inspector/);

    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(url!)) external.push(request.url());
    });
    await page.goto(url!);
    await waitForShownState(page, 'alpha', 'connected.ready.idle');
    const card = page.locator('[data-upstream="alpha"]');
    expect(await card.locator('[data-field="tools"]').textContent()).toBe('echo, add');
    expect(await card.locator('[data-field="filteredOut"]').textContent()).toBe('fail');
    expect(await card.locator('[data-field="transport"]').textContent()).toBe('Streamable HTTP');
    expect(await highlighted(page, 'alpha')).toBe('connected.ready.idle');
    // Anything that changes from here on comes over the event stream: the document stays the same.
    await page.evaluate(() => {
      (window as unknown as { sameDocument: boolean }).sameDocument = true;
    });

    await upstream.kill();
    // While it is down the upstream alternates between reconnecting (waiting) and connecting (a brief attempt):
    // the screenshots count once the page shows reconnecting before and after them.
    const reconnectingBox = card.locator('.sc-state[data-state="reconnecting"]');
    let down: Buffer | undefined;
    let boxWhileDown: Buffer | undefined;
    for (let tries = 0; tries < 5 && !boxWhileDown; tries++) {
      await waitForShownState(page, 'alpha', 'reconnecting');
      // A redraw of the chart in the middle of a screenshot detaches its box: that try doesn't count either.
      const shots = await Promise.all([card.screenshot(), reconnectingBox.screenshot()]).catch(() => undefined);
      if (shots && (await highlighted(page, 'alpha')) === 'reconnecting') [down, boxWhileDown] = shots;
    }
    expect(boxWhileDown, 'no screenshot of the page showing reconnecting').toBeDefined();
    expect(await card.locator('[data-field="lastError"]').textContent()).toContain('upstream "alpha"');
    expect(Number(await card.locator('[data-field="reconnectAttempts"]').textContent())).toBeGreaterThan(0);

    await upstream.restart();
    await waitForShownState(page, 'alpha', 'connected.ready.idle');
    expect(await highlighted(page, 'alpha')).toBe('connected.ready.idle');
    expect(await card.locator('[data-field="reconnectAttempts"]').textContent()).toBe('0');
    const up = await card.screenshot();
    const boxWhileUp = await reconnectingBox.screenshot();

    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(down?.equals(up)).toBe(false);
    // The `reconnecting` box of the chart is drawn highlighted while down, and plain once back.
    expect(boxWhileDown?.equals(boxWhileUp)).toBe(false);
    expect(external).toEqual([]);
  });
});
