/** The supervisor statechart: the upstream actors, the exposed catalog and the routing of requests to them. */
export { supervisorMachine } from './supervisor-machine.js';
export type {
  RequestTarget,
  RouteEvent,
  RouteOutcome,
  SupervisedUpstream,
  SupervisorContext,
  SupervisorEmitted,
  SupervisorEvent,
  SupervisorInput,
  UpstreamRef,
} from './types.js';
