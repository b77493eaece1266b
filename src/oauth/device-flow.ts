/**
 * Sign-in with the device authorization grant (RFC 8628), for a proxy that runs where no browser can be opened
 * (a server, a container, ssh): the authorization server hands out a user code and a verification URL, which the
 * user opens on any device; meanwhile the proxy polls the token endpoint. The device authorization request is
 * made here; every token request goes through the SDK's `fetchToken`, which does the client authentication and
 * parses the tokens and the errors.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AuthorizationServerMetadata,
  assertSecureTokenEndpoint,
  type FetchLike,
  fetchToken,
  OAuthError,
  type OAuthServerInfo,
  type OAuthTokens,
  parseErrorResponse,
  selectClientAuthMethod,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import type { BrowserSettings, UpstreamConfig } from '../config/index.js';
import {
  AuthInsecureError,
  DeviceFlowError,
  NoDeviceFlowError,
  SignInNeededError,
  type UpstreamError,
} from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { registerSecret } from '../observe/redact.js';
import { noBrowserAvailable } from './browser.js';
import type { PendingSignIn } from './pending-sign-in.js';
import { DEVICE_CODE_GRANT } from './registration.js';
import type { ChosenClient } from './static-client.js';

/** RFC 8628 §3.5: the polling interval when the server names none, and what `slow_down` adds to it. */
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_STEP_S = 5;

/** A page for the user to open: http(s) only, as it is shown to them and may be made a link by the client. */
const PageUrl = z.url({ protocol: /^https?$/ });

/** RFC 8628 §3.2. `verification_url` is the name Google's older endpoint uses. */
const DeviceAuthorizationResponse = z.object({
  device_code: z.string().min(1),
  // Printed on one line and sent to the client: no control characters.
  user_code: z.string().regex(/^[^\p{Cc}]{1,64}$/u),
  verification_uri: PageUrl.optional(),
  verification_url: PageUrl.optional(),
  verification_uri_complete: PageUrl.optional(),
  expires_in: z.number().positive(),
  interval: z.number().positive().optional(),
});

export interface DeviceSignInOptions {
  /** The upstream signing in, named in every message. */
  upstream: string;
  info: OAuthServerInfo;
  /** From `deviceEndpointFor`. */
  endpoint: string;
  chosen: ChosenClient;
  scope: string | undefined;
  /** RFC 8707, on the device authorization request and on every token request. */
  resource: string | URL | undefined;
  fetchFn: FetchLike;
  logger: Logger;
  /** The sign-in timeout (PROXY_OAUTH_TIMEOUT_MS); the code's own `expires_in` may end it sooner. */
  timeoutMs: number;
  /** Stops the polling (the proxy is stopping). */
  signal?: AbortSignal;
  onWaiting: (pending: PendingSignIn) => void;
}

/** The server's device authorization endpoint, when it offers the grant (RFC 8628 §4). */
export function deviceAuthorizationEndpoint(metadata: AuthorizationServerMetadata | undefined): string | undefined {
  const endpoint = (metadata as { device_authorization_endpoint?: unknown } | undefined)?.device_authorization_endpoint;
  return typeof endpoint === 'string' && URL.canParse(endpoint) ? endpoint : undefined;
}

/**
 * `oauth.flow: "device"`, or no flow configured, no browser to open (browser.ts) and a server that offers the
 * device grant. A configured "device" against a server without it fails in `deviceEndpointFor`, with a message.
 */
export function usesDeviceFlow(upstream: UpstreamConfig, info: OAuthServerInfo, browser: BrowserSettings): boolean {
  const flow = upstream.oauth?.flow;
  if (flow !== undefined) return flow === 'device';
  return deviceAuthorizationEndpoint(info.authorizationServerMetadata) !== undefined && noBrowserAvailable(browser);
}

