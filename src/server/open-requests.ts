/**
 * The client's requests that have not been answered yet, as seen on the stdio wire: a request counts from the moment
 * its line is read until its response (result or error) has been written, or the client cancels it (a cancelled
 * request needs no answer). This is what lets the proxy keep serving after stdin ends, and answer what is left
 * when it has to stop.
 */
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';

/**
 * A 2026-07-28 `subscriptions/listen` request stays open for as long as the subscription does, and the SDK answers
 * it when the connection is torn down: waiting for it would hold every shutdown to the deadline.
 */
const ANSWERED_AT_TEARDOWN = new Set(['subscriptions/listen']);

export class OpenRequests {
  private readonly open = new Set<RequestId>();
  /** Ids the proxy answered itself while stopping: a late real answer would be a second response to one request. */
  private readonly answeredAtShutdown = new Set<RequestId>();
  private waiters: Array<() => void> = [];

  get size(): number {
    return this.open.size;
  }

  /** A message read from the client. */
  received(message: JSONRPCMessage): void {
    const id = requestIdOf(message);
    if (id !== undefined) {
      if (!ANSWERED_AT_TEARDOWN.has((message as { method: string }).method)) this.open.add(id);
    } else if ('method' in message && message.method === 'notifications/cancelled') {
      const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof requestId === 'string' || typeof requestId === 'number') this.settle(requestId);
    }
  }

  /** Whether `message` may still go to the client: not an answer to a request already answered at shutdown. */
  mayWrite(message: JSONRPCMessage): boolean {
    const id = responseIdOf(message);
    return id === undefined || !this.answeredAtShutdown.has(id);
  }

  /** `message` has been written (or could not be, which no retry would change). */
  written(message: JSONRPCMessage): void {
    const id = responseIdOf(message);
    if (id !== undefined) this.settle(id);
  }

  /** Every open id, now counted as answered by the caller (which must write the answer). */
  takeAll(): RequestId[] {
    const ids = [...this.open];
    for (const id of ids) this.answeredAtShutdown.add(id);
    this.open.clear();
    this.release();
    return ids;
  }

  /** Resolves once no request is open (at once when none is). */
  whenNoneOpen(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private settle(id: RequestId): void {
    if (this.open.delete(id) && this.open.size === 0) this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/*
 * Every message here is already a valid JSON-RPC message (parsed by the SDK's deserializeMessage, or built by the
 * SDK), so its keys say what it is. The SDK's isJSONRPC* guards validate it again with zod, on every message, which
 * costs more than the rest of the stdio path (a large tool result, parsed three times).
 */

/** The id of a request (a message with `method` and `id`), else undefined. */
export function requestIdOf(message: JSONRPCMessage): RequestId | undefined {
  return 'method' in message && 'id' in message ? (message.id as RequestId) : undefined;
}

/** The id of a response (a result or an error with an id), else undefined. */
export function responseIdOf(message: JSONRPCMessage): RequestId | undefined {
  if ('method' in message || !('id' in message)) return undefined;
  const id = (message as { id?: RequestId | null }).id;
  return id === null ? undefined : id;
}
