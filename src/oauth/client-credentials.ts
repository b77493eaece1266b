/**
 * Machine-to-machine sign-in (`oauth.grant: "client_credentials"`, RFC 6749 §4.4, SEP-1046): the proxy asks the
 * token endpoint for an access token with its own credentials, a client secret (`client_secret_basic` or `_post`)
 * or a private key (`private_key_jwt`, RFC 7523). No browser, no callback, no refresh token: a new token is simply
 * asked for again, ahead of expiry or after a 401. The SDK's `ClientCredentialsProvider` and
 * `PrivateKeyJwtProvider` build the request and `fetchToken` sends it; this file picks the provider and turns the
 * server's refusals into failures that name what to fix.
 */
import {
  ClientCredentialsProvider,
  type FetchLike,
  fetchToken,
  type OAuthClientProvider,
  OAuthError,
  OAuthErrorCode,
  type OAuthServerInfo,
  type OAuthTokens,
  PrivateKeyJwtProvider,
} from '@modelcontextprotocol/client';
import { envPrefixFor, type UpstreamConfig } from '../config/index.js';
import {
  AuthClientRejectedError,
  AuthGrantError,
  AuthNoClientError,
  ClientCredentialsError,
  TokenRefusedError,
  UpstreamError,
} from '../errors/index.js';
import type { ClientIdentity } from './client-identity.js';

/** Whether an upstream signs in with its own credentials rather than a user's. */
export function usesClientCredentials(upstream: UpstreamConfig): boolean {
  return upstream.oauth?.grant === 'client_credentials';
}

/** How soon after a 401 a second refusal means the new token is refused too, not that it expired. */
const REFUSED_AGAIN_MS = 10_000;

export class ClientCredentialsGrant {
  /** When the last token was issued, and when the upstream last answered 401. */
  private issuedAt = 0;
  private refusedAt = 0;

  constructor(
    private readonly upstream: UpstreamConfig,
    private readonly identity: ClientIdentity,
    private readonly fetchFn: FetchLike,
  ) {}

  /** A new access token from the token endpoint; permanent failures for what the user has to fix. */
  async fetchToken(info: OAuthServerInfo, request: { resource?: string | URL; scope?: string }): Promise<OAuthTokens> {
    const metadata = info.authorizationServerMetadata;
    if (metadata?.grant_types_supported && !metadata.grant_types_supported.includes('client_credentials')) {
      throw this.failure(
        AuthGrantError,
        'its authorization server does not offer the client_credentials grant (grant_types_supported); remove oauth.grant to sign in with the browser',
      );
    }
    try {
      const tokens = await fetchToken(this.provider(info), info.authorizationServerUrl, {
        metadata,
        resource: request.resource,
        scope: request.scope,
        fetchFn: this.fetchFn,
      });
      this.issuedAt = Date.now();
      return tokens;
    } catch (error) {
      throw this.refusal(error);
    }
  }

  /** The upstream answered 401: a new token is asked for next (the transport retries the request once). */
  noteRefusal(): void {
    this.refusedAt = Date.now();
  }

  /**
   * Called when the statechart comes back to discovery after an auth failure: if the token issued after a 401
   * moments ago was refused too, the upstream refuses what its own authorization server gives (a wrong audience or
   * scope, say). No new token fixes that; asking again would loop through token requests without a pause.
   */
  assertNotRefusedAgain(): void {
    if (this.issuedAt > this.refusedAt && Date.now() - this.refusedAt < REFUSED_AGAIN_MS) {
      throw this.failure(
        TokenRefusedError,
        'it refused (401) the access token its authorization server has just issued to the client credentials; check oauth.scopes and oauth.resource',
      );
    }
  }

  /**
   * The SDK provider for the method chosen from the server's list: `PrivateKeyJwtProvider` signs a new assertion
   * per request; `ClientCredentialsProvider` is given the chosen secret method (it names none itself, so the SDK
   * would take basic over post whatever the server's order).
   */
  private provider(info: OAuthServerInfo): OAuthClientProvider {
    const metadata = info.authorizationServerMetadata;
    // The SDK sends the credentials only to the authorization server they are stamped with.
    const expectedIssuer = metadata?.issuer ?? String(info.authorizationServerUrl);
    const chosen = this.identity.configuredClient(metadata);
    const key = this.identity.privateKey();
    if (!chosen) throw this.failure(AuthNoClientError, `set ${envPrefixFor(this.upstream.name)}CLIENT_ID`);
    const clientId = chosen.client.client_id;
    if (chosen.addClientAuthentication && key) {
      return new PrivateKeyJwtProvider({ clientId, privateKey: key.pem, algorithm: key.alg, expectedIssuer });
    }
    const provider = new ClientCredentialsProvider({
      clientId,
      clientSecret: chosen.client.client_secret ?? '',
      expectedIssuer,
    });
    const information = provider.clientInformation();
    const method = (chosen.client as { token_endpoint_auth_method?: string }).token_endpoint_auth_method;
    provider.clientInformation = () => ({ ...information, token_endpoint_auth_method: method });
    return provider;
  }

  private refusal(error: unknown): UpstreamError {
    if (error instanceof UpstreamError) return error;
    const prefix = envPrefixFor(this.upstream.name);
    if (error instanceof OAuthError) {
      // The description is the server's, about the request: it holds no secret of ours.
      const said = [error.code, error.message].filter(Boolean).join(': ').slice(0, 300);
      if (error.code === OAuthErrorCode.InvalidClient || error.code === OAuthErrorCode.UnauthorizedClient) {
        return this.failure(
          AuthClientRejectedError,
          `its authorization server refused the client credentials (${said}); check ${prefix}CLIENT_ID and ${prefix}CLIENT_SECRET (or the private key)`,
        );
      }
      return this.failure(ClientCredentialsError, `its authorization server refused a token (${said})`);
    }
    // The network, most likely (or a key the signer cannot import, which the message names).
    return new ClientCredentialsError(
      `upstream "${this.upstream.name}": asking for an access token with the client credentials failed (${(error as Error).message})`,
      { kind: 'network' },
    );
  }

  /** A failure the user has to fix (each of these classes is permanent), in a line that names the upstream. */
  private failure(Failure: new (message: string) => UpstreamError, why: string): UpstreamError {
    return new Failure(`upstream "${this.upstream.name}": ${why}`);
  }
}
