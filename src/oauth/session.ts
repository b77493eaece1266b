/**
 * One upstream's OAuth state, shared by its transports and driven by its statechart: the transports ask it for
 * the access token before every request (and to refresh once on a 401); the `discovering`, `refreshing` and
 * `authorizing` states call `discover`, `refresh` and `signIn`. The SDK's building blocks do the protocol work;
 * this file decides which to call, keeps the tokens in the store, and never lets a secret into a message.
 */
import { randomBytes } from 'node:crypto';
import {
  type AuthProvider,
  checkResourceAllowed,
  computeScopeUnion,
  exchangeAuthorization,
  extractWWWAuthenticateParams,
  type FetchLike,
  isStrictScopeSuperset,
  type OAuthClientInformationMixed,
  OAuthError,
  type OAuthServerInfo,
  type OAuthTokens,
  refreshAuthorization,
  registerClient,
  resourceUrlFromServerUrl,
  startAuthorization,
} from '@modelcontextprotocol/client';
import { envPrefixFor, readEnv, type UpstreamConfig } from '../config/index.js';
import type { Logger } from '../observe/log.js';
import { registerSecret } from '../observe/redact.js';
import { UpstreamError } from '../upstream/failures.js';
import { IMPLEMENTATION } from '../version.js';
import { openInBrowser } from './browser.js';
import { type CallbackServer, callbackPortFromEnv, DEFAULT_CALLBACK_PORT } from './callback.js';
import { discoverServerInfo } from './discovery.js';
import { acquireSignInLock } from './lock.js';
import type { StoredClient, StoredTokens, TokenStore } from './store.js';

/** Refresh this long before expiry, or at 80 % of a lifetime shorter than five times this. */
const REFRESH_AHEAD_MS = 60_000;

/**
 * The scope that asks an OpenID provider for a refresh token (OpenID Connect Core §11): without it a strict one
 * (node-oidc-provider, say) issues none, and every expiry sends the user back to the browser (SEP-2207).
 */
const OFFLINE_ACCESS = 'offline_access';

export interface AuthSessionOptions {
  upstream: UpstreamConfig;
  store: TokenStore;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  fetchFn: FetchLike;
  /** The shared loopback callback server, started on first use. */
  callbackServer: () => Promise<CallbackServer>;
  /** How long a sign-in may wait for the browser (PROXY_OAUTH_TIMEOUT_MS). */
  signInTimeoutMs: number;
}

/** What sign-in is waiting for, for status and for the error result of calls. */
export interface PendingSignIn {
  url: string;
  /** 'opened': a browser was started; 'printed': only the URL was printed (no browser, or BROWSER=none). */
  how: 'opened' | 'printed';
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

function authError(kind: 'auth' | 'network' | 'permanent', code: string, message: string): UpstreamError {
  return new UpstreamError(kind, code, message);
}

export class AuthSession {
  private tokens: StoredTokens | undefined;
  private loaded: Promise<void> | undefined;
  private info: OAuthServerInfo | undefined;
  /** RFC 8707: the advertised resource verbatim (a URL object would add a trailing slash), else our own URL. */
  private resource: string | URL | undefined;
  private challengeScope: string | undefined;
  private resourceMetadataUrl: URL | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The same-origin issuer mismatch is worth one warning per upstream, not one per discovery. */
  private issuerMismatchWarned = false;
  /** A sign-in without refresh token is worth one warning per upstream. */
  private noRefreshTokenWarned = false;

  constructor(private readonly options: AuthSessionOptions) {}

  private get name(): string {
    return this.options.upstream.name;
  }

  /** Given to the transports: the token before every request, one refresh on a 401. */
  readonly authProvider: AuthProvider = {
    token: async () => {
      this.loaded ??= this.options.store.readTokens().then(
        (tokens) => {
          this.tokens = tokens;
          this.scheduleRefresh();
        },
        // An unreadable store (permissions, say) means no stored sign-in, not a broken upstream.
        (error: unknown) => this.options.logger.warn(`upstream "${this.name}": ${(error as Error).message}`),
      );
      await this.loaded;
      return this.tokens?.accessToken;
    },
    onUnauthorized: async ({ response }) => {
      const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(response);
      if (resourceMetadataUrl) this.resourceMetadataUrl = resourceMetadataUrl;
      if (scope) this.challengeScope = scope;
      // Parallel 401s share one refresh; without a refresh token, only a sign-in helps.
      if (this.tokens?.refreshToken) return this.refresh();
      throw authError('auth', 'ERR_UPSTREAM_AUTH_REQUIRED', `upstream "${this.name}" requires sign-in`);
    },
  };

