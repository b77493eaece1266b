/**
 * An upstream's authorization server, discovered (discovery.ts) and checked before any token goes near it: HTTPS
 * for the upstream and its server (unless `allow_http`, or loopback), and a protected resource that is the upstream
 * itself, or the one the user configured.
 */
import {
  checkResourceAllowed,
  type FetchLike,
  type OAuthServerInfo,
  resourceUrlFromServerUrl,
} from '@modelcontextprotocol/client';
import type { UpstreamConfig } from '../config/index.js';
import { AuthDiscoveryError, AuthInsecureError, AuthResourceError } from '../errors/index.js';
import { discoverServerInfo } from './discovery.js';

export interface CheckedServerInfo {
  info: OAuthServerInfo;
  /** RFC 8707: the advertised resource verbatim (a URL object would add a trailing slash), else our own URL. */
  resource: string | URL | undefined;
}

export interface ServerInfoOptions {
  /** From the 401's `WWW-Authenticate: … resource_metadata="…"`, when given. */
  resourceMetadataUrl: URL | undefined;
  fetchFn: FetchLike;
  /** Told when a same-origin `issuer` that differs from the expected one was accepted. */
  onIssuerAccepted: (mismatch: { expected: string; received: string }) => void;
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** Protected-resource and authorization-server metadata (the AS may live on another origin), checked. */
export async function checkedServerInfo(
  upstream: UpstreamConfig,
  options: ServerInfoOptions,
): Promise<CheckedServerInfo> {
  const { name, url, allowHttp } = upstream;
  if (url.protocol !== 'https:' && !isLoopback(url) && !allowHttp) {
    throw new AuthInsecureError(
      `upstream "${name}" asks for sign-in over plain HTTP; tokens are only sent over HTTPS (set allow_http to accept)`,
    );
  }
  let info: OAuthServerInfo;
  try {
    info = await discoverServerInfo(url, options);
  } catch (error) {
    throw new AuthDiscoveryError(
      `upstream "${name}": cannot discover its authorization server (${(error as Error).message})`,
    );
  }
  const asUrl = new URL(info.authorizationServerUrl);
  if (asUrl.protocol !== 'https:' && !isLoopback(asUrl) && !allowHttp) {
    throw new AuthInsecureError(
      `upstream "${name}": its authorization server ${asUrl.origin} is not HTTPS (set allow_http to accept)`,
    );
  }
  // No metadata at all is a server of the 2025-03-26 revision: its endpoints are /authorize, /token and
  // /register at the server's origin, where the SDK's building blocks look when given no metadata. A server that
  // wants headers rather than OAuth has no /register either, and is told so then (registration.ts).
  const advertised = info.resourceMetadata?.resource;
  const own = resourceUrlFromServerUrl(url);
  const override = upstream.oauth?.resource;
  if (override !== undefined) {
    // Entra-style servers want another resource (or none at all): the user's word replaces the check below.
    return { info, resource: override === false ? undefined : override };
  }
  if (advertised && !checkResourceAllowed({ requestedResource: own, configuredResource: advertised })) {
    throw new AuthResourceError(
      `upstream "${name}": its metadata names another resource (${new URL(advertised).origin})`,
    );
  }
  return { info, resource: advertised ?? own };
}