/**
 * The endpoint to ask for a device code, checked before anything else is done for the device flow (a registration,
 * say): a configured `flow: "device"` the server does not offer is a permanent failure.
 */
export function deviceEndpointFor(upstream: string, metadata: AuthorizationServerMetadata | undefined): string {
  const endpoint = deviceAuthorizationEndpoint(metadata);
  if (endpoint === undefined) {
    throw new NoDeviceFlowError(
      `upstream "${upstream}": oauth.flow is "device", but its authorization server offers no device authorization endpoint (RFC 8628); use the browser flow`,
    );
  }
  // Client credentials go to this endpoint as to the token endpoint: over TLS only (loopback aside), as there.
  try {
    assertSecureTokenEndpoint(endpoint);
  } catch {
    throw new AuthInsecureError(
      `upstream "${upstream}": its device authorization endpoint ${new URL(endpoint).origin} is not HTTPS`,
    );
  }
  return endpoint;
}

/**
 * The user did not complete the sign-in: the statechart waits for a call to start another, and records no error,
 * so the reason is told here, once.
 */
function signInNeeded(logger: Logger, message: string): UpstreamError {
  logger.warn(message);
  return new SignInNeededError(message);
}

/** "10 min", "45 s": how long the user has, for the line that shows the code. */
function duration(seconds: number): string {
  return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`;
}

/**
 * Asks for a device code, shows where to enter it (stderr, then `onWaiting` for the client's log and the
 * answers of calls), and polls until the user approved, denied, or the time ran out. Resolves the tokens.
 */
export async function signInWithDevice(options: DeviceSignInOptions): Promise<OAuthTokens> {
  const { upstream, info, chosen, logger, signal } = options;
  const metadata = info.authorizationServerMetadata;
  const grant = await requestDeviceCode(options.endpoint, options);
  const started = Date.now();
  const url = grant.verification_uri_complete ?? grant.verification_uri ?? grant.verification_url;
  if (url === undefined) {
    throw new DeviceFlowError(`upstream "${upstream}": its device authorization answer gave no verification URL`);
  }
  // The code is for the user's eyes (it is useless without the device code, which never leaves this file).
  logger.info(
    `upstream "${upstream}": to sign in, open ${url} and enter the code ${grant.user_code} (expires in ${duration(grant.expires_in)})`,
  );
  options.onWaiting({ url, how: 'printed', userCode: grant.user_code });

  const deadline = started + Math.min(grant.expires_in * 1000, options.timeoutMs);
  let intervalS = grant.interval ?? DEFAULT_INTERVAL_S;
  const provider = pollingProvider(chosen, grant.device_code);
  for (;;) {
    const wait = Math.min(intervalS * 1000, deadline - Date.now());
    if (wait > 0) await sleep(wait, undefined, { signal, ref: false }).catch(() => {});
    if (signal?.aborted) throw new SignInNeededError(`upstream "${upstream}": sign-in stopped`);
    if (Date.now() >= deadline) {
      throw signInNeeded(
        logger,
        `upstream "${upstream}": the sign-in code was not approved in time (${duration((deadline - started) / 1000)}); a call starts a new sign-in`,
      );
    }
    try {
      return await fetchToken(provider, info.authorizationServerUrl, {
        metadata,
        resource: options.resource,
        fetchFn: options.fetchFn,
      });
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        // A dropped connection or a restart of the server: the code stays valid, so keep polling until the deadline.
        if (error instanceof TypeError) {
          logger.debug(`upstream "${upstream}": polling for the device sign-in failed (${error.message}); retrying`);
          continue;
        }
        // An answer that is not tokens, an insecure token endpoint: only the kind of error, its text may quote the body.
        throw new DeviceFlowError(
          `upstream "${upstream}": the device sign-in's token request failed (${(error as Error).name})`,
        );
      }
      switch (error.code) {
        case 'authorization_pending':
          continue;
        case 'slow_down':
          intervalS += SLOW_DOWN_STEP_S;
          logger.debug(`upstream "${upstream}": the server asked to poll more slowly; now every ${intervalS} s`);
          continue;
        case 'access_denied':
          throw signInNeeded(logger, `upstream "${upstream}": the sign-in was denied; a call starts a new sign-in`);
        case 'expired_token':
          throw signInNeeded(
            logger,
            `upstream "${upstream}": the sign-in code expired before it was approved; a call starts a new sign-in`,
          );
        case 'server_error':
        case 'temporarily_unavailable':
          continue;
        default:
          throw new DeviceFlowError(
            `upstream "${upstream}": its authorization server refused the device sign-in (${error.code})`,
            { kind: 'permanent' },
          );
      }
    }
  }
}

