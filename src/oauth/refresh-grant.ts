/** Refreshing an access token with the refresh token, and what the server's refusal means for the sign-in. */
import {
  type FetchLike,
  OAuthError,
  type OAuthServerInfo,
  type OAuthTokens,
  refreshAuthorization,
} from '@modelcontextprotocol/client';
import {
  AuthClientRejectedError,
  AuthExpiredError,
  AuthRefreshError,
  UpstreamAuthRequiredError,
} from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import type { ClientIdentity } from './client-identity.js';
import type { HeldTokens } from './held-tokens.js';
import { acquireSignInLock, type SignInLock } from './lock.js';
import type { StoredTokens, TokenStore } from './store.js';

/** What the refresh needs of the upstream's session. */
export interface RefreshContext {
  upstream: string;
  store: TokenStore;
  held: HeldTokens;
  identity: ClientIdentity;
  fetchFn: FetchLike;
  logger: Logger;
  /** How long to wait for another process's refresh or sign-in (PROXY_OAUTH_TIMEOUT_MS). */
  lockTimeoutMs: number;
  serverInfo: () => Promise<OAuthServerInfo>;
  resource: () => string | URL | undefined;
  save: (tokens: OAuthTokens, previousRefreshToken: string) => Promise<void>;
}

/**
 * The refresh token grant, one at a time per token folder across processes: with rotating refresh tokens, a second
 * refresh with the same token is a reuse, for which a strict server (node-oidc-provider) revokes the whole grant.
 * Whoever waited then takes the tokens the other stored. `invalid_grant` means a new sign-in, `invalid_client` a
 * new registration too.
 */
export async function refreshWithRefreshToken(
  current: StoredTokens | undefined,
  context: RefreshContext,
): Promise<void> {
  if (!current?.refreshToken) {
    throw new UpstreamAuthRequiredError(`upstream "${context.upstream}" requires sign-in`);
  }
  let lock: SignInLock;
  try {
    lock = await acquireSignInLock(context.store.dir, { timeoutMs: context.lockTimeoutMs });
  } catch (error) {
    throw new AuthRefreshError(
      `upstream "${context.upstream}": refreshing the access token failed (${(error as Error).message})`,
    );
  }
  try {
    await refreshHoldingLock({ ...current, refreshToken: current.refreshToken }, context);
  } finally {
    await lock.release();
  }
}

async function refreshHoldingLock(
  current: StoredTokens & { refreshToken: string },
  context: RefreshContext,
): Promise<void> {
  // Another proxy process sharing the store may have refreshed already (rotating refresh tokens make ours void).
  if (await context.held.adoptNewerStored(current)) return;
  const info = await context.serverInfo();
  const chosen = await context.identity.forRefresh(info.authorizationServerMetadata);
  if (!chosen) {
    throw new UpstreamAuthRequiredError(`upstream "${context.upstream}" requires sign-in`);
  }
  try {
    const tokens = await refreshAuthorization(info.authorizationServerUrl, {
      metadata: info.authorizationServerMetadata,
      clientInformation: chosen.client,
      addClientAuthentication: chosen.addClientAuthentication,
      refreshToken: current.refreshToken,
      resource: context.resource(),
      fetchFn: context.fetchFn,
    });
    await context.save(tokens, current.refreshToken);
    context.logger.debug(`upstream "${context.upstream}": access token refreshed`);
  } catch (error) {
    if (error instanceof OAuthError && (await context.held.adoptNewerStored(current))) return;
    if (error instanceof OAuthError && error.code === 'invalid_client') {
      await context.store.clearClient();
      await context.held.forget(current);
      throw new AuthClientRejectedError(`upstream "${context.upstream}": the client was revoked; signing in again`, {
        kind: 'auth',
      });
    }
    if (error instanceof OAuthError) {
      await context.held.forget(current);
      throw new AuthExpiredError(`upstream "${context.upstream}": the sign-in expired; signing in again`);
    }
    throw new AuthRefreshError(`upstream "${context.upstream}": refreshing the access token failed`);
  }
}
