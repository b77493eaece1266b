import type { FetchLike } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { inRequestScope, scopedFetch } from '../../src/upstream/request-scope.js';

/** A fetch that records what it was given and answers at once (the scope's binding is all that is tested). */
function recording() {
  const seen: Array<{ headers: Headers; signal?: AbortSignal | null }> = [];
  const fetchFn: FetchLike = async (_url, init) => {
    seen.push({ headers: new Headers(init?.headers), signal: init?.signal });
    return new Response('{}');
  };
  return { seen, fetch: scopedFetch(fetchFn) };
}

const url = 'http://127.0.0.1:1/mcp';

describe('request scope', () => {
  it('binds the first POST of a call to its end, and never sends its header upstream', async () => {
    const { seen, fetch } = recording();
    const ended = new AbortController();
    await inRequestScope(ended.signal, async (headers) => {
      await fetch(url, { method: 'POST', headers: new Headers({ ...headers, accept: 'application/json' }) });
      // A second POST with the same header (the SDK's retry after a 401) is not the call's own exchange.
      await fetch(url, { method: 'POST', headers: new Headers(headers) });
    });
    expect(seen.map(({ headers }) => [...headers.keys()])).toEqual([['accept'], []]);
    const [own, retry] = seen;
    expect(own?.signal?.aborted).toBe(false);
    expect(retry?.signal).toBeUndefined();
  });

  it('aborts the bound request when the call fails or is stopped', async () => {
    const { seen, fetch } = recording();
    const failing = inRequestScope(undefined, async (headers) => {
      await fetch(url, { method: 'POST', headers: new Headers(headers) });
      throw new Error('timed out');
    });
    await expect(failing).rejects.toThrow('timed out');
    expect(seen[0]?.signal?.aborted).toBe(true);

    const stopped = new AbortController();
    let bound: AbortSignal | null | undefined;
    const call = inRequestScope(stopped.signal, async (headers) => {
      await fetch(url, { method: 'POST', headers: new Headers(headers) });
      bound = seen[1]?.signal;
      stopped.abort(new Error('connection lost'));
    });
    await call;
    expect(bound?.aborted).toBe(true);
  });

  it('leaves alone what carries no header, and what comes after its call ended', async () => {
    const { seen, fetch } = recording();
    let late: Record<string, string> = {};
    await inRequestScope(undefined, async (headers) => {
      late = headers;
    });
    await fetch(url, { method: 'POST', headers: new Headers(late) });
    await fetch(url, { method: 'GET', headers: new Headers({ accept: 'text/event-stream' }) });
    expect(seen.map(({ signal }) => signal)).toEqual([undefined, undefined]);
    expect([...(seen[0]?.headers.keys() ?? [])]).toEqual([]);
  });
});
