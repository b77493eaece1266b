import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readBrowserSettings } from '../../src/config/index.js';
import { noBrowserAvailable, openInBrowser, splitCommand } from '../../src/oauth/browser.js';
import { createLogger, type Logger } from '../../src/observe/log.js';

const RECORD_SCRIPT = fileURLToPath(new URL('../fixtures/browser-record.mjs', import.meta.url));
// Everything a shell would act on, and what a URL really carries: only a shell-free spawn delivers it intact.
const URL_TO_OPEN =
  'https://auth.example.com/authorize?response_type=code&client_id=abc&state=x%20y&redirect_uri=' +
  'http%3A%2F%2F127.0.0.1%3A3334%2Fcallback&scope=a+b&q=$(touch%20pwned);\'"`#frag';

let dir: string;
let files = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oauth-browser-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger({ debug: false, write: (line) => lines.push(line) }) };
}

const quote = (text: string) => `"${text.replace(/["\\$`]/g, '\\$&')}"`;

/** A BROWSER value running the recording script, and where its arguments will be. */
function recordingBrowser(...options: string[]) {
  const out = join(dir, `argv-${++files}.json`);
  const command = [process.execPath, RECORD_SCRIPT, out, ...options].map(quote).join(' ');
  const record = async () => JSON.parse(await readFile(out, 'utf8')) as { argv: string[]; stdout: string | null };
  return { command, record, recorded: async () => (await record()).argv };
}

const signInLine = (upstream: string) => `[mcp-upstream-proxy] upstream "${upstream}": sign in at ${URL_TO_OPEN}`;
const never = vi.fn(async () => {
  throw new Error('open must not run in this test');
});

describe('openInBrowser with BROWSER', () => {
  it('runs the BROWSER command with the URL as one intact argument', async () => {
    const { lines, logger } = capturingLogger();
    const browser = recordingBrowser();
    const outcome = await openInBrowser(URL_TO_OPEN, {
      upstream: 'alpha',
      browser: readBrowserSettings({ BROWSER: browser.command }),
      logger,
      openUrl: never,
    });
    expect(outcome).toBe('opened');
    const record = await vi.waitFor(browser.record);
    expect(record.argv).toEqual([URL_TO_OPEN]);
    // stdout is the protocol: the browser must not be able to write to it.
    if (process.platform === 'linux') expect(record.stdout).toBe('/dev/null');
    expect(lines).toEqual([signInLine('alpha')]);
    expect(never).not.toHaveBeenCalled();
  });

  it('passes the command its own arguments, and puts the URL where %s is', async () => {
    const { logger } = capturingLogger();
    const browser = recordingBrowser('--new-window', "it's", '--target=%s');
    expect(
      await openInBrowser(URL_TO_OPEN, {
        upstream: 'alpha',
        browser: readBrowserSettings({ BROWSER: browser.command }),
        logger,
      }),
    ).toBe('opened');
    expect(await vi.waitFor(browser.recorded)).toEqual(['--new-window', "it's", `--target=${URL_TO_OPEN}`]);
  });

  it('counts a command still running after settleMs as opened', async () => {
    const { lines, logger } = capturingLogger();
    const browser = recordingBrowser('--linger=8000');
    const started = Date.now();
    const outcome = await openInBrowser(URL_TO_OPEN, {
      upstream: 'alpha',
      browser: readBrowserSettings({ BROWSER: browser.command }),
      logger,
      settleMs: 300,
    });
    expect(outcome).toBe('opened');
    // Not waited out: far sooner than the command ends.
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(await vi.waitFor(browser.recorded)).toEqual(['--linger=8000', URL_TO_OPEN]);
    expect(lines).toEqual([signInLine('alpha')]);
  });

  it('BROWSER=none prints the URL and opens nothing', async () => {
    for (const value of ['none', ' NONE ']) {
      const { lines, logger } = capturingLogger();
      const outcome = await openInBrowser(URL_TO_OPEN, {
        upstream: 'alpha',
        browser: readBrowserSettings({ BROWSER: value }),
        logger,
        openUrl: never,
      });
      expect(outcome).toBe('printed');
      expect(lines).toEqual([signInLine('alpha')]);
    }
    expect(never).not.toHaveBeenCalled();
  });

  it('a BROWSER command that does not exist: printed, with a warning, no throw', async () => {
    const { lines, logger } = capturingLogger();
    const outcome = await openInBrowser(URL_TO_OPEN, {
      upstream: 'alpha',
      browser: readBrowserSettings({ BROWSER: join(dir, 'no-such-browser') }),
      logger,
      openUrl: never,
    });
    expect(outcome).toBe('printed');
    expect(lines).toEqual([
      signInLine('alpha'),
      `[mcp-upstream-proxy] warning: upstream "alpha": could not open a browser (BROWSER command "${join(dir, 'no-such-browser')}" was not found); open the address above to sign in`,
    ]);
  });

  it('a BROWSER command that exits non-zero: printed, with its exit code', async () => {
    const { lines, logger } = capturingLogger();
    const browser = recordingBrowser('--exit=3');
    // A generous settleMs: on a loaded machine, starting node may take longer than the default second.
    const outcome = await openInBrowser(URL_TO_OPEN, {
      upstream: 'alpha',
      browser: readBrowserSettings({ BROWSER: browser.command }),
      logger,
      settleMs: 10_000,
    });
    expect(outcome).toBe('printed');
    expect(lines[0]).toBe(signInLine('alpha'));
    expect(lines[1]).toContain('exited with code 3); open the address above to sign in');
  });

  it('a BROWSER value that is not a command: printed, no throw', async () => {
    const { lines, logger } = capturingLogger();
    const outcome = await openInBrowser(URL_TO_OPEN, {
      upstream: 'alpha',
      browser: readBrowserSettings({ BROWSER: 'firefox "oops' }),
      logger,
    });
    expect(outcome).toBe('printed');
    expect(lines[1]).toContain('BROWSER is not a valid command: unterminated " quote');
  });
});

