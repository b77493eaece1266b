/**
 * Multi-round-trip requests for clients of the 2026-07-28 era. Such a client takes no requests of its own from a
 * server: a server that needs input while serving `tools/call`, `prompts/get` or `resources/read` answers
 * `input_required` with the requests embedded, and the client retries with the answers. The upstream, though, asks
 * in the middle of its request (a 2025-era server sends `elicitation/create` and waits). A round bridges the two:
 * the upstream request runs on across the client's retries; each question it asks ends the client's current
 * request with `input_required`, and the retry's answer goes back to the waiting upstream.
 */
import { randomUUID } from 'node:crypto';
import { ProtocolError, ProtocolErrorCode, type Result } from '@modelcontextprotocol/server';
import type { ClientRequestHandler } from '../../machines/types.js';

/** How long a round waits for the client's retry before the upstream's questions fail and its request is cancelled. */
const RETRY_TIMEOUT_MS = 10 * 60_000;

interface Question {
  key: string;
  request: { method: string; params?: Record<string, unknown> };
  answer: (result: Result) => void;
  fail: (error: Error) => void;
}

/** What the client's current request ends with: the upstream's outcome, or questions for the client. */
export type RoundStep<T> = { type: 'done'; outcome: T } | { type: 'input'; questions: Question[]; token: string };

export class InputRound<T> {
  /** The `requestState` the client echoes; random, so one round can't be guessed from another. */
  readonly token = randomUUID();
  /** Aborts the upstream request (the client cancelled, or never retried). */
  readonly abort = new AbortController();
  private readonly asked: Question[] = [];
  private readonly waiting = new Map<string, Question>();
  private wake: (() => void) | undefined;
  private outcome: { value: T } | undefined;
  private ended: Error | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private questions = 0;

  constructor(
    run: (onClientRequest: ClientRequestHandler, signal: AbortSignal) => Promise<T>,
    private readonly onEnd: (round: InputRound<T>) => void,
  ) {
    run(this.ask, this.abort.signal).then((value) => {
      this.outcome = { value };
      this.wake?.();
    });
  }

  /** The upstream asks: the question waits for the client's next retry. */
  private readonly ask: ClientRequestHandler = (method, params, signal) =>
    new Promise<Result>((answer, fail) => {
      const question: Question = {
        key: `input-${++this.questions}`,
        request: params === undefined ? { method } : { method, params },
        answer,
        fail,
      };
      signal.addEventListener('abort', () => fail(signal.reason as Error), { once: true });
      this.asked.push(question);
      this.wake?.();
    });

  /** The client's retry: its answers go to the questions that were waiting for them. */
  answer(responses: Record<string, unknown> | undefined): void {
    clearTimeout(this.expiry);
    for (const [key, question] of this.waiting) {
      const response = responses?.[key];
      if (response === undefined) {
        question.fail(new ProtocolError(ProtocolErrorCode.InvalidParams, `no answer to ${question.request.method}`));
      } else {
        question.answer(response as Result);
      }
    }
    this.waiting.clear();
  }

  /** Waits for the upstream's outcome or its next questions; `signal` is the client's current request. */
  async next(signal: AbortSignal): Promise<RoundStep<T>> {
    const cancel = () => {
      this.end(new ProtocolError(ProtocolErrorCode.InvalidRequest, 'cancelled by the client'));
      this.wake?.();
    };
    signal.addEventListener('abort', cancel, { once: true });
    try {
      while (!this.outcome && this.asked.length === 0 && !this.ended) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.wake = undefined;
      signal.removeEventListener('abort', cancel);
    }
    if (this.ended) throw this.ended;
    if (this.outcome) {
      this.end();
      return { type: 'done', outcome: this.outcome.value };
    }
    const questions = this.asked.splice(0);
    for (const question of questions) this.waiting.set(question.key, question);
    this.expiry = setTimeout(
      () => this.end(new ProtocolError(ProtocolErrorCode.InvalidRequest, 'the client did not answer in time')),
      RETRY_TIMEOUT_MS,
    );
    this.expiry.unref();
    return { type: 'input', questions, token: this.token };
  }

  /** Ends the round: questions still open fail (with `reason`) and the upstream request is cancelled. */
  private end(reason?: Error): void {
    clearTimeout(this.expiry);
    if (reason) {
      this.ended = reason;
      for (const question of [...this.waiting.values(), ...this.asked]) question.fail(reason);
      this.waiting.clear();
      this.asked.length = 0;
      this.abort.abort(reason);
    }
    this.onEnd(this);
  }
}

/** The rounds of one client connection, by token. */
export class InputRounds<T> {
  private readonly rounds = new Map<string, InputRound<T>>();

  start(run: (onClientRequest: ClientRequestHandler, signal: AbortSignal) => Promise<T>): InputRound<T> {
    const round = new InputRound(run, (ended) => this.rounds.delete(ended.token));
    this.rounds.set(round.token, round);
    return round;
  }

  /** The round a retry's `requestState` names; a token we never gave out, or one already over, is refused. */
  resume(token: string): InputRound<T> {
    const round = this.rounds.get(token);
    if (!round) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'requestState names no request in progress');
    }
    return round;
  }
}
