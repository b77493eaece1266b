/**
 * The OAuth settings that come from the environment, resolved once at load: the loopback callback (port, host),
 * how long a sign-in waits, where tokens are kept, and what opening a browser means here. The oauth code takes
 * them as options and reads no variable itself.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { readEnv } from './env.js';
import { integerVariable, MAX_TIMER_MS, read, variable } from './variables.js';

type Env = NodeJS.ProcessEnv;

/** mcp-devtools' callback port, for which users registered their static clients (`http://localhost:3334/callback`). */
export const DEFAULT_CALLBACK_PORT = 3334;
export const DEFAULT_OAUTH_TIMEOUT_MS = 300_000;

/** What opening a browser can mean on this machine (see oauth/browser.ts). */
export interface BrowserSettings {
  /** `BROWSER=<command>`: run that command with the URL. */
  command?: string;
  /** `BROWSER=none`: print the URL only. */
  disabled: boolean;
  /** Linux without a graphical session (no DISPLAY, no WAYLAND_DISPLAY, not WSL): xdg-open can only fail. */
  headless: boolean;
}

export interface OAuthSettings {
  /** `PROXY_OAUTH_CALLBACK_PORT`; undefined when unset (the callback then prefers 3334, or a redirect URI's port). */
  callbackPort?: number;
  /** `PROXY_OAUTH_CALLBACK_HOST`: the host of a static client's default redirect URI. */
  callbackHost: string;
  /** `PROXY_OAUTH_TIMEOUT_MS`: how long a sign-in may wait for the user. */
  timeoutMs: number;
  /** `PROXY_TOKEN_DIR`, else `~/.mcp-devtools/oauth`. */
  tokenRoot: string;
  browser: BrowserSettings;
}

const callbackPortSchema = integerVariable(
  1,
  65535,
  (got) => `PROXY_OAUTH_CALLBACK_PORT must be a port number from 1 to 65535, got ${got}`,
);

const oauthTimeoutSchema = integerVariable(
  1,
  MAX_TIMER_MS,
  (got) => `PROXY_OAUTH_TIMEOUT_MS must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${got}`,
);

/** Loopback names a browser can be sent back to; the callback server listens on 127.0.0.1 whatever the name. */
const callbackHostSchema = variable.transform((raw, context) => {
  const host = raw?.toLowerCase() ?? 'localhost';
  if (host === 'localhost' || host === '127.0.0.1') return host;
  context.addIssue({
    code: 'custom',
    message: 'PROXY_OAUTH_CALLBACK_HOST must be localhost or 127.0.0.1 (the callback listens on 127.0.0.1 only)',
  });
  return z.NEVER;
});

/** Every OAuth setting of the environment; bad values are added to `problems` (and the default is used). */
export function readOAuthSettings(env: Env, problems: string[] = [], platform = process.platform): OAuthSettings {
  // In this order, as the problems are listed.
  const callbackHost = read(callbackHostSchema, env.PROXY_OAUTH_CALLBACK_HOST, 'localhost', problems);
  const callbackPort = read(callbackPortSchema, env.PROXY_OAUTH_CALLBACK_PORT, undefined, problems);
  return {
    ...(callbackPort !== undefined && { callbackPort }),
    callbackHost,
    timeoutMs: read(oauthTimeoutSchema, env.PROXY_OAUTH_TIMEOUT_MS, DEFAULT_OAUTH_TIMEOUT_MS, problems),
    tokenRoot: tokenRoot(env, platform),
    browser: readBrowserSettings(env, platform),
  };
}

/**
 * `PROXY_TOKEN_DIR` (absolute, relative to the working directory, or starting with `~/`), else
 * `~/.mcp-devtools/oauth`, where mcp-devtools keeps its own.
 */
export function tokenRoot(env: Env, platform = process.platform): string {
  const isWindows = platform === 'win32';
  const home = (isWindows ? env.USERPROFILE : env.HOME) || homedir();
  const configured = env.PROXY_TOKEN_DIR?.trim();
  if (!configured) return join(home, '.mcp-devtools', 'oauth');
  if (configured === '~') return home;
  if (configured.startsWith('~/') || (isWindows && configured.startsWith('~\\'))) {
    return join(home, configured.slice(2));
  }
  return resolve(configured);
}

/**
 * `BROWSER` (`none`, or a command), and whether the machine has a graphical session: Linux with no DISPLAY and no
 * WAYLAND_DISPLAY (a server, a container, ssh without X forwarding) has none; WSL opens the Windows browser, and
 * elsewhere (macOS, Windows) the system's opener is taken to work.
 */
export function readBrowserSettings(env: Env, platform: NodeJS.Platform = process.platform): BrowserSettings {
  const browser = env.BROWSER?.trim();
  const disabled = browser?.toLowerCase() === 'none';
  const wsl = Boolean(env.WSL_DISTRO_NAME || env.WSL_INTEROP);
  return {
    ...(browser && !disabled && { command: browser }),
    disabled,
    headless: platform === 'linux' && !wsl && !env.DISPLAY && !env.WAYLAND_DISPLAY,
  };
}

/**
 * A static client from the environment: `PROXY_<NAME>_CLIENT_ID` and `_CLIENT_SECRET`, which win over
 * `oauth.client_id` and `oauth.client_secret`. Undefined fields are left out.
 */
export function clientFromEnv(env: Env, prefix: string): { clientId?: string; clientSecret?: string } {
  const clientId = readEnv(env, `${prefix}CLIENT_ID`);
  const clientSecret = readEnv(env, `${prefix}CLIENT_SECRET`);
  return { ...(clientId !== undefined && { clientId }), ...(clientSecret !== undefined && { clientSecret }) };
}
