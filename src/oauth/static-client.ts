/**
 * A client the user registered by hand: `PROXY_<NAME>_CLIENT_ID`/`_SECRET` or `oauth.client_id`/`_secret` (resolved
 * into the upstream's `oauth` at load), with a secret, a private key for `private_key_jwt` (SEP-1046), or neither;
 * and the token endpoint authentication it can perform.
 */
import { createPrivateKey } from 'node:crypto';
import {
  type AddClientAuthentication,
  type AuthorizationServerMetadata,
  createPrivateKeyJwtAuth,
  type OAuthClientInformationMixed,
} from '@modelcontextprotocol/client';
import type { UpstreamConfig } from '../config/index.js';
import { registerSecret } from '../observe/redact.js';

/** A client the proxy can use at the token endpoint, and whether it may ask for `offline_access`. */
export interface ChosenClient {
  client: OAuthClientInformationMixed;
  mayRefresh: boolean;
  /** `private_key_jwt`: signs a fresh assertion for every token request. */
  addClientAuthentication?: AddClientAuthentication;
}

/** Token endpoint authentication methods the proxy can perform, given what it holds. */
export type AuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The static client of `upstream`, if the user configured one. */
export function staticClient(upstream: UpstreamConfig): OAuthClientInformationMixed | undefined {
  const { clientId, clientSecret } = upstream.oauth ?? {};
  if (!clientId) return undefined;
  registerSecret(clientSecret);
  return clientSecret ? { client_id: clientId, client_secret: clientSecret } : { client_id: clientId };
}

/** The configured private key as PKCS#8 PEM (what the SDK imports), and its JWS algorithm. */
export function configuredPrivateKey(upstream: UpstreamConfig): { pem: string; alg: string } | undefined {
  const { privateKey, privateKeyAlg } = upstream.oauth ?? {};
  if (privateKey === undefined) return undefined;
  registerSecret(privateKey);
  const pem = asPkcs8(privateKey);
  registerSecret(pem);
  return { pem, alg: privateKeyAlg ?? algorithmFor(privateKey) };
}

/**
 * `private_key_jwt` for a static client with a configured key (SEP-1046): the SDK signs the assertion, with
 * the token endpoint (or issuer) as audience.
 */
export function privateKeyAuth(upstream: UpstreamConfig, clientId: string): AddClientAuthentication | undefined {
  const key = configuredPrivateKey(upstream);
  if (key === undefined) return undefined;
  return createPrivateKeyJwtAuth({ issuer: clientId, subject: clientId, privateKey: key.pem, alg: key.alg });
}

/**
 * The static client with its token endpoint authentication chosen from the server's list (see
 * `tokenEndpointAuthMethod`): `private_key_jwt` gets the assertion signer, the others are named on the client
 * information, which the SDK's `selectClientAuthMethod` honours when the server lists them.
 */
export function configuredClient(
  upstream: UpstreamConfig,
  metadata: AuthorizationServerMetadata | undefined,
): ChosenClient | undefined {
  const client = staticClient(upstream);
  if (!client) return undefined;
  const method = tokenEndpointAuthMethod(metadata?.token_endpoint_auth_methods_supported, {
    secret: client.client_secret !== undefined,
    key: upstream.oauth?.privateKey !== undefined,
  });
  // Like the SDK, a client registered by hand is taken to have the refresh_token grant.
  if (method === 'private_key_jwt') {
    return { client, mayRefresh: true, addClientAuthentication: privateKeyAuth(upstream, client.client_id) };
  }
  return { client: { ...client, token_endpoint_auth_method: method }, mayRefresh: true };
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
