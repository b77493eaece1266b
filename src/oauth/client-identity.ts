/**
 * Who the proxy is to an upstream's authorization server: a stored registration, a static client (config or
 * `PROXY_<NAME>_CLIENT_ID`), a client ID metadata document, or a new dynamic registration (RFC 7591). The
 * registration asks for what a native app on a loopback redirect is (SEP-837), and falls back to less when the
 * server refuses optional metadata; a refusal that no retry can fix is a permanent failure, not a reconnect loop.
 */
import { createPrivateKey } from 'node:crypto';
import {
  type AddClientAuthentication,
  type AuthorizationServerMetadata,
  createPrivateKeyJwtAuth,
  type FetchLike,
  type OAuthClientInformationMixed,
  type OAuthClientMetadata,
  OAuthErrorCode,
  type OAuthServerInfo,
  RegistrationRejectedError,
  registerClient,
} from '@modelcontextprotocol/client';
import { envPrefixFor, readEnv, type UpstreamConfig } from '../config/index.js';
import { AuthDiscoveryError, AuthNoClientError, AuthRegistrationError, type UpstreamError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { registerSecret } from '../observe/redact.js';
import { IMPLEMENTATION } from '../version.js';
import { hasOtherGrantsOnly, offersOfflineAccess, registeredForRefresh } from './scope.js';
import type { StoredClient, TokenStore } from './store.js';

/** A client the proxy can use at the token endpoint, and whether it may ask for `offline_access`. */
export interface ChosenClient {
  client: OAuthClientInformationMixed;
  mayRefresh: boolean;
  /** `private_key_jwt`: signs a fresh assertion for every token request. */
  addClientAuthentication?: AddClientAuthentication;
}

export interface ClientIdentityOptions {
  upstream: UpstreamConfig;
  store: TokenStore;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  fetchFn: FetchLike;
}

/** Token endpoint authentication methods the proxy can perform, given what it holds. */
type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The device grant (RFC 8628), registered beside the code grant when the server offers it. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * Optional registration fields, in the order they are given up when the server answers
 * `invalid_client_metadata`: each retry leaves out one more, down to what RFC 7591 requires.
 */
const DROPPABLE_FIELDS: readonly (keyof OAuthClientMetadata)[] = [
  'scope',
  'application_type',
  'client_name',
  'response_types',
  'grant_types',
];

export class ClientIdentity {
  constructor(private readonly options: ClientIdentityOptions) {}

  private get name(): string {
    return this.options.upstream.name;
  }

  /** A client configured by the user: `PROXY_<NAME>_CLIENT_ID`/`_SECRET` win over `oauth.client_id`/`_secret`. */
  staticClient(): OAuthClientInformationMixed | undefined {
    const prefix = envPrefixFor(this.name);
    const clientId = readEnv(this.options.env, `${prefix}CLIENT_ID`) ?? this.options.upstream.oauth?.clientId;
    if (!clientId) return undefined;
    const clientSecret =
      readEnv(this.options.env, `${prefix}CLIENT_SECRET`) ?? this.options.upstream.oauth?.clientSecret;
    registerSecret(clientSecret);
    return clientSecret ? { client_id: clientId, client_secret: clientSecret } : { client_id: clientId };
  }

  /**
   * `private_key_jwt` for a static client with a configured key (SEP-1046): the SDK signs the assertion, with
   * the token endpoint (or issuer) as audience.
   */
  privateKeyAuth(clientId: string): AddClientAuthentication | undefined {
    const key = this.privateKey();
    if (key === undefined) return undefined;
    return createPrivateKeyJwtAuth({ issuer: clientId, subject: clientId, privateKey: key.pem, alg: key.alg });
  }

  /** The configured private key as PKCS#8 PEM (what the SDK imports), and its JWS algorithm. */
  privateKey(): { pem: string; alg: string } | undefined {
    const { privateKey, privateKeyAlg } = this.options.upstream.oauth ?? {};
    if (privateKey === undefined) return undefined;
    registerSecret(privateKey);
    const pem = asPkcs8(privateKey);
    registerSecret(pem);
    return { pem, alg: privateKeyAlg ?? algorithmFor(privateKey) };
  }

  /**
   * The static client with its token endpoint authentication chosen from the server's list (see
   * `tokenEndpointAuthMethod`): `private_key_jwt` gets the assertion signer, the others are named on the client
   * information, which the SDK's `selectClientAuthMethod` honours when the server lists them.
   */
  configuredClient(metadata: AuthorizationServerMetadata | undefined): ChosenClient | undefined {
    const client = this.staticClient();
    if (!client) return undefined;
    const method = tokenEndpointAuthMethod(metadata?.token_endpoint_auth_methods_supported, {
      secret: client.client_secret !== undefined,
      key: this.options.upstream.oauth?.privateKey !== undefined,
    });
    // Like the SDK, a client registered by hand is taken to have the refresh_token grant.
    if (method === 'private_key_jwt') {
      return { client, mayRefresh: true, addClientAuthentication: this.privateKeyAuth(client.client_id) };
    }
    return { client: { ...client, token_endpoint_auth_method: method }, mayRefresh: true };
  }

  /** The client to refresh with: the stored registration, else the static client. */
  async forRefresh(metadata?: AuthorizationServerMetadata): Promise<ChosenClient | undefined> {
    const stored = await this.options.store.readClient();
    if (stored) return { client: toClientInformation(stored), mayRefresh: registeredForRefresh(stored) };
    return this.configuredClient(metadata);
  }

  /**
   * The client for a sign-in that returns to `redirectUri`: the stored registration when it has that redirect
   * (and, if the server offers refresh, the grant for it), the static client, a metadata document, or a new
   * registration. `scopeFor` gives the scope the registration should carry. `device`: the device flow, where no
   * redirect comes back, so any stored redirect will do, but a registration that lists its grants without the
   * device grant is replaced (the server would answer `unauthorized_client`).
   */
  async forSignIn(
    redirectUri: string,
    info: OAuthServerInfo,
    scopeFor: (mayRefresh: boolean) => string | undefined,
    { device = false }: { device?: boolean } = {},
  ): Promise<ChosenClient> {
    const metadata = info.authorizationServerMetadata;
    const stored = await this.options.store.readClient();
    const usable = device
      ? !listsGrantsWithout(stored, DEVICE_CODE_GRANT) || metadata?.registration_endpoint === undefined
      : stored?.redirectUris === undefined || stored.redirectUris.includes(redirectUri);
    if (stored && usable) {
      const mayRefresh = registeredForRefresh(stored);
      // A registration whose scope leaves out offline_access (one made before the proxy asked for it) would keep
      // this upstream without refresh tokens for good: register again, when the server allows it.
      const registerAgain =
        !mayRefresh &&
        offersOfflineAccess(metadata) &&
        metadata?.registration_endpoint !== undefined &&
        !hasOtherGrantsOnly(stored);
      if (!registerAgain) return { client: toClientInformation(stored), mayRefresh };
    }
    const configured = this.configuredClient(metadata);
    if (configured) return configured;
    const metadataUrl = this.options.upstream.oauth?.clientMetadataUrl;
    if (
      metadataUrl &&
      (metadata as { client_id_metadata_document_supported?: boolean } | undefined)
        ?.client_id_metadata_document_supported
    ) {
      return { client: { client_id: metadataUrl.href }, mayRefresh: true };
    }
    // Without metadata at all (a 2025-03-26 server), registration is tried at /register on its origin.
    if (metadata && !metadata.registration_endpoint) {
      throw new AuthNoClientError(
        `upstream "${this.name}": its authorization server does not register clients; set ${envPrefixFor(this.name)}CLIENT_ID`,
      );
    }
    const registered = await this.register(info, redirectUri, scopeFor(true));
    return { client: registered.client, mayRefresh: registeredForRefresh(registered.stored) };
  }

  private async register(
    info: OAuthServerInfo,
    redirectUri: string,
    scope: string | undefined,
  ): Promise<{ client: OAuthClientInformationMixed; stored: StoredClient }> {
    const metadata = info.authorizationServerMetadata;
    const grantTypes = ['authorization_code', 'refresh_token'];
    if (metadata?.grant_types_supported?.includes(DEVICE_CODE_GRANT)) grantTypes.push(DEVICE_CODE_GRANT);
    // Registered with the refresh_token grant, so the registration's scope may include offline_access: a server
    // that keeps the registered scope as the client's allowed ones (node-oidc-provider) refuses it otherwise.
    const full: OAuthClientMetadata = {
      client_name: IMPLEMENTATION.name,
      redirect_uris: [redirectUri],
      grant_types: grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: registrationAuthMethod(metadata),
      // SEP-837: a loopback redirect is a native app's (RFC 8252); OpenID providers refuse it for a "web" one.
      application_type: 'native',
      ...(scope === undefined ? {} : { scope }),
    };
    let attempt = full;
    for (let dropped = 0; ; dropped++) {
      try {
        const registered = await registerClient(info.authorizationServerUrl, {
          metadata,
          clientMetadata: attempt,
          fetchFn: this.options.fetchFn,
        });
        const stored: StoredClient = {
          clientId: registered.client_id,
          clientSecret: registered.client_secret,
          clientSecretExpiresAt: registered.client_secret_expires_at,
          redirectUris: registered.redirect_uris?.map(String) ?? [redirectUri],
          tokenEndpointAuthMethod: registered.token_endpoint_auth_method,
          issuer: metadata?.issuer,
          raw: registered as unknown as Record<string, unknown>,
        };
        await this.options.store.writeClient(stored);
        if (dropped > 0) {
          const left = DROPPABLE_FIELDS.filter((field) => field in full).slice(0, dropped);
          this.options.logger.info(
            `upstream "${this.name}": registered without ${left.join(', ')}, as its authorization server refused the full client metadata`,
          );
        }
        return { client: registered, stored };
      } catch (error) {
        const next = RegistrationRejectedError.isInstance(error) ? withFewerFields(full, error, dropped) : undefined;
        if (next !== undefined) {
          attempt = next.metadata;
          dropped = next.dropped;
          continue;
        }
        throw this.registrationFailure(error, metadata);
      }
    }
  }

  private registrationFailure(error: unknown, metadata: AuthorizationServerMetadata | undefined): UpstreamError {
    const prefix = envPrefixFor(this.name);
    if (!RegistrationRejectedError.isInstance(error)) {
      // The network, most likely: worth trying again later.
      return new AuthRegistrationError(
        `upstream "${this.name}": client registration failed (${(error as Error).message})`,
        { kind: 'network' },
      );
    }
    if (metadata === undefined && [401, 403, 404, 405].includes(error.status)) {
      // A 401 without any OAuth metadata, and no registration at /register either: not an OAuth server after all.
      return new AuthDiscoveryError(
        `upstream "${this.name}" refused access (401) and offers no OAuth sign-in; check its configured headers`,
        { kind: 'permanent' },
      );
    }
    const { error: code, error_description: description } = parseErrorBody(error.body);
    const said = [code, description].filter(Boolean).join(': ') || `HTTP ${error.status}`;
    return new AuthRegistrationError(
      `upstream "${this.name}": its authorization server refused to register the proxy (${said}); register a client there and set ${prefix}CLIENT_ID`,
    );
  }
}

function listsGrantsWithout(client: StoredClient | undefined, grant: string): boolean {
  const grantTypes = client?.raw.grant_types;
  return Array.isArray(grantTypes) && !grantTypes.includes(grant);
}

/**
 * The registration's token endpoint authentication: the first method in the server's list that a registered
 * client can perform (it holds no key, so not `private_key_jwt`); RFC 8414's default is `client_secret_basic`.
 */
export function registrationAuthMethod(metadata: AuthorizationServerMetadata | undefined): AuthMethod {
  const supported = metadata?.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
  const usable: readonly AuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post'];
  return (
    (supported.find((method) => (usable as readonly string[]).includes(method)) as AuthMethod | undefined) ??
    'client_secret_basic'
  );
}

/**
 * The token endpoint authentication of a static client: the first method in the server's list that the proxy can
 * perform with what it holds (a secret: `client_secret_basic` or `_post`; a key: `private_key_jwt`; neither:
 * `none`). A client given a secret or a key was registered as confidential, so `none` is not one it can use. The
 * SDK's own choice ignores the server's order (basic before post). Without a list (RFC 8414's default is
 * `client_secret_basic`), or with none in it the proxy can perform, what it holds decides: the key, the secret
 * (basic), else `none`; the server's answer then says what is wrong.
 */
export function tokenEndpointAuthMethod(
  supported: readonly string[] | undefined,
  holds: { secret: boolean; key: boolean },
): AuthMethod {
  const performable = (method: string): method is AuthMethod =>
    method === 'private_key_jwt'
      ? holds.key
      : method === 'client_secret_basic' || method === 'client_secret_post'
        ? holds.secret
        : method === 'none' && !holds.secret && !holds.key;
  const first = supported?.find(performable);
  if (first !== undefined) return first;
  if (holds.key) return 'private_key_jwt';
  return holds.secret ? 'client_secret_basic' : 'none';
}

/**
 * The next registration to try after `invalid_client_metadata` (RFC 7591 §3.2.2): without one more optional
 * field. Undefined when the refusal is another error (a redirect it refuses, a registration that needs a token),
 * or nothing optional is left: no retry can fix those.
 */
function withFewerFields(
  full: OAuthClientMetadata,
  error: RegistrationRejectedError,
  dropped: number,
): { metadata: OAuthClientMetadata; dropped: number } | undefined {
  const { error: code } = parseErrorBody(error.body);
  if (error.status !== 400 || code !== OAuthErrorCode.InvalidClientMetadata) return undefined;
  const present = DROPPABLE_FIELDS.filter((field) => field in full);
  if (dropped >= present.length) return undefined;
  const metadata = { ...full };
  for (const field of present.slice(0, dropped + 1)) delete metadata[field];
  return { metadata, dropped };
}

function parseErrorBody(body: string): { error?: string; error_description?: string } {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown };
    const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 200) : undefined);
    return { error: text(parsed.error), error_description: text(parsed.error_description) };
  } catch {
    return {};
  }
}

