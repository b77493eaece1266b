/**
 * Where the browser comes back to after an authorization, and so which port the loopback callback must hold.
 * A registered client gets the callback's own `http://127.0.0.1:<port>/callback` (RFC 8252 §7.3). A static client
 * was registered by hand for one fixed URI: `oauth.redirect_uri`, else mcp-devtools'
 * `http://localhost:3334/callback` (host PROXY_OAUTH_CALLBACK_HOST, port PROXY_OAUTH_CALLBACK_PORT); the callback
 * server, on 127.0.0.1 either way, must then hold that port and answer on that path.
 */
import { DEFAULT_CALLBACK_PORT, type UpstreamConfig } from '../config/index.js';
import { CallbackPortError } from '../errors/index.js';
import { CALLBACK_PATH, type CallbackServer } from './callback.js';

export interface RedirectSettings {
  /** PROXY_OAUTH_CALLBACK_PORT, when set. */
  callbackPort?: number;
  /** PROXY_OAUTH_CALLBACK_HOST: `localhost` or `127.0.0.1`. */
  callbackHost: string;
}

/**
 * The port the shared callback server prefers: PROXY_OAUTH_CALLBACK_PORT, else the port of the first configured
 * redirect URI (a static client's, which the callback must hold), else undefined (the callback's default).
 */
export function preferredCallbackPort(
  upstreams: readonly UpstreamConfig[],
  callbackPort: number | undefined,
): number | undefined {
  const redirectPort = upstreams.find((upstream) => upstream.oauth?.redirectUri)?.oauth?.redirectUri?.port;
  return callbackPort ?? (redirectPort ? Number(redirectPort) : undefined);
}

/** The redirect URI of a sign-in of `upstream` through `callback`; `isStatic`: the user's own client. */
export function redirectUriFor(
  upstream: UpstreamConfig,
  callback: CallbackServer,
  isStatic: boolean,
  settings: RedirectSettings,
): string {
  if (!isStatic) return callback.redirectUri;
  const configured = upstream.oauth?.redirectUri;
  const expected = configured ? Number(configured.port) : (settings.callbackPort ?? DEFAULT_CALLBACK_PORT);
  if (callback.port !== expected) {
    throw new CallbackPortError(
      `upstream "${upstream.name}": port ${expected} is taken, but the static client expects its sign-in callback there; free port ${expected} and restart`,
    );
  }
  const uri = configured?.href ?? `http://${settings.callbackHost}:${expected}${CALLBACK_PATH}`;
  callback.acceptPath(new URL(uri).pathname);
  return uri;
}
