/** What observers and the chart itself read of an upstream actor. */
import type { AnyActorRef } from 'xstate';
import type { CallRef, UpstreamContext } from './types.js';

/** "<url>", or "<url> and enter the code <code>" for the device flow: what the user is told to do. */
export function signInInstruction(url: string, userCode: string | undefined): string {
  return userCode === undefined ? url : `${url} and enter the code ${userCode}`;
}

/**
 * The call actors: the upstream's children spawned from the `call` machine (not its invoked actors). Calls
 * forwarded on the ready path have none (see `inFlightCount`).
 */
export function callsOf(self: AnyActorRef): CallRef[] {
  const children = (self.getSnapshot() as { children: Record<string, AnyActorRef> }).children;
  return Object.values(children).filter((child): child is CallRef => child.src === 'call');
}

/** Every call in flight on the upstream: those with an actor and those forwarded on the ready path. */
export function inFlightCount(self: AnyActorRef): number {
  return callsOf(self).length + (self.getSnapshot().context as UpstreamContext).inFlight.size;
}