/**
 * A PEM private key as PKCS#8, the only form the SDK's signer imports: a SEC1 ("EC PRIVATE KEY") or PKCS#1
 * ("RSA PRIVATE KEY") key, as openssl writes them, is converted. An unreadable key is passed on as it is, for the
 * first token request to report.
 */
export function asPkcs8(pem: string): string {
  if (pem.includes('-----BEGIN PRIVATE KEY-----')) return pem;
  try {
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    return pem;
  }
}

const CURVE_ALGORITHMS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** The JWS algorithm a key implies: ES256/384/512 by its curve, EdDSA for Ed25519, else RS256. */
export function algorithmFor(pem: string): string {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType === 'ec') return CURVE_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'ES256';
    if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  } catch {
    // Unreadable: the SDK's key import reports it on the first token request, with the upstream's name.
  }
  return 'RS256';
}

export function toClientInformation(client: StoredClient): OAuthClientInformationMixed {
  const information: OAuthClientInformationMixed = client.clientSecret
    ? { client_id: client.clientId, client_secret: client.clientSecret }
    : { client_id: client.clientId };
  // The SDK's selectClientAuthMethod uses the registered method when the server supports it.
  if (client.tokenEndpointAuthMethod) {
    (information as { token_endpoint_auth_method?: string }).token_endpoint_auth_method =
      client.tokenEndpointAuthMethod;
  }
  return information;
}
