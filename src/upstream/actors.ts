/** The real actors behind the upstream machine's placeholders, bound to the configured upstreams. */
import { fromCallback, fromPromise } from 'xstate';
import { type UpstreamEvent, upstreamMachine } from '../../machines/upstream/index.js';
import { ToolPins } from '../catalog/index.js';
import type { CatalogStore } from '../catalog/persisted.js';
import type { OAuthSettings, UpstreamConfig } from '../config/index.js';
import { SignInError, UnknownUpstreamError, UpstreamError } from '../errors/index.js';
import { sharedCallbackServer } from '../oauth/callback.js';
import { preferredCallbackPort } from '../oauth/redirect-uri.js';
import { AuthSession } from '../oauth/session.js';
import { TokenStore } from '../oauth/store.js';
import type { Logger } from '../observe/log.js';
import type { ClientBridge } from './bridge.js';
import { type ConnectTarget, connectSse, connectStreamableHttp } from './connect.js';
import { upstreamFetch } from './http.js';

export interface UpstreamActorOptions {
  upstreams: readonly UpstreamConfig[];
  /** The sign-in settings resolved by config (PROXY_OAUTH_*, PROXY_TOKEN_DIR, BROWSER). */
  oauth: OAuthSettings;
  logger: Logger;
  /** The downstream client; known once it has initialized, which is when the upstreams start. */
  bridge: ClientBridge;
  /** Where each upstream's catalog is saved for the next session (none with PROXY_CATALOG_CACHE=0); kept current by reloads. */
  catalogStores?: ReadonlyMap<string, CatalogStore>;
}

export interface UpstreamActors {
  machine: typeof upstreamMachine;
  sessions: ReadonlyMap<string, AuthSession>;
  /**
   * A reload added or changed `upstream`: its session and connect target are new (a changed one's old session is
   * closed: its actor retires, and sends nothing more that needs a token).
   */
  configure(upstream: UpstreamConfig): void;
  /** A reload removed the upstream: its session is closed and forgotten. */
  forget(name: string): void;
}

/**
 * Every upstream starts connecting on the same event (the client's `initialized`): their sessions are opened one turn
 * later, so that a list the client asked for meanwhile (answered at once from saved catalogs) goes out first instead
 * of waiting behind every upstream's first request.
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function provideUpstreamMachine(options: UpstreamActorOptions): UpstreamActors {
  const { oauth } = options;
  const configs = new Map<string, UpstreamConfig>();
  // A static client's configured redirect URI names the port the callback must hold, when no variable does.
  const callbackServer = () =>
    sharedCallbackServer({
      port: preferredCallbackPort([...configs.values()], oauth.callbackPort),
      logger: options.logger,
    });
  const sessions = new Map<string, AuthSession>();
  const targets = new Map<string, ConnectTarget>();
  const configure = (upstream: UpstreamConfig) => {
    sessions.get(upstream.name)?.close();
    configs.set(upstream.name, upstream);
    const session = new AuthSession({
      upstream,
      store: new TokenStore(oauth.tokenRoot, upstream.name, { onWarning: (message) => options.logger.warn(message) }),
      logger: options.logger,
      fetchFn: upstreamFetch,
      callbackServer,
      signInTimeoutMs: oauth.timeoutMs,
      callbackPort: oauth.callbackPort,
      callbackHost: oauth.callbackHost,
      browser: oauth.browser,
    });
    sessions.set(upstream.name, session);
    targets.set(upstream.name, {
      name: upstream.name,
      url: upstream.url,
      headers: upstream.headers,
      authProvider: session.authProvider,
      bridge: options.bridge,
      logger: options.logger,
      era: {},
      ...(upstream.pinTools && {
        pins: new ToolPins({
          root: oauth.tokenRoot,
          upstream: upstream.name,
          onWarning: (message) => options.logger.warn(message),
        }),
      }),
    });
  };
  const forget = (name: string) => {
    sessions.get(name)?.close();
    for (const map of [configs, sessions, targets]) map.delete(name);
  };
  for (const upstream of options.upstreams) configure(upstream);
  const lookup = <T>(map: ReadonlyMap<string, T>, name: string): T => {
    const found = map.get(name);
    if (!found) throw new UnknownUpstreamError(`no configured upstream "${name}"`);
    return found;
  };

  const machine = upstreamMachine.provide({
    actions: {
      persistCatalog: ({ context }, catalog) => options.catalogStores?.get(context.name)?.save(catalog),
    },
    actors: {
      connectStreamableHttp: fromPromise(async ({ input, signal }) => {
        await nextTurn();
        return connectStreamableHttp(lookup(targets, input.name), signal);
      }),
      connectSse: fromPromise(async ({ input, signal }) => {
        await nextTurn();
        return connectSse(lookup(targets, input.name), signal);
      }),
      discoverAuthorization: fromPromise(async ({ input }) => {
        const session = lookup(sessions, input.name);
        await session.discover();
        return session.canRefresh ? 'refresh' : 'sign-in';
      }),
      refreshTokens: fromPromise(({ input }) => lookup(sessions, input.name).refresh()),
      authorize: fromCallback<UpstreamEvent, { name: string; scope?: string }>(({ input, sendBack }) => {
        lookup(sessions, input.name)
          .signIn(
            ({ url, how, userCode }) =>
              sendBack({
                type: 'auth.waiting',
                url,
                browserOpened: how === 'opened',
                ...(userCode !== undefined && { userCode }),
              }),
            { scope: input.scope },
          )
          .then(
            () => sendBack({ type: 'auth.signedIn' }),
            (error: unknown) =>
              sendBack({
                type: 'auth.failed',
                failure:
                  error instanceof UpstreamError
                    ? error
                    : new SignInError(`upstream "${input.name}": sign-in failed (${(error as Error).message})`),
              }),
          );
      }),
    },
  });
  return { machine, sessions, configure, forget };
}
