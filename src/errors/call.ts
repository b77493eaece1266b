/** Failures of one forwarded request. */
import { failureClass } from './failure.js';

/** The code of a failure of a request that provably never reached the upstream (refused at connect). */
export const NOT_SENT = 'ERR_UPSTREAM_NOT_SENT';
/** The code of a failure that asks for a wider OAuth scope (step-up); its `reason` is the scope. */
export const INSUFFICIENT_SCOPE = 'ERR_UPSTREAM_INSUFFICIENT_SCOPE';

/** Refused at connect: the upstream never saw the request, so it may be sent again. */
export class NotSentError extends failureClass(NOT_SENT, 'network', 'the request was never sent') {}
/** A 403 asking for a wider scope. */
export class InsufficientScopeFailure extends failureClass(INSUFFICIENT_SCOPE, 'auth', 'the upstream needs more permissions') {}
/** No answer within the request's timeout. */
export class UpstreamTimeoutError extends failureClass('ERR_UPSTREAM_TIMEOUT', 'upstream', 'the upstream did not answer in time') {}
/** Still running after `max_call_ms`, progress or not. */
export class MaxCallTimeError extends failureClass('ERR_UPSTREAM_MAX_CALL_TIME', 'upstream', 'the request ran past max_call_ms') {}
/** The client cancelled the request. */
export class CallCancelledError extends failureClass('ERR_CALL_CANCELLED', 'upstream', 'the request was cancelled') {}
/** The upstream stayed unconnected for the whole wait of a request. */
export class NotReadyError extends failureClass('ERR_UPSTREAM_NOT_READY', 'network', 'the upstream is not connected') {}
/** The request failed in a way no other class names. */
export class CallError extends failureClass('ERR_UPSTREAM_CALL', 'upstream', 'the request failed') {}
/** A waiting call's tool or prompt is gone from the upstream's fresh lists. */
export class TargetGoneError extends failureClass('ERR_TARGET_GONE', 'upstream', 'the upstream no longer offers the target of the request') {}
