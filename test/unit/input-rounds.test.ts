/**
 * Input rounds on their own: questions an upstream asks mid-request become steps the client answers on its retry;
 * a round ends with the upstream's outcome, or with every open question failed when the client cancels, never
 * retries, or leaves one unanswered.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ClientRequestHandler } from '../../machines/types.js';
import { InputRounds } from '../../src/server/input-rounds.js';

/** An upstream request the test drives: it asks what the test tells it to, then ends with its answers. */
function upstream() {
  let ask!: ClientRequestHandler;
  let signal!: AbortSignal;
  let finish!: (outcome: string) => void;
  const run = (onClientRequest: ClientRequestHandler, abort: AbortSignal) => {
    ask = onClientRequest;
    signal = abort;
    return new Promise<string>((resolve) => {
      finish = resolve;
    });
  };
  return {
    run,
    ask: (...args: Parameters<ClientRequestHandler>) => ask(...args),
    signal: () => signal,
    finish: (outcome: string) => finish(outcome),
  };
}

const open = () => new AbortController().signal;

afterEach(() => {
  vi.useRealTimers();
});

describe('input rounds', () => {
  it('turns each question into a step, passes the retry answer back, and ends with the outcome', async () => {
    const rounds = new InputRounds<string>();
    const up = upstream();
    const round = rounds.start(up.run);
    const answered = up.ask('elicitation/create', { message: 'name?' }, open());
    const step = await round.next(open());
    expect(step).toEqual({
      type: 'input',
      token: round.token,
      questions: [
        expect.objectContaining({
          key: 'input-1',
          request: { method: 'elicitation/create', params: { message: 'name?' } },
        }),
      ],
    });

    expect(rounds.resume(round.token)).toBe(round);
    round.answer({ 'input-1': { action: 'accept', content: { name: 'Ada' } } });
    await expect(answered).resolves.toEqual({ action: 'accept', content: { name: 'Ada' } });
    up.finish('hello Ada');
    await expect(round.next(open())).resolves.toEqual({ type: 'done', outcome: 'hello Ada' });
    // Over: its token names nothing any more.
    expect(() => rounds.resume(round.token)).toThrow(/requestState names no request in progress/);
  });

  it('fails a question the retry leaves unanswered', async () => {
    const up = upstream();
    const round = new InputRounds<string>().start(up.run);
    const answered = up.ask('roots/list', undefined, open());
    await round.next(open());
    round.answer({});
    await expect(answered).rejects.toThrow(/no answer to roots\/list/);
  });

  it('cancels the upstream request and fails its questions when the client cancels', async () => {
    const up = upstream();
    const round = new InputRounds<string>().start(up.run);
    const waiting = new AbortController();
    const step = round.next(waiting.signal);
    waiting.abort();
    await expect(step).rejects.toThrow(/cancelled by the client/);
    expect(up.signal().aborted).toBe(true);
  });

  it('gives up on a client that never retries', async () => {
    vi.useFakeTimers();
    const rounds = new InputRounds<string>();
    const up = upstream();
    const round = rounds.start(up.run);
    const answered = up.ask('sampling/createMessage', { maxTokens: 1 }, open());
    await round.next(open());
    vi.advanceTimersByTime(10 * 60_000);
    await expect(answered).rejects.toThrow(/did not answer in time/);
    expect(up.signal().aborted).toBe(true);
    expect(() => rounds.resume(round.token)).toThrow();
  });
});
