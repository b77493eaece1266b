/** Failures of signing in to an upstream (OAuth): discovery, registration, tokens, the device flow. */
import { failureClass } from './failure.js';

/** The authorization server cannot be found, or the upstream offers no OAuth sign-in. */
export class AuthDiscoveryError extends failureClass('ERR_UPSTREAM_AUTH_DISCOVERY', 'network', 'the authorization server cannot be discovered') {}
/** Tokens would travel over plain HTTP. */
export class AuthInsecureError extends failureClass('ERR_UPSTREAM_AUTH_INSECURE', 'permanent', 'sign-in is not over HTTPS') {}
/** The metadata names another resource than the upstream. */
export class AuthResourceError extends failureClass('ERR_UPSTREAM_AUTH_RESOURCE', 'permanent', 'the metadata names another resource') {}
/** Dynamic client registration failed or was refused. */
export class AuthRegistrationError extends failureClass('ERR_UPSTREAM_AUTH_REGISTRATION', 'permanent', 'client registration failed') {}
/** No client to sign in with: the server registers none and none is configured. */
export class AuthNoClientError extends failureClass('ERR_UPSTREAM_AUTH_NO_CLIENT', 'permanent', 'no OAuth client to sign in with') {}
/** The authorization server refused the client. */
export class AuthClientRejectedError extends failureClass('ERR_UPSTREAM_AUTH_CLIENT_REJECTED', 'permanent', 'the authorization server refused the client') {}
/** The sign-in (refresh token) expired. */
export class AuthExpiredError extends failureClass('ERR_UPSTREAM_AUTH_EXPIRED', 'auth', 'the sign-in expired') {}
/** Refreshing the access token failed. */
export class AuthRefreshError extends failureClass('ERR_UPSTREAM_AUTH_REFRESH', 'network', 'refreshing the access token failed') {}
/** The authorization server does not offer the configured grant. */
export class AuthGrantError extends failureClass('ERR_UPSTREAM_AUTH_GRANT', 'permanent', 'the grant is not offered') {}
/** A client_credentials token request failed. */
export class ClientCredentialsError extends failureClass('ERR_UPSTREAM_AUTH_CLIENT_CREDENTIALS', 'permanent', 'the client credentials got no token') {}
/** The upstream refused a token its authorization server has just issued. */
export class TokenRefusedError extends failureClass('ERR_UPSTREAM_AUTH_TOKEN_REFUSED', 'permanent', 'the upstream refused a fresh token') {}
/** The static client's callback port is taken. */
export class CallbackPortError extends failureClass('ERR_UPSTREAM_AUTH_CALLBACK_PORT', 'permanent', 'the sign-in callback port is taken') {}
/** The device flow (RFC 8628) failed. */
export class DeviceFlowError extends failureClass('ERR_UPSTREAM_AUTH_DEVICE', 'network', 'the device sign-in failed') {}
/** `oauth.flow` is device, but the server offers no device endpoint. */
export class NoDeviceFlowError extends failureClass('ERR_UPSTREAM_AUTH_NO_DEVICE_FLOW', 'permanent', 'no device authorization endpoint') {}
/** The server granted less than the scope a step-up asked for. */
export class ScopeRefusedError extends failureClass('ERR_UPSTREAM_SCOPE_REFUSED', 'permanent', 'the wider scope was refused') {}
/** A sign-in is needed and did not happen (timed out, denied, stopped). */
export class SignInNeededError extends failureClass('ERR_UPSTREAM_SIGN_IN_NEEDED', 'auth', 'sign-in is needed') {}
/** Signing in failed in a way no other class names. */
export class SignInError extends failureClass('ERR_UPSTREAM_SIGN_IN', 'network', 'sign-in failed') {}
