/** The supervisor statechart: the upstream actors, the exposed catalog and the routing of requests to them. */
export { upstreamActorId } from './reload.js';
export { supervisorMachine } from './supervisor-machine.js';
export type {
  Reload,
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
