/**
 * The authorization code grant with PKCE through the browser and the loopback callback: the authorization URL
 * (with a random state and the parameters a provider needs), the browser or the printed link, the wait for the
 * callback, and the code exchange.
 */
import { randomBytes } from 'node:crypto';
import {
  exchangeAuthorization,
  type FetchLike,
  type OAuthServerInfo,
  type OAuthTokens,
  startAuthorization,
} from '@modelcontextprotocol/client';
import type { BrowserSettings, UpstreamConfig } from '../config/index.js';
import { SignInNeededError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { openInBrowser } from './browser.js';
import type { CallbackServer } from './callback.js';
import type { PendingSignIn } from './pending-sign-in.js';
import type { ChosenClient } from './static-client.js';

/** Google's issuer: the one provider that asks for refresh tokens with a parameter instead of a scope. */
const GOOGLE_ISSUER = 'https://accounts.google.com';

export interface AuthorizationCodeSignIn {
  upstream: UpstreamConfig;
  info: OAuthServerInfo;
  callback: CallbackServer;
  redirectUri: string;
  chosen: ChosenClient;
  scope: string | undefined;
  resource: string | URL | undefined;
  fetchFn: FetchLike;
  logger: Logger;
  browser: BrowserSettings;
  /** How long the callback is waited for (PROXY_OAUTH_TIMEOUT_MS). */
  timeoutMs: number;
  /** Told once the user has to act: the URL, and whether a browser was opened. */
  onWaiting: (pending: PendingSignIn) => void;
}

/** The tokens of a sign-in through the browser; rejects with SignInNeededError when it times out or is denied. */
export async function signInWithAuthorizationCode(signIn: AuthorizationCodeSignIn): Promise<OAuthTokens> {
  const { upstream, info, callback, redirectUri, chosen } = signIn;
  const state = randomBytes(32).toString('base64url');
  const { authorizationUrl, codeVerifier } = await startAuthorization(info.authorizationServerUrl, {
    metadata: info.authorizationServerMetadata,
    clientInformation: chosen.client,
    redirectUrl: redirectUri,
    scope: signIn.scope,
    state,
    resource: signIn.resource,
  });
  for (const [name, value] of Object.entries(authorizeParams(upstream, info))) {
    authorizationUrl.searchParams.set(name, value);
  }
  const answer = callback.waitFor(state, { upstream: upstream.name, timeoutMs: signIn.timeoutMs });
  // Handled below, after the browser starts; a quick rejection (denied, closed) must not count as unhandled.
  answer.catch(() => {});
  const how = await openInBrowser(authorizationUrl.href, {
    upstream: upstream.name,
    browser: signIn.browser,
    logger: signIn.logger,
  });
  signIn.onWaiting({ url: authorizationUrl.href, how });
  let result: Awaited<typeof answer>;
  try {
    result = await answer;
  } catch (error) {
    // Timed out, denied or aborted: the message already names the upstream and holds no secret.
    throw new SignInNeededError((error as Error).message);
  }
  return exchangeAuthorization(info.authorizationServerUrl, {
    metadata: info.authorizationServerMetadata,
    clientInformation: chosen.client,
    addClientAuthentication: chosen.addClientAuthentication,
    authorizationCode: result.code,
    iss: result.iss,
    codeVerifier,
    redirectUri,
    resource: signIn.resource,
    fetchFn: signIn.fetchFn,
  });
}

/**
 * `oauth.authorize_params`, over what a known provider needs: Google grants a refresh token only for
 * `access_type=offline` (it has no `offline_access` scope), and again only with `prompt=consent`.
 */
function authorizeParams(upstream: UpstreamConfig, info: OAuthServerInfo): Record<string, string> {
  const google = info.authorizationServerMetadata?.issuer === GOOGLE_ISSUER;
  return {
    ...(google ? { access_type: 'offline', prompt: 'consent' } : {}),
    ...upstream.oauth?.authorizeParams,
  };
}