  /** When the access token in use expires (for status: the time only, never the token). */
  get tokenExpiresAt(): number | undefined {
    return this.tokens?.expiresAt;
  }

  /** Whether the tokens held can be refreshed without the browser; undefined while there are none. */
  get refreshable(): boolean | undefined {
    return this.tokens === undefined ? undefined : this.tokens.refreshToken !== undefined;
  }

  /** Whether `refresh` can be tried before a sign-in. */
  get canRefresh(): boolean {
    return this.tokens?.refreshToken !== undefined;
  }

  /** Protected-resource and authorization-server metadata (the AS may live on another origin). */
  async discover(): Promise<void> {
    await this.authProvider.token();
    const { url, allowHttp } = this.options.upstream;
    if (url.protocol !== 'https:' && !isLoopback(url) && !allowHttp) {
      throw authError(
        'permanent',
        'ERR_UPSTREAM_AUTH_INSECURE',
        `upstream "${this.name}" asks for sign-in over plain HTTP; tokens are only sent over HTTPS (set allow_http to accept)`,
      );
    }
    let info: OAuthServerInfo;
    try {
      info = await discoverServerInfo(this.options.upstream.url, {
        resourceMetadataUrl: this.resourceMetadataUrl,
        fetchFn: this.options.fetchFn,
        onIssuerAccepted: ({ expected, received }) => {
          if (this.issuerMismatchWarned) return;
          this.issuerMismatchWarned = true;
          this.options.logger.warn(
            `upstream "${this.name}": its authorization server metadata names issuer ${received}, not ${expected}; accepted because it is on the same origin`,
          );
        },
      });
    } catch (error) {
      throw authError(
        'network',
        'ERR_UPSTREAM_AUTH_DISCOVERY',
        `upstream "${this.name}": cannot discover its authorization server (${(error as Error).message})`,
      );
    }
    const asUrl = new URL(info.authorizationServerUrl);
    if (asUrl.protocol !== 'https:' && !isLoopback(asUrl) && !this.options.upstream.allowHttp) {
      throw authError(
        'permanent',
        'ERR_UPSTREAM_AUTH_INSECURE',
        `upstream "${this.name}": its authorization server ${asUrl.origin} is not HTTPS (set allow_http to accept)`,
      );
    }
    if (!info.authorizationServerMetadata) {
      // The server answered 401 but names no authorization server (its metadata answered, without one): no
      // sign-in can help, the configured credentials (headers) are what is wrong.
      throw authError(
        'permanent',
        'ERR_UPSTREAM_AUTH_DISCOVERY',
        `upstream "${this.name}" refused access (401) and offers no OAuth sign-in; check its configured headers`,
      );
    }
    const advertised = info.resourceMetadata?.resource;
    const own = resourceUrlFromServerUrl(this.options.upstream.url);
    if (advertised && !checkResourceAllowed({ requestedResource: own, configuredResource: advertised })) {
      throw authError(
        'permanent',
        'ERR_UPSTREAM_AUTH_RESOURCE',
        `upstream "${this.name}": its metadata names another resource (${new URL(advertised).origin})`,
      );
    }
    this.info = info;
    this.resource = advertised ?? own;
  }

  /**
   * The scope to ask for, as the MCP spec has it: the configured one, else the challenge's, else the resource's
   * `scopes_supported`, else none; plus `offline_access` when the authorization server offers it and the client
   * may use refresh tokens (as the SDK's own `auth()` does; its `startAuthorization` then adds `prompt=consent`,
   * without which OpenID providers drop `offline_access`).
   */
  private scope(clientMayRefresh = true): string | undefined {
    const configured = this.options.upstream.oauth?.scopes;
    const supported = this.info?.resourceMetadata?.scopes_supported;
    const wanted = configured?.length
      ? configured.join(' ')
      : this.challengeScope || (supported?.length ? supported.join(' ') : undefined);
    return clientMayRefresh && this.offersOfflineAccess() ? computeScopeUnion(wanted, OFFLINE_ACCESS) : wanted;
  }

