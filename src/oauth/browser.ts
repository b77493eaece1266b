/**
 * Opening an authorization URL for the user. The URL always goes to stderr first, so a sign-in never depends on a
 * browser: `BROWSER=none` opens nothing, `BROWSER=<command>` runs that command, otherwise the `open` package picks
 * the system's way. Nothing spawned here may inherit stdout, which carries JSON-RPC alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { BrowserSettings } from '../config/index.js';
import type { Logger } from '../observe/log.js';

export type BrowserOutcome = 'opened' | 'printed';

export interface OpenInBrowserOptions {
  /** The upstream signing in, named in every line. */
  upstream: string;
  /** `BROWSER` and the machine's graphical session, resolved in config (oauth-settings.ts). */
  browser: BrowserSettings;
  logger: Logger;
  /** How long a launcher that is still running counts as having opened the URL; default 1000 ms. */
  settleMs?: number;
  /** Replaces the `open` package (tests: nothing may really launch). */
  openUrl?: (url: string) => Promise<ChildProcess>;
}

const DEFAULT_SETTLE_MS = 1000;

/**
 * Prints `upstream "<name>": sign in at <url>` on stderr, then tries to open the URL in a browser. Resolves
 * 'opened' when a launcher started and did not fail within `settleMs`, 'printed' when the user has to open the URL
 * from the printed line. Never throws.
 */
export async function openInBrowser(url: string, options: OpenInBrowserOptions): Promise<BrowserOutcome> {
  const { upstream, logger } = options;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  try {
    logger.info(`upstream "${upstream}": sign in at ${oneLine(url)}`);
  } catch {
    // A broken stderr must not turn a sign-in into a crash; nothing else can be done about it here.
  }
  try {
    const { command: browser, disabled } = options.browser;
    if (disabled) {
      logger.debug(`upstream "${upstream}": BROWSER=none, not opening a browser`);
      return 'printed';
    }
    const failure = browser ? await runBrowserCommand(browser, url, settleMs) : await runOpen(url, settleMs, options);
    if (failure === undefined) return 'opened';
    logger.warn(`upstream "${upstream}": could not open a browser (${failure}); open the address above to sign in`);
    return 'printed';
  } catch (error) {
    try {
      logger.warn(
        `upstream "${upstream}": could not open a browser (${messageOf(error)}); open the address above to sign in`,
      );
    } catch {}
    return 'printed';
  }
}

/**
 * Whether a sign-in should not count on a browser at all (the device flow's cue, device-flow.ts): `BROWSER=none`, or
 * a machine without a graphical session, where xdg-open can only fail. A `BROWSER` command is the user's word that
 * something can open the link.
 */
export function noBrowserAvailable(browser: BrowserSettings): boolean {
  if (browser.disabled) return true;
  if (browser.command) return false;
  return browser.headless;
}

/** Runs `BROWSER` (a command with arguments, no shell); resolves undefined when it launched, else why not. */
async function runBrowserCommand(command: string, url: string, settleMs: number): Promise<string | undefined> {
  let words: string[];
  try {
    words = splitCommand(command);
  } catch (error) {
    return `BROWSER is not a valid command: ${messageOf(error)}`;
  }
  const [program, ...rest] = words;
  if (!program) return 'BROWSER is empty';
  // `%s` marks where the URL goes (the convention of xdg-open and Python's webbrowser); otherwise it comes last.
  const args = rest.some((word) => word.includes('%s'))
    ? rest.map((word) => word.replaceAll('%s', url))
    : [...rest, url];
  let child: ChildProcess;
  try {
    child = spawn(program, args, { detached: true, stdio: 'ignore', windowsHide: true });
  } catch (error) {
    return `BROWSER command "${program}" failed: ${messageOf(error)}`;
  }
  const failure = await watchLaunch(child, settleMs);
  return failure === undefined ? undefined : `BROWSER command "${program}" ${failure}`;
}

async function runOpen(url: string, settleMs: number, options: OpenInBrowserOptions): Promise<string | undefined> {
  let child: ChildProcess;
  try {
    if (options.openUrl) {
      child = await options.openUrl(url);
    } else {
      // Loaded on first sign-in only: it pulls in a dozen modules the proxy needs nowhere else.
      const { default: open } = await import('open');
      // On Linux `open` spawns xdg-open detached with stdio ignored; elsewhere stdio is piped, never inherited.
      child = await open(url, { wait: false });
    }
  } catch (error) {
    return messageOf(error);
  }
  // xdg-open with no display and no text browser exits 3 right away; `open` resolves before that, on spawn.
  return watchLaunch(child, settleMs);
}

/**
 * Watches a launcher for `settleMs`: an error or a non-zero exit in that time is a failure (resolved as a reason),
 * exit 0 or still running is success (undefined). The child is left to run, unreferenced.
 */
function watchLaunch(child: ChildProcess, settleMs: number): Promise<string | undefined> {
  // An 'error' event with no listener throws: keep one for the child's whole life.
  child.on('error', () => {});
  child.unref();
  if (child.exitCode !== null)
    return Promise.resolve(child.exitCode === 0 ? undefined : `exited with code ${child.exitCode}`);
  return new Promise((resolve) => {
    const done = (failure: string | undefined) => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      resolve(failure);
    };
    const onError = (error: NodeJS.ErrnoException) =>
      done(error.code === 'ENOENT' ? 'was not found' : `failed: ${messageOf(error)}`);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      done(code === 0 ? undefined : code === null ? `was killed by ${signal}` : `exited with code ${code}`);
    const timer = setTimeout(() => done(undefined), settleMs);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

/**
 * Splits a command line into words the way a POSIX shell would for plain words and quotes: whitespace separates,
 * '…' is literal, "…" is literal but for \" \\ \$ \`, and a backslash outside quotes escapes the next character
 * (except on Windows, where backslashes are path separators). No expansion, no operators: nothing runs a shell.
 */
export function splitCommand(command: string, platform: NodeJS.Platform = process.platform): string[] {
  const backslashEscapes = platform !== 'win32';
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let index = 0; index < command.length; index++) {
    const char = command[index]!;
    const next = command[index + 1];
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else word += char;
    } else if (quote === '"') {
      if (char === '"') quote = undefined;
      else if (char === '\\' && backslashEscapes && next !== undefined && '"\\$`'.includes(next)) {
        word += next;
        index++;
      } else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\' && backslashEscapes && next !== undefined) {
      word += next;
      inWord = true;
      index++;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(messageOf).join('; ');
  return oneLine(error instanceof Error ? error.message : String(error));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: one log line per message, whatever the input holds
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

function oneLine(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ');
}
