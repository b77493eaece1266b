/** What a call actor is given, what it holds, and the events it takes and sends. */
import type { ActorRef, Snapshot } from 'xstate';
import type { UpstreamCatalog } from '../../src/catalog/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';
import type { CallOutcome, ForwardedRequest, UpstreamConnection } from '../types.js';

export interface CallInput {
  id: string;
  upstream: string;
  request: ForwardedRequest;
  reply: (outcome: CallOutcome) => void;
  /** The upstream actor; told when the call sees the connection drop or the session expire, and when it is done. */
  parentRef: ActorRef<Snapshot<unknown>, CallToUpstreamEvent>;
  /** Set when the upstream is ready at spawn time. */
  connection?: UpstreamConnection;
  /**
   * A call forwarded without an actor (../upstream/in-flight.ts) that now needs one: its request, already on its way on
   * `connection`, or the outcome it already has. Run instead of sending the request again.
   */
  settled?: Promise<CallOutcome>;
  /** Such a call taken over because its connection was lost: what it is answered with unless its outcome says more. */
  lostFailure?: UpstreamFailure;
}

export interface CallContext extends CallInput {
  /**
   * A call the upstream provably never saw (its session was gone, or the connection was refused) is sent once
   * more on the next session; once only, so a broken upstream cannot keep a call going round.
   */
  retried: boolean;
  /** The connection dropped while the call ran: what it is answered with unless its own outcome says more. */
  lostFailure?: UpstreamFailure;
}

export type CallEvent =
  /** The upstream is ready; `catalog` is what it lists now (a waiting call's tool may be gone from it). */
  | { type: 'upstream.ready'; connection: UpstreamConnection; catalog?: UpstreamCatalog }
  | { type: 'upstream.lost'; failure: UpstreamFailure }
  | { type: 'upstream.failed'; failure: UpstreamFailure }
  | { type: 'call.cancelled' };

/** What a call tells its upstream actor (named by their sender: `call.*`). */
export type CallToUpstreamEvent =
  | { type: 'call.settled'; id: string }
  /** The upstream asked for a wider scope than the token has. */
  | { type: 'call.stepUpNeeded'; scope?: string }
  /** The call failed on the network: one bad socket or a dead server? The upstream checks. */
  | { type: 'call.connectionSuspect'; id: string; connection: UpstreamConnection }
  /** The server forgot the session the call was sent on. */
  | { type: 'call.sessionExpired'; id: string; connection: UpstreamConnection };
