/** The upstream statechart: one actor per configured upstream, and what its observers read of it. */
export { RECONNECT_BASE_MS, RECONNECT_CAP_MS, reconnectDelayMs } from './backoff.js';
export { type InFlightCall, InFlightCalls } from './in-flight.js';
export { callsOf, inFlightCount, signInInstruction } from './selectors.js';
export { MAX_STEP_UPS } from './setup.js';
export type {
  CallRef,
  ConnectInput,
  Retirement,
  SupervisorRef,
  UpstreamContext,
  UpstreamEvent,
  UpstreamInput,
  UpstreamToSupervisorEvent,
} from './types.js';
export { upstreamMachine } from './upstream-machine.js';
