/**
 * Who the proxy is to an upstream's authorization server, in this order: a stored registration, a static client
 * (static-client.ts), a client ID metadata document, or a new dynamic registration (registration.ts).
 */
import type {
  AddClientAuthentication,
  AuthorizationServerMetadata,
  FetchLike,
  OAuthClientInformationMixed,
  OAuthServerInfo,
} from '@modelcontextprotocol/client';
import { envPrefixFor, type UpstreamConfig } from '../config/index.js';
import { AuthNoClientError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { DEVICE_CODE_GRANT, type RegistrationContext, registerProxyClient } from './registration.js';
import { hasOtherGrantsOnly, offersOfflineAccess, registeredForRefresh } from './scope.js';
import {
  type ChosenClient,
  configuredClient,
  configuredPrivateKey,
  privateKeyAuth,
  staticClient,
} from './static-client.js';
import type { StoredClient, TokenStore } from './store.js';

export { DEVICE_CODE_GRANT } from './registration.js';
export type { ChosenClient } from './static-client.js';

export interface ClientIdentityOptions {
  upstream: UpstreamConfig;
  store: TokenStore;
  logger: Logger;
  fetchFn: FetchLike;
}

export class ClientIdentity {
  private readonly registration: RegistrationContext;

  constructor(private readonly options: ClientIdentityOptions) {
    this.registration = {
      upstream: options.upstream.name,
      store: options.store,
      logger: options.logger,
      fetchFn: options.fetchFn,
    };
  }

  private get name(): string {
    return this.options.upstream.name;
  }

  /** A client configured by the user (`PROXY_<NAME>_CLIENT_ID`/`_SECRET` over `oauth.client_id`/`_secret`). */
  staticClient(): OAuthClientInformationMixed | undefined {
    return staticClient(this.options.upstream);
  }

  privateKeyAuth(clientId: string): AddClientAuthentication | undefined {
    return privateKeyAuth(this.options.upstream, clientId);
  }

  privateKey(): { pem: string; alg: string } | undefined {
    return configuredPrivateKey(this.options.upstream);
  }

  configuredClient(metadata: AuthorizationServerMetadata | undefined): ChosenClient | undefined {
    return configuredClient(this.options.upstream, metadata);
  }

  /** The client to refresh with: the stored registration, else the static client. */
  async forRefresh(metadata?: AuthorizationServerMetadata): Promise<ChosenClient | undefined> {
    const stored = await this.options.store.readClient();
    if (stored) return { client: toClientInformation(stored), mayRefresh: registeredForRefresh(stored) };
    return configuredClient(this.options.upstream, metadata);
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
    const configured = configuredClient(this.options.upstream, metadata);
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
    const registered = await registerProxyClient(this.registration, info, redirectUri, scopeFor(true));
    return { client: registered.client, mayRefresh: registeredForRefresh(registered.stored) };
  }
}

function listsGrantsWithout(client: StoredClient | undefined, grant: string): boolean {
  const grantTypes = client?.raw.grant_types;
  return Array.isArray(grantTypes) && !grantTypes.includes(grant);
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