/**
 * POSTs the device authorization request (RFC 8628 §3.1). The client authenticates as at the token endpoint
 * (§3.1 refers to RFC 6749 §3.2.1): the SDK picks the method; it does not export how to apply it, so the three
 * methods it picks are applied here the way its token requests apply them. A `private_key_jwt` client signs with
 * the SDK's own `addClientAuthentication`.
 */
async function requestDeviceCode(
  endpoint: string,
  options: DeviceSignInOptions,
): Promise<z.infer<typeof DeviceAuthorizationResponse>> {
  const { upstream, chosen, info } = options;
  const metadata = info.authorizationServerMetadata;
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' });
  const body = new URLSearchParams();
  if (options.scope) body.set('scope', options.scope);
  if (options.resource) body.set('resource', String(options.resource));
  const { client } = chosen;
  if (chosen.addClientAuthentication) {
    await chosen.addClientAuthentication(headers, body, endpoint, metadata);
  } else {
    const method = selectClientAuthMethod(client, metadata?.token_endpoint_auth_methods_supported ?? []);
    if (method === 'client_secret_basic' && client.client_secret) {
      headers.set('authorization', `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`);
    } else {
      body.set('client_id', client.client_id);
      if (method === 'client_secret_post' && client.client_secret) body.set('client_secret', client.client_secret);
    }
  }
  let response: Response;
  try {
    response = await options.fetchFn(endpoint, { method: 'POST', headers, body });
  } catch (error) {
    throw new DeviceFlowError(
      `upstream "${upstream}": the device authorization request failed (${(error as Error).message})`,
    );
  }
  if (!response.ok) {
    const refusal = await parseErrorResponse(response);
    // The message of a non-OAuth answer holds its raw body: only the code goes into ours.
    const said = refusal.code === 'server_error' ? `HTTP ${response.status}` : refusal.code;
    const kind = response.status >= 500 || response.status === 429 ? 'network' : 'permanent';
    throw new DeviceFlowError(
      `upstream "${upstream}": its authorization server refused the device authorization request (${said})`,
      { kind },
    );
  }
  const parsed = DeviceAuthorizationResponse.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) {
    throw new DeviceFlowError(`upstream "${upstream}": its device authorization answer is not RFC 8628's`);
  }
  registerSecret(parsed.data.device_code);
  return parsed.data;
}

/**
 * The smallest `OAuthClientProvider` `fetchToken` accepts: the client, and a token request for the device grant.
 * Nothing here redirects or stores; the session saves the tokens `fetchToken` resolves.
 */
function pollingProvider(chosen: ChosenClient, deviceCode: string): Parameters<typeof fetchToken>[0] {
  const unused = () => {
    throw new Error('not part of the device flow');
  };
  return {
    redirectUrl: undefined,
    clientMetadata: { redirect_uris: [] },
    clientInformation: () => chosen.client,
    tokens: () => undefined,
    saveTokens: () => {},
    redirectToAuthorization: unused,
    saveCodeVerifier: () => {},
    codeVerifier: unused,
    addClientAuthentication: chosen.addClientAuthentication,
    prepareTokenRequest: () => new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: deviceCode }),
  };
}
