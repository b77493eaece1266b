/**
 * A new dynamic registration (RFC 7591) of the proxy at an authorization server. It asks for what a native app on
 * a loopback redirect is (SEP-837), and falls back to less when the server refuses optional metadata; a refusal
 * that no retry can fix is a permanent failure, not a reconnect loop.
 */
import {
  type AuthorizationServerMetadata,
  type FetchLike,
  type OAuthClientInformationMixed,
  type OAuthClientMetadata,
  OAuthErrorCode,
  type OAuthServerInfo,
  RegistrationRejectedError,
  registerClient,
} from '@modelcontextprotocol/client';
import { envPrefixFor } from '../config/index.js';
import { AuthDiscoveryError, AuthRegistrationError, type UpstreamError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { IMPLEMENTATION } from '../version.js';
import type { AuthMethod } from './static-client.js';
import type { StoredClient, TokenStore } from './store.js';

export interface RegistrationContext {
  /** The upstream's name, for messages and its PROXY_<NAME>_ variables. */
  upstream: string;
  /** Where the registration is kept. */
  store: TokenStore;
  logger: Logger;
  fetchFn: FetchLike;
}

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

export async function registerProxyClient(
  context: RegistrationContext,
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
        fetchFn: context.fetchFn,
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
      await context.store.writeClient(stored);
      if (dropped > 0) {
        const left = DROPPABLE_FIELDS.filter((field) => field in full).slice(0, dropped);
        context.logger.info(
          `upstream "${context.upstream}": registered without ${left.join(', ')}, as its authorization server refused the full client metadata`,
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
      throw registrationFailure(context.upstream, error, metadata);
    }
  }
}

function registrationFailure(
  name: string,
  error: unknown,
  metadata: AuthorizationServerMetadata | undefined,
): UpstreamError {
  const prefix = envPrefixFor(name);
  if (!RegistrationRejectedError.isInstance(error)) {
    // The network, most likely: worth trying again later.
    return new AuthRegistrationError(`upstream "${name}": client registration failed (${(error as Error).message})`, {
      kind: 'network',
    });
  }
  if (metadata === undefined && [401, 403, 404, 405].includes(error.status)) {
    // A 401 without any OAuth metadata, and no registration at /register either: not an OAuth server after all.
    return new AuthDiscoveryError(
      `upstream "${name}" refused access (401) and offers no OAuth sign-in; check its configured headers`,
      { kind: 'permanent' },
    );
  }
  const { error: code, error_description: description } = parseErrorBody(error.body);
  const said = [code, description].filter(Boolean).join(': ') || `HTTP ${error.status}`;
  return new AuthRegistrationError(
    `upstream "${name}": its authorization server refused to register the proxy (${said}); register a client there and set ${prefix}CLIENT_ID`,
  );
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
