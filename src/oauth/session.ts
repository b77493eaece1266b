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
  OAuthError,
  type OAuthServerInfo,
  type OAuthTokens,
  refreshAuthorization,
  resourceUrlFromServerUrl,
  startAuthorization,
} from '@modelcontextprotocol/client';
import { readCallbackHost, type UpstreamConfig } from '../config/index.js';
import {
  AuthClientRejectedError,
  AuthDiscoveryError,
  AuthExpiredError,
  AuthInsecureError,
  AuthRefreshError,
  AuthResourceError,
  CallbackPortError,
  SignInNeededError,
  UpstreamAuthRequiredError,
} from '../errors/index.js';
import { bearerOf401 } from '../http/sent-bearer.js';
import type { Logger } from '../observe/log.js';
import { noBrowserAvailable, openInBrowser } from './browser.js';
import { CALLBACK_PATH, type CallbackServer, callbackPortFromEnv, DEFAULT_CALLBACK_PORT } from './callback.js';
import { ClientCredentialsGrant, usesClientCredentials } from './client-credentials.js';
import { ClientIdentity } from './client-identity.js';
import { deviceAuthorizationEndpoint, deviceEndpointFor, signInWithDevice } from './device-flow.js';
import { discoverServerInfo } from './discovery.js';
import { acquireSignInLock, type SignInLock } from './lock.js';
import type { PendingSignIn } from './pending-sign-in.js';
import { chooseScope } from './scope.js';
import type { StoredTokens, TokenStore } from './store.js';

/** Google's issuer: the one provider that asks for refresh tokens with a parameter instead of a scope. */
const GOOGLE_ISSUER = 'https://accounts.google.com';