  /** `offline_access` in the server's `scopes_supported`, or an OpenID provider that lists no scopes. */
  private offersOfflineAccess(): boolean {
    const metadata = this.info?.authorizationServerMetadata;
    if (!metadata) return false;
    if (metadata.scopes_supported) return metadata.scopes_supported.includes(OFFLINE_ACCESS);
    return 'id_token_signing_alg_values_supported' in metadata;
  }

  private async serverInfo(): Promise<OAuthServerInfo> {
    if (!this.info) await this.discover();
    return this.info!;
  }

  /** Uses the refresh token; `invalid_grant` means a new sign-in, `invalid_client` a new registration too. */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshNow().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshNow(): Promise<void> {
    const current = this.tokens;
    if (!current?.refreshToken) {
      throw authError('auth', 'ERR_UPSTREAM_AUTH_REQUIRED', `upstream "${this.name}" requires sign-in`);
    }
    // Another proxy process sharing the store may have refreshed already (rotating refresh tokens make ours void).
    if (await this.adoptNewerStoredTokens(current)) return;
    const info = await this.serverInfo();
    const client = await this.options.store.readClient();
    const clientInformation = client ? toClientInformation(client) : this.staticClient();
    if (!clientInformation) {
      throw authError('auth', 'ERR_UPSTREAM_AUTH_REQUIRED', `upstream "${this.name}" requires sign-in`);
    }
    try {
      const tokens = await refreshAuthorization(info.authorizationServerUrl, {
        metadata: info.authorizationServerMetadata,
        clientInformation,
        refreshToken: current.refreshToken,
        resource: this.resource,
        fetchFn: this.options.fetchFn,
      });
      await this.save(tokens, current.refreshToken);
      this.options.logger.debug(`upstream "${this.name}": access token refreshed`);
    } catch (error) {
      if (error instanceof OAuthError && (await this.adoptNewerStoredTokens(current))) return;
      if (error instanceof OAuthError && error.code === 'invalid_client') {
        await this.options.store.clearClient();
        await this.forgetTokens(current);
        throw authError(
          'auth',
          'ERR_UPSTREAM_AUTH_CLIENT_REJECTED',
          `upstream "${this.name}": the client was revoked; signing in again`,
        );
      }
      if (error instanceof OAuthError) {
        await this.forgetTokens(current);
        throw authError(
          'auth',
          'ERR_UPSTREAM_AUTH_EXPIRED',
          `upstream "${this.name}": the sign-in expired; signing in again`,
        );
      }
      throw authError(
        'network',
        'ERR_UPSTREAM_AUTH_REFRESH',
        `upstream "${this.name}": refreshing the access token failed`,
      );
    }
  }

  /** Takes the stored tokens when another process replaced the ones this process holds. */
  private async adoptNewerStoredTokens(current: StoredTokens): Promise<boolean> {
    const stored = await this.options.store.readTokens();
    if (!stored || stored.accessToken === current.accessToken) return false;
    this.tokens = stored;
    this.scheduleRefresh();
    return true;
  }

  /** Drops refused tokens, from the store too unless another process already replaced them there. */
  private async forgetTokens(refused: StoredTokens): Promise<void> {
    this.tokens = undefined;
    clearTimeout(this.refreshTimer);
    const stored = await this.options.store.readTokens();
    if (!stored || stored.accessToken === refused.accessToken) await this.options.store.clearTokens();
  }

  private async save(tokens: OAuthTokens, previousRefreshToken?: string): Promise<void> {
    const stored: StoredTokens = {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type ?? 'Bearer',
      // A server that does not rotate refresh tokens keeps the old one valid.
      refreshToken: tokens.refresh_token ?? previousRefreshToken,
      expiresAt: tokens.expires_in !== undefined ? Date.now() + tokens.expires_in * 1000 : undefined,
      scope: tokens.scope,
      issuer: this.info?.authorizationServerMetadata?.issuer,
    };
    await this.options.store.writeTokens(stored);
    this.tokens = stored;
    this.loaded = Promise.resolve();
    this.scheduleRefresh();
    if (!stored.refreshToken && !this.noRefreshTokenWarned) {
      this.noRefreshTokenWarned = true;
      const when =
        stored.expiresAt !== undefined
          ? `, at ${new Date(stored.expiresAt).toISOString()}`
          : ' (the server did not say when)';
      this.options.logger.warn(
        `upstream "${this.name}": its authorization server issued no refresh token; this upstream will need a new sign-in when the access token expires${when}`,
      );
    }
  }

