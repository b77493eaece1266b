/**
 * Retiring: a reload removed the upstream, or changed it so that a new actor (with a new session) replaces this one.
 * With a session open, the calls already sent may finish on it (`connected.draining`, for `drainMs` at most); calls
 * that wait for a session, and those still running at the end, get the retirement's failure. Then the session is
 * closed (`connected`'s exit) and the actor ends (`retired`), telling the supervisor, which stops it.
 */
import { upstreamSetup } from './setup.js';

export const drainingState = upstreamSetup.createStateConfig({
  entry: 'failWaitingCalls',
  invoke: { src: 'drainCalls', input: ({ self }) => ({ upstream: self }) },
  after: { drainDeadline: { target: '#upstream.retired' } },
  on: {
    'drain.done': { target: '#upstream.retired' },
    'connection.lost': { target: '#upstream.retired' },
    // Nothing new is sent on a session about to close; the supervisor no longer routes here, this is a race.
    'request.forward': { actions: 'replyRetired' },
    // A call that would be sent again (its session forgotten, or never sent) has no next session here.
    'call.sessionExpired': { actions: 'failCallRetired' },
    'call.connectionSuspect': { actions: 'failCallRetired' },
    // No sign-in or refresh for a session about to close (the successor, if any, has its own).
    'call.stepUpNeeded': {},
    'auth.refresh': {},
  },
});

export const retiredState = upstreamSetup.createStateConfig({
  type: 'final',
  entry: [
    {
      type: 'tellCalls',
      params: ({ context }) => ({ type: 'upstream.failed', failure: context.retirement!.failure }),
    },
    'announceRetired',
  ],
});
