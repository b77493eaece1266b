/**
 * One upstream's OAuth state, shared by its transports and driven by its statechart: the transports ask it for
 * the access token before every request (and to refresh once on a 401); the `discovering`, `refreshing` and
 * `authorizing` states call `discover`, `refresh` and `signIn`. The SDK's building blocks do the protocol work,
 * through the files named where they are called; this one decides which to call and when, and never lets a secret
 * into a message. Its settings come resolved from config: it reads no environment variable.
 */
import {
  type AuthProvider,
  computeScopeUnion,
  extractWWWAuthenticateParams,
  type FetchLike,
  isStrictScopeSuperset,
  type OAuthServerInfo,
  type OAuthTokens,
} from '@modelcontextprotocol/client';
import type { BrowserSettings, UpstreamConfig } from '../config/index.js';
import { UpstreamAuthRequiredError } from '../errors/index.js';
import { bearerOf401 } from '../http/sent-bearer.js';
import type { Logger } from '../observe/log.js';
import { signInWithAuthorizationCode } from './authorization-code.js';
import type { CallbackServer } from './callback.js';
import { ClientCredentialsGrant, usesClientCredentials } from './client-credentials.js';
import { ClientIdentity } from './client-identity.js';
import { deviceEndpointFor, signInWithDevice, usesDeviceFlow } from './device-flow.js';
import { HeldTokens } from './held-tokens.js';
import { acquireSignInLock } from './lock.js';
import type { PendingSignIn } from './pending-sign-in.js';
import { redirectUriFor } from './redirect-uri.js';
import { refreshWithRefreshToken } from './refresh-grant.js';
import { chooseScope } from './scope.js';
import { checkedServerInfo } from './server-info.js';
import type { StoredTokens, TokenStore } from './store.js';

export interface AuthSessionOptions {
  upstream: UpstreamConfig;
  store: TokenStore;
  logger: Logger;
  fetchFn: FetchLike;
  /** The shared loopback callback server, started on first use. */
  callbackServer: () => Promise<CallbackServer>;
  /** How long a sign-in may wait for the browser (PROXY_OAUTH_TIMEOUT_MS). */
  signInTimeoutMs: number;
  /** PROXY_OAUTH_CALLBACK_PORT, when set: the port of a static client's default redirect URI. */
  callbackPort?: number;
  /** PROXY_OAUTH_CALLBACK_HOST (default localhost): the host of a static client's default redirect URI. */
  callbackHost?: string;
  /** BROWSER and the graphical session: whether the browser flow can open anything. */
  browser: BrowserSettings;
}

export class AuthSession {
  private readonly held: HeldTokens;
  private info: OAuthServerInfo | undefined;
  /** RFC 8707: the resource tokens are asked for (server-info.ts). */
  private resource: string | URL | undefined;
  private challengeScope: string | undefined;
  private resourceMetadataUrl: URL | undefined;
  private refreshing: Promise<void> | undefined;
  /** The same-origin issuer mismatch is worth one warning per upstream, not one per discovery. */
  private issuerMismatchWarned = false;

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
    this.held = new HeldTokens({
      upstream: options.upstream.name,
      store: options.store,
      logger: options.logger,
      renewable: this.machine !== undefined,
      refresh: () => this.refresh(),
    });
  }

  private get tokens(): StoredTokens | undefined {
    return this.held.current;
  }

  private get name(): string {
    return this.options.upstream.name;
  }

  /** Given to the transports: the token before every request, one refresh on a 401. */
  readonly authProvider: AuthProvider = {
    token: async () => (await this.held.load())?.accessToken,
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

  /** Protected-resource and authorization-server metadata (the AS may live on another origin), checked. */
  async discover(): Promise<void> {
    this.machine?.assertNotRefusedAgain();
    await this.authProvider.token();
    const checked = await checkedServerInfo(this.options.upstream, {
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
    this.info = checked.info;
    this.resource = checked.resource;
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
    return refreshWithRefreshToken(this.tokens, {
      upstream: this.name,
      store: this.options.store,
      held: this.held,
      identity: this.identity,
      fetchFn: this.options.fetchFn,
      logger: this.options.logger,
      lockTimeoutMs: this.options.signInTimeoutMs,
      serverInfo: () => this.serverInfo(),
      resource: () => this.resource,
      save: (tokens, previousRefreshToken) => this.save(tokens, previousRefreshToken),
    });
  }

  /** Client credentials: a new access token in place of the old one (there is no refresh token to use). */
  private async fetchMachineToken(): Promise<void> {
    const info = await this.serverInfo();
    const tokens = await this.machine!.fetchToken(info, { resource: this.resource, scope: this.scope(false) });
    await this.save(tokens);
    this.options.logger.debug(`upstream "${this.name}": access token obtained with the client credentials`);
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
        this.held.hold(stored);
        return;
      }
      const info = await this.serverInfo();
      await this.signInWithUser(info, onWaiting);
    } finally {
      await lock.release();
    }
  }

  /**
   * The device authorization grant (device-flow.ts), or the authorization code through the browser and the loopback
   * callback (authorization-code.ts). The device flow gets no redirect back, but a new registration needs one (for
   * the code grant it also gets), so it names the callback's; a stored registration is used whatever its redirect.
   */
  private async signInWithUser(info: OAuthServerInfo, onWaiting: (pending: PendingSignIn) => void): Promise<void> {
    const device = usesDeviceFlow(this.options.upstream, info, this.options.browser);
    // First: a configured device flow that the server does not offer fails before anything is registered.
    const endpoint = device ? deviceEndpointFor(this.name, info.authorizationServerMetadata) : undefined;
    const callback = await this.options.callbackServer();
    const redirectUri = device
      ? callback.redirectUri
      : redirectUriFor(this.options.upstream, callback, this.identity.staticClient() !== undefined, {
          callbackPort: this.options.callbackPort,
          callbackHost: this.options.callbackHost ?? 'localhost',
        });
    const chosen = await this.identity.forSignIn(redirectUri, info, (mayRefresh) => this.scope(mayRefresh), { device });
    const grant = {
      info,
      chosen,
      scope: this.scope(chosen.mayRefresh),
      resource: this.resource,
      fetchFn: this.options.fetchFn,
      logger: this.options.logger,
      timeoutMs: this.options.signInTimeoutMs,
      onWaiting,
    };
    const tokens =
      endpoint !== undefined
        ? await signInWithDevice({ ...grant, upstream: this.name, endpoint, signal: this.closing.signal })
        : await signInWithAuthorizationCode({
            ...grant,
            upstream: this.options.upstream,
            callback,
            redirectUri,
            browser: this.options.browser,
          });
    await this.save(tokens);
    this.options.logger.info(`upstream "${this.name}": signed in`);
  }

  private save(tokens: OAuthTokens, previousRefreshToken?: string): Promise<void> {
    return this.held.save(tokens, this.info?.authorizationServerMetadata?.issuer, previousRefreshToken);
  }

  close(): void {
    this.held.close();
    this.closing.abort();
  }
}
