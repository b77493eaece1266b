/**
 * The calls an upstream actor forwarded on its ready path, without a call actor each.
 *
 * Spawning and stopping an actor per request was most of the proxy's cost per call (XState copies the parent's
 * children on every spawn and stop, so the cost grew with the calls in flight). A call that meets nothing but a
 * ready connection needs no statechart: it is sent at once and answered with what the upstream said. The call
 * statechart (../call/) is started only for what needs one, with the request already on its way:
 *  - the call failed (a session the server forgot, a refused connection, a wider scope, a network error): the
 *    chart decides what that means, exactly as for a call that had an actor from the start (`handOver`);
 *  - the upstream leaves `ready` while the call runs (the connection dropped, a refresh, a step-up): every call
 *    still running becomes a call actor that adopts its request (`takeAll`), so what the upstream tells its calls
 *    reaches these too.
 *
 * One registry per upstream actor, created with its context and mutated in place (never replaced): a copy per call
 * would cost what the actors did.
 */
import type { CallOutcome, ForwardedRequest, UpstreamConnection } from '../types.js';

export interface InFlightCall {
  id: string;
  request: ForwardedRequest;
  reply: (outcome: CallOutcome) => void;
  connection: UpstreamConnection;
  /** The upstream's answer, as `connection.request` gives it (it never rejects, but a call actor would cope). */
  pending: Promise<CallOutcome>;
}

export class InFlightCalls {
  readonly #calls = new Map<string, InFlightCall>();

  /** Calls forwarded on the ready path and not answered yet. */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * Sends the request on `connection`. A result or a JSON-RPC error is the reply; a failure goes to `handOver`
   * (which starts a call actor on `pending`). Nothing happens when the call was taken by `takeAll` meanwhile.
   */
  forward(call: Omit<InFlightCall, 'pending'>, handOver: (call: InFlightCall) => void): void {
    // No abort signal of its own: such a call ends with its connection (closed on every way out of `ready`, and at
    // shutdown), or is taken by a call actor first.
    const pending = call.connection.request(call.request);
    const entry: InFlightCall = { ...call, pending };
    this.#calls.set(call.id, entry);
    const settle = (outcome?: CallOutcome) => {
      if (this.#calls.get(call.id) !== entry) return;
      this.#calls.delete(call.id);
      // A failure, or a rejection (which request() never gives): the call actor reads `pending` for itself.
      if (outcome === undefined || outcome.type === 'failure') handOver(entry);
      else entry.reply(outcome);
    };
    pending.then(settle, () => settle());
  }

  /** Every call still running, removed from here: each becomes a call actor. */
  takeAll(): InFlightCall[] {
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    return calls;
  }
}