  /** Ahead of expiry, so calls never meet an expired token; a token without expiry is used until a 401. */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const { expiresAt, refreshToken } = this.tokens ?? {};
    if (expiresAt === undefined || refreshToken === undefined) return;
    const lifetime = expiresAt - Date.now();
    const ahead = lifetime > 5 * REFRESH_AHEAD_MS ? REFRESH_AHEAD_MS : lifetime * 0.2;
    this.refreshTimer = setTimeout(
      () => {
        this.refresh().catch((error: unknown) =>
          this.options.logger.warn(`upstream "${this.name}": ${(error as Error).message}`),
        );
      },
      Math.max(0, lifetime - ahead),
    );
    this.refreshTimer.unref();
  }

  private staticClient(): OAuthClientInformationMixed | undefined {
    const prefix = envPrefixFor(this.name);
    const clientId = readEnv(this.options.env, `${prefix}CLIENT_ID`) ?? this.options.upstream.oauth?.clientId;
    if (!clientId) return undefined;
    const clientSecret =
      readEnv(this.options.env, `${prefix}CLIENT_SECRET`) ?? this.options.upstream.oauth?.clientSecret;
    registerSecret(clientSecret);
    return clientSecret ? { client_id: clientId, client_secret: clientSecret } : { client_id: clientId };
  }

  /**
   * Stored client (registered again if its redirect URI no longer matches), static client, or registration; and
   * whether it may ask for `offline_access`.
   */
  private async clientFor(
    redirectUri: string,
    info: OAuthServerInfo,
  ): Promise<{ client: OAuthClientInformationMixed; mayRefresh: boolean }> {
    const stored = await this.options.store.readClient();
    if (stored && (stored.redirectUris === undefined || stored.redirectUris.includes(redirectUri))) {
      const mayRefresh = registeredForRefresh(stored);
      // A registration whose scope leaves out offline_access (one made before the proxy asked for it) would keep
      // this upstream without refresh tokens for good: register again, when the server allows it.
      const registerAgain =
        !mayRefresh &&
        this.offersOfflineAccess() &&
        info.authorizationServerMetadata?.registration_endpoint !== undefined &&
        !hasOtherGrantsOnly(stored);
      if (!registerAgain) return { client: toClientInformation(stored), mayRefresh };
    }
    const configured = this.staticClient();
    if (configured) {
      // A static client was registered with the usual callback port; another one would be refused by the server.
      const expected = callbackPortFromEnv(this.options.env) ?? DEFAULT_CALLBACK_PORT;
      if (!redirectUri.startsWith(`http://127.0.0.1:${expected}/`)) {
        throw authError(
          'permanent',
          'ERR_UPSTREAM_AUTH_CALLBACK_PORT',
          `upstream "${this.name}": port ${expected} is taken, but the static client expects its sign-in callback there; free port ${expected} and restart`,
        );
      }
      // Like the SDK, a client registered by hand is taken to have the refresh_token grant.
      return { client: configured, mayRefresh: true };
    }
    const metadataUrl = this.options.upstream.oauth?.clientMetadataUrl;
    const metadata = info.authorizationServerMetadata;
    if (
      metadataUrl &&
      (metadata as { client_id_metadata_document_supported?: boolean } | undefined)
        ?.client_id_metadata_document_supported
    ) {
      return { client: { client_id: metadataUrl.href }, mayRefresh: true };
    }
    if (!metadata?.registration_endpoint) {
      throw authError(
        'permanent',
        'ERR_UPSTREAM_AUTH_NO_CLIENT',
        `upstream "${this.name}": its authorization server does not register clients; set ${envPrefixFor(this.name)}CLIENT_ID`,
      );
    }
    const methods = metadata.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    // Registered with the refresh_token grant, so the registration's scope may include offline_access: a server
    // that keeps the registered scope as the client's allowed ones (node-oidc-provider) refuses it otherwise.
    const registered = await registerClient(info.authorizationServerUrl, {
      metadata,
      clientMetadata: {
        client_name: IMPLEMENTATION.name,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: methods.includes('none') ? 'none' : methods[0],
      },
      scope: this.scope(),
      fetchFn: this.options.fetchFn,
    });
    const client: StoredClient = {
      clientId: registered.client_id,
      clientSecret: registered.client_secret,
      clientSecretExpiresAt: registered.client_secret_expires_at,
      redirectUris: registered.redirect_uris?.map(String) ?? [redirectUri],
      tokenEndpointAuthMethod: registered.token_endpoint_auth_method,
      issuer: metadata.issuer,
      raw: registered as unknown as Record<string, unknown>,
    };
    await this.options.store.writeClient(client);
    return { client: registered, mayRefresh: registeredForRefresh(client) };
  }

