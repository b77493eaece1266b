/**
 * The tokens one upstream holds: read from its store once, written back on every change, refreshed by a timer
 * ahead of expiry, and dropped when the server refuses them. Several proxy processes may share the store, so
 * tokens another process wrote are taken over rather than overwritten.
 */
import type { OAuthTokens } from '@modelcontextprotocol/client';
import type { Logger } from '../observe/log.js';
import type { StoredTokens, TokenStore } from './store.js';

/** Refresh this long before expiry, or at 80 % of a lifetime shorter than five times this. */
const REFRESH_AHEAD_MS = 60_000;

export interface HeldTokensOptions {
  upstream: string;
  store: TokenStore;
  logger: Logger;
  /** Client credentials: a token can be renewed without a refresh token (and none is expected). */
  renewable: boolean;
  /** Called by the timer ahead of expiry. */
  refresh: () => Promise<void>;
}

export class HeldTokens {
  private tokens: StoredTokens | undefined;
  private loaded: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** A sign-in without refresh token is worth one warning per upstream. */
  private noRefreshTokenWarned = false;

  constructor(private readonly options: HeldTokensOptions) {}

  get current(): StoredTokens | undefined {
    return this.tokens;
  }

  /** The stored tokens, read on first use. */
  async load(): Promise<StoredTokens | undefined> {
    this.loaded ??= this.options.store.readTokens().then(
      (tokens) => {
        this.tokens = tokens;
        this.scheduleRefresh();
      },
      // An unreadable store (permissions, say) means no stored sign-in, not a broken upstream.
      (error: unknown) => this.options.logger.warn(`upstream "${this.options.upstream}": ${(error as Error).message}`),
    );
    await this.loaded;
    return this.tokens;
  }

  /** Holds `stored` (tokens another process signed in with) as if loaded. */
  hold(stored: StoredTokens): void {
    this.tokens = stored;
    this.loaded = Promise.resolve();
    this.scheduleRefresh();
  }

  /** Takes the stored tokens when another process replaced the ones this process holds. */
  async adoptNewerStored(current: StoredTokens): Promise<boolean> {
    const stored = await this.options.store.readTokens();
    if (!stored || stored.accessToken === current.accessToken) return false;
    this.tokens = stored;
    this.scheduleRefresh();
    return true;
  }

  /** Drops refused tokens, from the store too unless another process already replaced them there. */
  async forget(refused: StoredTokens): Promise<void> {
    this.tokens = undefined;
    clearTimeout(this.refreshTimer);
    const stored = await this.options.store.readTokens();
    if (!stored || stored.accessToken === refused.accessToken) await this.options.store.clearTokens();
  }

  /** Keeps the tokens of a grant, in memory and in the store; `issuer`: the authorization server's. */
  async save(tokens: OAuthTokens, issuer: string | undefined, previousRefreshToken?: string): Promise<void> {
    const stored: StoredTokens = {
      accessToken: tokens.access_token,
      tokenType: tokens.token_type ?? 'Bearer',
      // A server that does not rotate refresh tokens keeps the old one valid.
      refreshToken: tokens.refresh_token ?? previousRefreshToken,
      expiresAt: tokens.expires_in !== undefined ? Date.now() + tokens.expires_in * 1000 : undefined,
      scope: tokens.scope,
      issuer,
    };
    await this.options.store.writeTokens(stored);
    this.hold(stored);
    if (!stored.refreshToken && !this.options.renewable && !this.noRefreshTokenWarned) {
      this.noRefreshTokenWarned = true;
      const when =
        stored.expiresAt !== undefined
          ? `, at ${new Date(stored.expiresAt).toISOString()}`
          : ' (the server did not say when)';
      this.options.logger.warn(
        `upstream "${this.options.upstream}": its authorization server issued no refresh token; this upstream will need a new sign-in when the access token expires${when}`,
      );
    }
  }

  close(): void {
    clearTimeout(this.refreshTimer);
  }

  /** Ahead of expiry, so calls never meet an expired token; a token without expiry is used until a 401. */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const { expiresAt, refreshToken } = this.tokens ?? {};
    if (expiresAt === undefined || (refreshToken === undefined && !this.options.renewable)) return;
    const lifetime = expiresAt - Date.now();
    const ahead = lifetime > 5 * REFRESH_AHEAD_MS ? REFRESH_AHEAD_MS : lifetime * 0.2;
    this.refreshTimer = setTimeout(
      () => {
        this.options
          .refresh()
          .catch((error: unknown) =>
            this.options.logger.warn(`upstream "${this.options.upstream}": ${(error as Error).message}`),
          );
      },
      Math.max(0, lifetime - ahead),
    );
    this.refreshTimer.unref();
  }
}
