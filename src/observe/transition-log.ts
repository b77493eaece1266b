/**
 * What the stderr log says about the actor system's transitions: a line per change of an upstream's state (always
 * on), and with DEBUG=1 the supervisor's and the calls' transitions too. Kept apart from the wiring in proxy.ts so
 * the wording of these lines lives in one place.
 */
import type { CallContext } from '../../machines/call/index.js';
import type { UpstreamContext } from '../../machines/upstream/index.js';
import type { UpstreamCatalog } from '../catalog/index.js';
import type { Logger } from './log.js';
import type { Transition, TransitionListener } from './transitions.js';

/** One stderr line per change of an upstream's state, with the reason when it is a failure. */
export function logUpstreamStates(logger: Logger): TransitionListener {
  return (transition: Transition) => {
    if (transition.machine !== 'upstream') return;
    const context = transition.context as UpstreamContext;
    const from = transition.from ? `${transition.from} → ` : '';
    let detail = '';
    if (transition.state === 'reconnecting')
      detail = ` (attempt ${context.attempt}): ${context.lastError?.message ?? ''}`;
    else if (transition.state === 'failed') detail = `: ${context.lastError?.message ?? ''}`;
    else if (transition.state.startsWith('connected.ready') && !transition.from?.startsWith('connected.ready')) {
      detail = ` (${describeCatalog(context.catalog)} over ${context.transport === 'sse' ? 'SSE' : 'Streamable HTTP'})`;
    }
    const line = `upstream "${transition.actor}": ${from}${transition.state}${detail}`;
    if (transition.state === 'failed') logger.error(line);
    else if (transition.state === 'reconnecting') logger.warn(line);
    else logger.info(line);
  };
}

/** With DEBUG=1: the supervisor's and every call's transitions too (never their context: it may hold arguments). */
export function logOtherTransitions(logger: Logger): TransitionListener {
  return (transition: Transition) => {
    if (transition.machine === 'upstream') return;
    let what = '';
    if (transition.machine === 'call') {
      const call = transition.context as CallContext;
      what = ` (${call.request.label} on upstream "${call.upstream}")`;
    }
    logger.debug(
      `${transition.actor}${what}: ${transition.from ?? '(start)'} → ${transition.state} on ${transition.event}`,
    );
  };
}

/** "3 tools, 2 prompts, 10 resources": what an upstream offers, leaving out what it has none of (tools always). */
function describeCatalog({ tools, prompts, resources, resourceTemplates }: UpstreamCatalog): string {
  const parts = [`${tools.length} tools`];
  if (prompts.length > 0) parts.push(`${prompts.length} prompts`);
  if (resources.length > 0) parts.push(`${resources.length} resources`);
  if (resourceTemplates.length > 0) parts.push(`${resourceTemplates.length} resource templates`);
  return parts.join(', ');
}