  /**
   * The browser flow: one process per upstream at a time (others wait for its tokens), PKCE S256 and a random
   * state, the browser (or the printed URL), the loopback callback, the code exchange. `onWaiting` tells the
   * statechart that the user has to act.
   */
  async signIn(onWaiting: (pending: PendingSignIn) => void, options: { scope?: string } = {}): Promise<void> {
    const before = this.tokens?.accessToken;
    // Step-up: what the token had, plus what the upstream asked for.
    if (options.scope) this.challengeScope = computeScopeUnion(this.tokens?.scope ?? this.scope(), options.scope);
    const stepUp = options.scope !== undefined;
    const lock = await acquireSignInLock(this.options.store.dir, { timeoutMs: this.options.signInTimeoutMs });
    try {
      // Another process may have signed in while this one waited for the lock.
      const stored = await this.options.store.readTokens();
      if (stored && stored.accessToken !== before && !(stepUp && isStrictScopeSuperset(options.scope, stored.scope))) {
        this.tokens = stored;
        this.loaded = Promise.resolve();
        this.scheduleRefresh();
        return;
      }
      const info = await this.serverInfo();
      const callback = await this.options.callbackServer();
      const { client: clientInformation, mayRefresh } = await this.clientFor(callback.redirectUri, info);
      const state = randomBytes(32).toString('base64url');
      const scope = this.scope(mayRefresh);
      const { authorizationUrl, codeVerifier } = await startAuthorization(info.authorizationServerUrl, {
        metadata: info.authorizationServerMetadata,
        clientInformation,
        redirectUrl: callback.redirectUri,
        scope,
        state,
        resource: this.resource,
      });
      const answer = callback.waitFor(state, { upstream: this.name, timeoutMs: this.options.signInTimeoutMs });
      // Handled below, after the browser starts; a quick rejection (denied, closed) must not count as unhandled.
      answer.catch(() => {});
      const how = await openInBrowser(authorizationUrl.href, {
        upstream: this.name,
        env: this.options.env,
        logger: this.options.logger,
      });
      onWaiting({ url: authorizationUrl.href, how });
      let result: Awaited<typeof answer>;
      try {
        result = await answer;
      } catch (error) {
        // Timed out, denied or aborted: the message already names the upstream and holds no secret.
        throw authError('auth', 'ERR_UPSTREAM_SIGN_IN_NEEDED', (error as Error).message);
      }
      const tokens = await exchangeAuthorization(info.authorizationServerUrl, {
        metadata: info.authorizationServerMetadata,
        clientInformation,
        authorizationCode: result.code,
        iss: result.iss,
        codeVerifier,
        redirectUri: callback.redirectUri,
        resource: this.resource,
        fetchFn: this.options.fetchFn,
      });
      await this.save(tokens);
      this.options.logger.info(`upstream "${this.name}": signed in`);
    } finally {
      await lock.release();
    }
  }

  close(): void {
    clearTimeout(this.refreshTimer);
  }
}

/**
 * Whether a registration lets the client ask for `offline_access`: it has the refresh_token grant (the proxy
 * always asks for it; a registration that does not echo `grant_types` is taken to have it), and its registered
 * `scope`, if any, includes `offline_access` (a registration made before the proxy asked for it may not).
 */
function registeredForRefresh(client: StoredClient): boolean {
  const { grant_types: grantTypes, scope } = client.raw;
  if (Array.isArray(grantTypes) && !grantTypes.includes('refresh_token')) return false;
  return typeof scope !== 'string' || scope.split(' ').includes(OFFLINE_ACCESS);
}

/** A registration that lists its grant types without refresh_token: registering again would change nothing. */
function hasOtherGrantsOnly(client: StoredClient): boolean {
  const grantTypes = client.raw.grant_types;
  return Array.isArray(grantTypes) && !grantTypes.includes('refresh_token');
}

function toClientInformation(client: StoredClient): OAuthClientInformationMixed {
  return client.clientSecret
    ? { client_id: client.clientId, client_secret: client.clientSecret }
    : { client_id: client.clientId };
}
