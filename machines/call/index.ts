/** The call statechart: one actor per request that must wait for, or be decided by, its upstream. */
export { callMachine, LOST_GRACE_MS } from './call-machine.js';
export type { CallContext, CallEvent, CallInput, CallToUpstreamEvent } from './types.js';
