/**
 * Which scope to ask for, as the MCP authorization spec has it (2025-11-25 "Scope Selection Strategy"): the
 * configured one, else the 401 challenge's `scope`, else the protected resource's `scopes_supported`, else none.
 * Plus `offline_access` when the authorization server offers it and the client may use refresh tokens (SEP-2207):
 * without it a strict OpenID provider issues no refresh token, and every expiry sends the user to the browser.
 * The set operations are the SDK's.
 */
import { type AuthorizationServerMetadata, computeScopeUnion } from '@modelcontextprotocol/client';
import type { StoredClient } from './store.js';

/** The scope that asks an OpenID provider for a refresh token (OpenID Connect Core §11). */
export const OFFLINE_ACCESS = 'offline_access';

export interface ScopeSources {
  configured?: readonly string[];
  challenge?: string;
  resourceScopes?: readonly string[];
  serverMetadata?: AuthorizationServerMetadata;
}

/** The scope for registration and authorization; `undefined` means leave `scope` out. */
export function chooseScope(sources: ScopeSources, clientMayRefresh: boolean): string | undefined {
  const { configured, challenge, resourceScopes } = sources;
  const wanted = configured?.length
    ? configured.join(' ')
    : challenge || (resourceScopes?.length ? resourceScopes.join(' ') : undefined);
  // With nothing else to ask for, `offline_access` alone: omitting scope (the SDK's choice) leaves a strict OpenID
  // provider nothing to grant, and node-oidc-provider then refuses the sign-in (tested in oidc.test.ts).
  if (!clientMayRefresh || !offersOfflineAccess(sources.serverMetadata)) return wanted;
  return computeScopeUnion(wanted, OFFLINE_ACCESS);
}

/** `offline_access` in the server's `scopes_supported`, or an OpenID provider that lists no scopes. */
export function offersOfflineAccess(metadata: AuthorizationServerMetadata | undefined): boolean {
  if (!metadata) return false;
  if (metadata.scopes_supported) return metadata.scopes_supported.includes(OFFLINE_ACCESS);
  return 'id_token_signing_alg_values_supported' in metadata;
}

/**
 * Whether a registration lets the client ask for `offline_access`: it has the refresh_token grant (the proxy
 * always asks for it; a registration that does not echo `grant_types` is taken to have it), and its registered
 * `scope`, if any, includes `offline_access` (a registration made before the proxy asked for it may not).
 */
export function registeredForRefresh(client: StoredClient): boolean {
  const { grant_types: grantTypes, scope } = client.raw;
  if (Array.isArray(grantTypes) && !grantTypes.includes('refresh_token')) return false;
  return typeof scope !== 'string' || scope.split(' ').includes(OFFLINE_ACCESS);
}

/** A registration that lists its grant types without refresh_token: registering again would change nothing. */
export function hasOtherGrantsOnly(client: StoredClient): boolean {
  const grantTypes = client.raw.grant_types;
  return Array.isArray(grantTypes) && !grantTypes.includes('refresh_token');
}