/** Refresh this long before expiry, or at 80 % of a lifetime shorter than five times this. */
const REFRESH_AHEAD_MS = 60_000;

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

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
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

  private readonly identity: ClientIdentity;
  /** `oauth.grant: "client_credentials"`: tokens come from the client's own credentials, never the browser. */
  private readonly machine: ClientCredentialsGrant | undefined;
  /** Ends a device sign-in's polling when the proxy stops. */
  private readonly closing = new AbortController();

  constructor(private readonly options: AuthSessionOptions) {
    this.identity = new ClientIdentity(options);
    if (usesClientCredentials(options.upstream)) {
      this.machine = new ClientCredentialsGrant(options.upstream, this.identity, options.fetchFn);
    }
  }

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
      // A 401 for a token already replaced needs nothing: the transport's retry carries the new one.
      const sent = bearerOf401(response);
      if (sent !== undefined && this.tokens && sent !== this.tokens.accessToken) return;
      // Parallel 401s share one refresh; without a refresh token, only a sign-in helps.
      if (this.tokens?.refreshToken) return this.refresh();
      // Client credentials: a new token per 401 (see discover for one refused again).
      if (this.machine) {
        this.machine.noteRefusal();
        return this.refresh();
      }
      throw new UpstreamAuthRequiredError(`upstream "${this.name}" requires sign-in`);
    },
  };

  /** When the access token in use expires (for status: the time only, never the token). */
  get tokenExpiresAt(): number | undefined {
    return this.tokens?.expiresAt;
  }

  /** Whether the tokens held can be refreshed without the browser; undefined while there are none. */
  get refreshable(): boolean | undefined {
    return this.tokens === undefined ? undefined : this.tokens.refreshToken !== undefined || this.machine !== undefined;
  }

  /** Whether `refresh` can be tried before a sign-in. */
  get canRefresh(): boolean {
    return this.tokens?.refreshToken !== undefined || this.machine !== undefined;
  }

  /** Protected-resource and authorization-server metadata (the AS may live on another origin). */
  async discover(): Promise<void> {
    this.machine?.assertNotRefusedAgain();
    await this.authProvider.token();
    const { url, allowHttp } = this.options.upstream;
    if (url.protocol !== 'https:' && !isLoopback(url) && !allowHttp) {
      throw new AuthInsecureError(
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
      throw new AuthDiscoveryError(
        `upstream "${this.name}": cannot discover its authorization server (${(error as Error).message})`,
      );
    }
    const asUrl = new URL(info.authorizationServerUrl);
    if (asUrl.protocol !== 'https:' && !isLoopback(asUrl) && !this.options.upstream.allowHttp) {
      throw new AuthInsecureError(
        `upstream "${this.name}": its authorization server ${asUrl.origin} is not HTTPS (set allow_http to accept)`,
      );
    }
    // No metadata at all is a server of the 2025-03-26 revision: its endpoints are /authorize, /token and
    // /register at the server's origin, where the SDK's building blocks look when given no metadata. A server that
    // wants headers rather than OAuth has no /register either, and is told so then (client-identity.ts).
    const advertised = info.resourceMetadata?.resource;
    const own = resourceUrlFromServerUrl(this.options.upstream.url);
    const override = this.options.upstream.oauth?.resource;
    if (override !== undefined) {
      // Entra-style servers want another resource (or none at all): the user's word replaces the check below.
      this.info = info;
      this.resource = override === false ? undefined : override;
      return;
    }
    if (advertised && !checkResourceAllowed({ requestedResource: own, configuredResource: advertised })) {
      throw new AuthResourceError(
        `upstream "${this.name}": its metadata names another resource (${new URL(advertised).origin})`,
      );
    }
    this.info = info;
    this.resource = advertised ?? own;
  }

  /** The scope to ask for (see scope.ts); `offline_access` only when the client may refresh. */
  private scope(clientMayRefresh = true): string | undefined {
    return chooseScope(
      {
        configured: this.options.upstream.oauth?.scopes,
        challenge: this.challengeScope,
        resourceScopes: this.info?.resourceMetadata?.scopes_supported,
        serverMetadata: this.info?.authorizationServerMetadata,
      },
      clientMayRefresh,
    );
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
    if (this.machine) return this.fetchMachineToken();
    const current = this.tokens;
    if (!current?.refreshToken) {
      throw new UpstreamAuthRequiredError(`upstream "${this.name}" requires sign-in`);
    }
    // One refresh at a time per token folder, across processes: with rotating refresh tokens, a second refresh with
    // the same token is a reuse, for which a strict server (node-oidc-provider) revokes the whole grant. Whoever
    // waited then takes the tokens the other stored.
    let lock: SignInLock;
    try {
      lock = await acquireSignInLock(this.options.store.dir, { timeoutMs: this.options.signInTimeoutMs });
    } catch (error) {
      throw new AuthRefreshError(
        `upstream "${this.name}": refreshing the access token failed (${(error as Error).message})`,
      );
    }
    try {
      await this.refreshHoldingLock({ ...current, refreshToken: current.refreshToken });
    } finally {
      await lock.release();
    }
  }

  private async refreshHoldingLock(current: StoredTokens & { refreshToken: string }): Promise<void> {
    // Another proxy process sharing the store may have refreshed already (rotating refresh tokens make ours void).
    if (await this.adoptNewerStoredTokens(current)) return;
    const info = await this.serverInfo();
    const chosen = await this.identity.forRefresh(info.authorizationServerMetadata);
    if (!chosen) {
      throw new UpstreamAuthRequiredError(`upstream "${this.name}" requires sign-in`);
    }
    try {
      const tokens = await refreshAuthorization(info.authorizationServerUrl, {
        metadata: info.authorizationServerMetadata,
        clientInformation: chosen.client,
        addClientAuthentication: chosen.addClientAuthentication,
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
        throw new AuthClientRejectedError(`upstream "${this.name}": the client was revoked; signing in again`, {
          kind: 'auth',
        });
      }
      if (error instanceof OAuthError) {
        await this.forgetTokens(current);
        throw new AuthExpiredError(`upstream "${this.name}": the sign-in expired; signing in again`);
      }
      throw new AuthRefreshError(`upstream "${this.name}": refreshing the access token failed`);
    }
  }

  /** Client credentials: a new access token in place of the old one (there is no refresh token to use). */
  private async fetchMachineToken(): Promise<void> {
    const info = await this.serverInfo();
    const tokens = await this.machine!.fetchToken(info, { resource: this.resource, scope: this.scope(false) });
    await this.save(tokens);
    this.options.logger.debug(`upstream "${this.name}": access token obtained with the client credentials`);
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
    if (!stored.refreshToken && !this.machine && !this.noRefreshTokenWarned) {
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
    if (expiresAt === undefined || (refreshToken === undefined && !this.machine)) return;
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

  /**
   * The browser flow: one process per upstream at a time (others wait for its tokens), PKCE S256 and a random
   * state, the browser (or the printed URL), the loopback callback, the code exchange. `onWaiting` tells the
   * statechart that the user has to act.
   */
  async signIn(onWaiting: (pending: PendingSignIn) => void, options: { scope?: string } = {}): Promise<void> {
    // No user to sign in: the client's credentials get the token (a step-up scope joins the requested one).
    if (this.machine) {
      if (options.scope)
        this.challengeScope = computeScopeUnion(this.tokens?.scope ?? this.scope(false), options.scope);
      return this.refresh();
    }
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
      if (this.usesDeviceFlow(info)) await this.signInWithDevice(info, onWaiting);
      else await this.signInWithBrowser(info, onWaiting);
    } finally {
      await lock.release();
    }
  }

  /**
   * `oauth.flow: "device"`, or no flow configured, no browser to open (browser.ts) and a server that offers the
   * device grant. A configured "device" against a server without it fails in `signInWithDevice`, with a message.
   */
  private usesDeviceFlow(info: OAuthServerInfo): boolean {
    const flow = this.options.upstream.oauth?.flow;
    if (flow !== undefined) return flow === 'device';
    return (
      deviceAuthorizationEndpoint(info.authorizationServerMetadata) !== undefined &&
      noBrowserAvailable(this.options.env)
    );
  }

  /**
   * The device authorization grant (device-flow.ts). No redirect comes back, but a new registration needs one (for
   * the code grant it also gets), so it names the callback's; a stored registration is used whatever its redirect.
   */
  private async signInWithDevice(info: OAuthServerInfo, onWaiting: (pending: PendingSignIn) => void): Promise<void> {
    const endpoint = deviceEndpointFor(this.name, info.authorizationServerMetadata);
    const { redirectUri } = await this.options.callbackServer();
    const chosen = await this.identity.forSignIn(redirectUri, info, (mayRefresh) => this.scope(mayRefresh), {
      device: true,
    });
    const tokens = await signInWithDevice({
      upstream: this.name,
      info,
      endpoint,
      chosen,
      scope: this.scope(chosen.mayRefresh),
      resource: this.resource,
      fetchFn: this.options.fetchFn,
      logger: this.options.logger,
      timeoutMs: this.options.signInTimeoutMs,
      signal: this.closing.signal,
      onWaiting,
    });
    await this.save(tokens);
    this.options.logger.info(`upstream "${this.name}": signed in`);
  }

  /** Authorization code with PKCE through the browser and the loopback callback. */
  private async signInWithBrowser(info: OAuthServerInfo, onWaiting: (pending: PendingSignIn) => void): Promise<void> {
    const callback = await this.options.callbackServer();
    const redirectUri = this.redirectUriFor(callback);
    const chosen = await this.identity.forSignIn(redirectUri, info, (mayRefresh) => this.scope(mayRefresh));
    const state = randomBytes(32).toString('base64url');
    const { authorizationUrl, codeVerifier } = await startAuthorization(info.authorizationServerUrl, {
      metadata: info.authorizationServerMetadata,
      clientInformation: chosen.client,
      redirectUrl: redirectUri,
      scope: this.scope(chosen.mayRefresh),
      state,
      resource: this.resource,
    });
    for (const [name, value] of Object.entries(this.authorizeParams(info))) {
      authorizationUrl.searchParams.set(name, value);
    }
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
      throw new SignInNeededError((error as Error).message);
    }
    const tokens = await exchangeAuthorization(info.authorizationServerUrl, {
      metadata: info.authorizationServerMetadata,
      clientInformation: chosen.client,
      addClientAuthentication: chosen.addClientAuthentication,
      authorizationCode: result.code,
      iss: result.iss,
      codeVerifier,
      redirectUri,
      resource: this.resource,
      fetchFn: this.options.fetchFn,
    });
    await this.save(tokens);
    this.options.logger.info(`upstream "${this.name}": signed in`);
  }

  /**
   * Where the browser comes back to. A registered client gets the callback's own `http://127.0.0.1:<port>/callback`
   * (RFC 8252 §7.3). A static client was registered by hand for one fixed URI: `oauth.redirect_uri`, else
   * mcp-devtools' `http://localhost:3334/callback` (host PROXY_OAUTH_CALLBACK_HOST, port PROXY_OAUTH_CALLBACK_PORT);
   * the callback server, on 127.0.0.1 either way, must then hold that port and answer on that path.
   */
  private redirectUriFor(callback: CallbackServer): string {
    if (!this.identity.staticClient()) return callback.redirectUri;
    const configured = this.options.upstream.oauth?.redirectUri;
    const expected = configured
      ? Number(configured.port)
      : (callbackPortFromEnv(this.options.env) ?? DEFAULT_CALLBACK_PORT);
    if (callback.port !== expected) {
      throw new CallbackPortError(
        `upstream "${this.name}": port ${expected} is taken, but the static client expects its sign-in callback there; free port ${expected} and restart`,
      );
    }
    const uri = configured?.href ?? `http://${readCallbackHost(this.options.env)}:${expected}${CALLBACK_PATH}`;
    callback.acceptPath(new URL(uri).pathname);
    return uri;
  }

  /**
   * `oauth.authorize_params`, over what a known provider needs: Google grants a refresh token only for
   * `access_type=offline` (it has no `offline_access` scope), and again only with `prompt=consent`.
   */
  private authorizeParams(info: OAuthServerInfo): Record<string, string> {
    const google = info.authorizationServerMetadata?.issuer === GOOGLE_ISSUER;
    return {
      ...(google ? { access_type: 'offline', prompt: 'consent' } : {}),
      ...this.options.upstream.oauth?.authorizeParams,
    };
  }

  close(): void {
    clearTimeout(this.refreshTimer);
    this.closing.abort();
  }
}
