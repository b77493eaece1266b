/**
 * Authorization-server discovery: the SDK's, with one tolerance and one addition (the device authorization
 * endpoint, which the SDK's metadata schema drops; see `keepingMetadata`). RFC 8414 §3.3 wants the metadata's `issuer` to be
 * exactly the URL the metadata was looked up for; the SDK rejects any other (`IssuerMismatchError`). Some servers
 * publish path-based metadata (`/.well-known/oauth-authorization-server/tenant1`) whose `issuer` leaves the path
 * out. An `issuer` on the same origin (scheme, host and port) as the metadata URL is that server speaking for
 * itself, so it is accepted, with a warning; an `issuer` on another origin is what a mix-up attack looks like and
 * stays an error.
 */
import {
  discoverOAuthServerInfo,
  type FetchLike,
  IssuerMismatchError,
  type OAuthServerInfo,
} from '@modelcontextprotocol/client';

export interface DiscoverServerInfoOptions {
  /** From the 401's `WWW-Authenticate: … resource_metadata="…"`, when given. */
  resourceMetadataUrl?: URL;
  fetchFn: FetchLike;
  /** Told when a same-origin `issuer` that differs from the expected one was accepted. */
  onIssuerAccepted: (mismatch: { expected: string; received: string }) => void;
}

function originOf(url: string | undefined): string | undefined {
  if (url === undefined || !URL.canParse(url)) return undefined;
  return new URL(url).origin;
}

/** Whether `received` names the same origin as `expected` (the URL the metadata was fetched from is built on it). */
function sameOrigin(expected: string | undefined, received: string | undefined): boolean {
  const origin = originOf(expected);
  return origin !== undefined && origin !== 'null' && origin === originOf(received);
}

/**
 * `discoverOAuthServerInfo`, accepting an authorization-server `issuer` that differs from the expected one only when
 * it is on the same origin. The SDK's own check decides first; only its metadata mismatch on one origin leads to a
 * second discovery with the check off, whose `issuer` is checked for the same origin again.
 */
export async function discoverServerInfo(serverUrl: URL, options: DiscoverServerInfoOptions): Promise<OAuthServerInfo> {
  const seen: Record<string, unknown>[] = [];
  const fetchFn = keepingMetadata(options.fetchFn, seen);
  return withDeviceEndpoint(await discover(serverUrl, { ...options, fetchFn }), seen);
}

/**
 * The SDK's metadata schema keeps only the members it knows, and RFC 8628's `device_authorization_endpoint` is not
 * one of them: the metadata documents are read once more, as they pass, to put it back.
 */
function keepingMetadata(fetchFn: FetchLike, seen: Record<string, unknown>[]): FetchLike {
  return async (url, init) => {
    const response = await fetchFn(url, init);
    const path = new URL(String(url)).pathname;
    if (response.ok && /\/\.well-known\/(openid-configuration|oauth-authorization-server)/.test(path)) {
      const body = await response
        .clone()
        .json()
        .catch(() => undefined);
      if (typeof body === 'object' && body !== null) seen.push(body as Record<string, unknown>);
    }
    return response;
  };
}

function withDeviceEndpoint(info: OAuthServerInfo, seen: Record<string, unknown>[]): OAuthServerInfo {
  const metadata = info.authorizationServerMetadata;
  if (!metadata) return info;
  // The document the SDK accepted: the same issuer and token endpoint.
  const document = seen.find(
    (body) => body.issuer === metadata.issuer && body.token_endpoint === metadata.token_endpoint,
  );
  const endpoint = document?.device_authorization_endpoint;
  if (typeof endpoint !== 'string') return info;
  return {
    ...info,
    authorizationServerMetadata: { ...metadata, device_authorization_endpoint: endpoint } as typeof metadata,
  };
}

async function discover(serverUrl: URL, options: DiscoverServerInfoOptions): Promise<OAuthServerInfo> {
  const { resourceMetadataUrl, fetchFn } = options;
  try {
    return await discoverOAuthServerInfo(serverUrl, { resourceMetadataUrl, fetchFn });
  } catch (error) {
    if (!(IssuerMismatchError.isInstance(error) && error.kind === 'metadata')) throw error;
    if (!sameOrigin(error.expected, error.received)) throw error;
  }
  const info = await discoverOAuthServerInfo(serverUrl, {
    resourceMetadataUrl,
    fetchFn,
    skipIssuerMetadataValidation: true,
  });
  const expected = info.authorizationServerUrl;
  const received = info.authorizationServerMetadata?.issuer;
  if (!sameOrigin(expected, received)) throw new IssuerMismatchError('metadata', expected, received);
  options.onIssuerAccepted({ expected, received: received as string });
  return info;
}
