/**
 * A reload of the configuration, as the supervisor takes it: which upstream actors are kept (their sessions too),
 * which retire, and what a new actor starts with. The I/O side (reading the file, sessions, stores) is in src/.
 */
import { UpstreamRemovedError, UpstreamRestartedError } from '../../src/errors/index.js';
import type { Retirement } from '../upstream/index.js';
import type { Reload, SupervisedUpstream } from './types.js';

/** How the actor of `running` ends in this reload, or undefined when it is kept. */
export function retirementFor(running: SupervisedUpstream, reload: Reload): Retirement | undefined {
  const { name } = running;
  const kept = reload.upstreams.some((upstream) => upstream.name === name);
  if (kept && !reload.restart.includes(name)) return undefined;
  const failure = kept
    ? new UpstreamRestartedError(`upstream "${name}" restarts with its changed configuration; try again`)
    : new UpstreamRemovedError(`upstream "${name}" was removed from the configuration before the request was answered`);
  // The calls already sent may take what their own bounds allow them (progress resets the per-answer timeout).
  return { failure, drainMs: running.maxCallMs ?? running.timeoutMs };
}

/** The actor id of an upstream's `generation`th actor: its name, then `name#2`, … after reloads that changed it. */
export function upstreamActorId(name: string, generation: number): string {
  return generation === 1 ? name : `${name}#${generation}`;
}
