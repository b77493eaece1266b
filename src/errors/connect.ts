/** Failures to open or keep a session with an upstream. */
import { failureClass } from './failure.js';

/** Nothing answered: refused, reset, DNS, TLS. */
export class UpstreamUnreachableError extends failureClass('ERR_UPSTREAM_UNREACHABLE', 'network', 'the upstream cannot be reached') {}
/** Connecting failed in a way no other class names. */
export class UpstreamConnectError extends failureClass('ERR_UPSTREAM_CONNECT', 'network', 'connecting to the upstream failed') {}
/** The MCP session did not open in time. */
export class UpstreamConnectTimeoutError extends failureClass('ERR_UPSTREAM_CONNECT_TIMEOUT', 'network', 'no MCP session in time') {}
/** An HTTP status that is no other class's; retrying helps for 5xx, 408 and 429 only (the kind says which). */
export class UpstreamHttpError extends failureClass('ERR_UPSTREAM_HTTP', 'network', 'the upstream answered with an HTTP error') {}
/** 401: sign-in is needed. */
export class UpstreamAuthRequiredError extends failureClass('ERR_UPSTREAM_AUTH_REQUIRED', 'auth', 'the upstream requires sign-in') {}
/** 403 at connect. */
export class UpstreamForbiddenError extends failureClass('ERR_UPSTREAM_FORBIDDEN', 'permanent', 'the upstream refused access') {}
/** 400, 404 or 405: this transport is not spoken here; the other may be. */
export class TransportRefusedError extends failureClass('ERR_UPSTREAM_TRANSPORT_REFUSED', 'fallback', 'no MCP server over this transport') {}
/** Something answered, but not as MCP (HTML, JSON that is not JSON-RPC, an event stream of the wrong type). */
export class NotMcpError extends failureClass('ERR_UPSTREAM_NOT_MCP', 'fallback', 'the upstream did not answer as an MCP server') {}
/** Neither transport is spoken at the URL. */
export class NoTransportError extends failureClass('ERR_UPSTREAM_NO_TRANSPORT', 'permanent', 'the upstream speaks neither transport') {}
/** The legacy SSE endpoint event named another origin. */
export class SseOriginError extends failureClass('ERR_UPSTREAM_SSE_ORIGIN', 'permanent', 'the SSE endpoint is on another origin; refused for safety') {}
/** `initialize` answered with a JSON-RPC error. */
export class InitializeRefusedError extends failureClass('ERR_UPSTREAM_INITIALIZE', 'permanent', 'initialize was refused') {}
/** The upstream would not list its tools, prompts or resources. */
export class ListError extends failureClass('ERR_UPSTREAM_LIST', 'network', 'listing failed') {}
/** The session's connection went away. */
export class ConnectionLostError extends failureClass('ERR_UPSTREAM_CONNECTION_LOST', 'network', 'the connection to the upstream was lost') {}
/** The Streamable HTTP session is gone (404 for our session id). */
export class SessionExpiredError extends failureClass('ERR_UPSTREAM_SESSION_EXPIRED', 'session-expired', 'the upstream no longer knows our session') {}
/** A name the configuration does not hold. */
export class UnknownUpstreamError extends failureClass('ERR_UPSTREAM_UNKNOWN', 'permanent', 'no such configured upstream') {}
/** What an actor threw that was no failure of ours: a bug, reported rather than lost. */
export class UnexpectedError extends failureClass('ERR_UPSTREAM_UNEXPECTED', 'network', 'the upstream failed unexpectedly') {}
/** The upstream ended in `failed` with no failure on record. */
export class UpstreamFailedError extends failureClass('ERR_UPSTREAM_FAILED', 'permanent', 'the upstream failed') {}
/** Taken out of the configuration by a reload before the request was answered. */
export class UpstreamRemovedError extends failureClass('ERR_UPSTREAM_REMOVED', 'permanent', 'the upstream was removed from the configuration') {}
/** Its configuration changed in a reload: a new session replaces the one the request was waiting for or ran on. */
export class UpstreamRestartedError extends failureClass('ERR_UPSTREAM_RESTARTED', 'network', 'the upstream restarts with its changed configuration') {}