describe('openInBrowser without BROWSER (the open package, replaced here)', () => {
  const launcher = (...args: string[]) =>
    vi.fn(async () => spawn(process.execPath, [RECORD_SCRIPT, '', ...args], { stdio: 'ignore' }));

  it('opened when the launcher starts and exits 0', async () => {
    const { lines, logger } = capturingLogger();
    const openUrl = launcher();
    expect(
      await openInBrowser(URL_TO_OPEN, { upstream: 'alpha', browser: readBrowserSettings({}), logger, openUrl }),
    ).toBe('opened');
    expect(openUrl).toHaveBeenCalledWith(URL_TO_OPEN);
    expect(lines).toEqual([signInLine('alpha')]);
  });

  it('printed when the launcher exits non-zero (xdg-open with no display) or cannot start', async () => {
    const { lines, logger } = capturingLogger();
    expect(
      await openInBrowser(URL_TO_OPEN, {
        upstream: 'alpha',
        browser: readBrowserSettings({}),
        logger,
        openUrl: launcher('--exit=3'),
        settleMs: 10_000,
      }),
    ).toBe('printed');
    expect(lines[1]).toBe(
      '[mcp-upstream-proxy] warning: upstream "alpha": could not open a browser (exited with code 3); open the address above to sign in',
    );
    const failing = vi.fn(async () => {
      throw new AggregateError([new Error('spawn xdg-open ENOENT')], 'Failed to open in all supported apps');
    });
    expect(
      await openInBrowser(URL_TO_OPEN, {
        upstream: 'beta',
        browser: readBrowserSettings({}),
        logger,
        openUrl: failing,
      }),
    ).toBe('printed');
    expect(lines.slice(2)).toEqual([
      signInLine('beta'),
      '[mcp-upstream-proxy] warning: upstream "beta": could not open a browser (spawn xdg-open ENOENT); open the address above to sign in',
    ]);
  });

  it('never throws, even when logging does', async () => {
    const throwing: Logger = {
      debugEnabled: false,
      info: () => {
        throw new Error('EPIPE');
      },
      warn: () => {
        throw new Error('EPIPE');
      },
      error: () => {},
      debug: () => {},
    };
    const failing = vi.fn(async () => {
      throw new Error('no display');
    });
    await expect(
      openInBrowser(URL_TO_OPEN, {
        upstream: 'alpha',
        browser: readBrowserSettings({}),
        logger: throwing,
        openUrl: failing,
      }),
    ).resolves.toBe('printed');
  });
});

describe('splitCommand', () => {
  it('splits on whitespace, honours quotes and backslashes, expands nothing', () => {
    expect(splitCommand('firefox')).toEqual(['firefox']);
    expect(splitCommand('  firefox   --new-window  ')).toEqual(['firefox', '--new-window']);
    expect(splitCommand(`"/opt/My Browser/bin" --profile 'a b' x\\ y "say \\"hi\\"" '$HOME' ""`)).toEqual([
      '/opt/My Browser/bin',
      '--profile',
      'a b',
      'x y',
      'say "hi"',
      '$HOME',
      '',
    ]);
    expect(splitCommand('a;b|c && $(d)')).toEqual(['a;b|c', '&&', '$(d)']);
    expect(splitCommand('')).toEqual([]);
  });

  it('keeps backslashes on Windows, where they separate paths', () => {
    expect(splitCommand('"C:\\Program Files\\Browser\\browser.exe" --new', 'win32')).toEqual([
      'C:\\Program Files\\Browser\\browser.exe',
      '--new',
    ]);
    expect(splitCommand('C:\\bin\\browser.exe', 'win32')).toEqual(['C:\\bin\\browser.exe']);
  });

  it('rejects an unterminated quote', () => {
    expect(() => splitCommand("firefox 'x")).toThrow("unterminated ' quote");
  });
});

describe('noBrowserAvailable (the cue for the device flow)', () => {
  it('is true for BROWSER=none, whatever the platform', () => {
    expect(noBrowserAvailable(readBrowserSettings({ BROWSER: 'none', DISPLAY: ':0' }, 'linux'))).toBe(true);
    expect(noBrowserAvailable(readBrowserSettings({ BROWSER: ' None ' }, 'darwin'))).toBe(true);
  });

  it('is true on Linux with no graphical session, false with one, in WSL, or with a BROWSER command', () => {
    expect(noBrowserAvailable(readBrowserSettings({}, 'linux'))).toBe(true);
    expect(noBrowserAvailable(readBrowserSettings({ SSH_CONNECTION: '10.0.0.1 22 10.0.0.2 22' }, 'linux'))).toBe(true);
    expect(noBrowserAvailable(readBrowserSettings({ DISPLAY: ':0' }, 'linux'))).toBe(false);
    expect(noBrowserAvailable(readBrowserSettings({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux'))).toBe(false);
    expect(noBrowserAvailable(readBrowserSettings({ WSL_DISTRO_NAME: 'Ubuntu' }, 'linux'))).toBe(false);
    expect(noBrowserAvailable(readBrowserSettings({ BROWSER: 'w3m' }, 'linux'))).toBe(false);
  });

  it('is false on macOS and Windows, whose openers need no display variable', () => {
    expect(noBrowserAvailable(readBrowserSettings({}, 'darwin'))).toBe(false);
    expect(noBrowserAvailable(readBrowserSettings({}, 'win32'))).toBe(false);
  });
});
