/**
 * The part of the protocol coverage that `@modelcontextprotocol/server-everything` cannot show, against our own
 * fixture upstream (an SDK server on 127.0.0.1, `test/fixtures/upstreams.ts`) instead:
 * - cancellation: server-everything's long-running tool ignores its abort signal and records nothing, so whether a
 *   cancellation reached it is not observable; the fixture's `slow` tool records every abort of its request signal;
 * - audio content: no server-everything tool answers with an audio block; the fixture's `image` tool does.
 *
 * Same body directly and through the proxy, over Streamable HTTP and legacy SSE, like the server-everything tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_PNG_BASE64, FIXTURE_WAV_BASE64, startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { openTestSession, type UpstreamUnderTest, VIAS, waitUntil } from '../helpers/session.js';

describe.each([
  { kind: 'streamable-http' as const, transport: 'http' as const },
  { kind: 'sse' as const, transport: 'sse' as const },
])('fixture upstream over $kind', ({ kind, transport }) => {
  let fixture: UpstreamFixture;
  let upstream: UpstreamUnderTest;

  beforeAll(async () => {
    fixture = await startUpstream({ kind });
    upstream = { url: fixture.url, transport };
  });
  afterAll(async () => {
    await fixture?.close();
  });

  describe.each(VIAS)('%s', (via) => {
    it('cancels a long call at the upstream when the client aborts it', async () => {
      const { client } = await openTestSession(via, upstream);
      const callsBefore = fixture.counters.callTool;
      const cancellationsBefore = fixture.cancellations.length;
      const abort = new AbortController();
      const outcome = client
        .callTool({ name: 'slow', arguments: { ms: 60_000 } }, { signal: abort.signal })
        .then((result) => ({ settled: 'resolved' as const, result }))
        .catch((error: unknown) => ({ settled: 'rejected' as const, error }));

      await waitUntil('the upstream to receive the call', () => fixture.counters.callTool > callsBefore);
      abort.abort(new Error('the user stopped it'));
      // The caller learns at once; the 60 s call never answers.
      expect(await outcome).toMatchObject({ settled: 'rejected' });
      await waitUntil('the upstream to see the cancellation', () => fixture.cancellations.length > cancellationsBefore);
      expect(fixture.cancellations.slice(cancellationsBefore)).toEqual(['slow']);
    });

    it('passes image and audio blocks through byte for byte', async () => {
      const { client } = await openTestSession(via, upstream);
      const result = await client.callTool({ name: 'image', arguments: {} });
      expect(result.content).toEqual([
        { type: 'image', data: FIXTURE_PNG_BASE64, mimeType: 'image/png' },
        { type: 'audio', data: FIXTURE_WAV_BASE64, mimeType: 'audio/wav' },
      ]);
    });
  });
});
