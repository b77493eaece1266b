/**
 * A POST answered with an event stream that holds just its response (the usual answer to a quick call: one
 * `message` event with the response, then the end) is handed to the SDK as the JSON body it amounts to. The stream
 * is read until its first data; when that is a response, up to a few ms more for the end.
 *
 * Why: the SDK reads every event stream through web streams (a Response body, a TextDecoderStream, an
 * EventSourceParserStream), and on Node 20 building and ending those costs more per call than everything else the
 * proxy does for it (each stream is a transferable object; each ended TransformStream makes an Error with a stack).
 * Its JSON path reads the same messages, in the same order, with one parse.
 *
 * Only what means the same either way is collapsed: one `message` event with data (besides priming events with no
 * data), no `retry:` (the SDK keeps it for later reconnects), and, where the event has an id (a resumable stream),
 * a response (a stream that ended without one is resumed by the SDK). Notifications before the response (progress)
 * keep the SDK's event stream: it hands them over one read at a time, and the proxy relays them before the result
 * (handed over in one go, queued progress would be dropped as late). Anything else, and a stream that stays open,
 * goes to the SDK as it came, with what was read of it put back in front.
 */
import type { Readable } from 'node:stream';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** What was read of a body: all of it (`ended`), or the part that had arrived. */
interface BodyStart {
  chunks: Buffer[];
  ended: boolean;
}

/**
 * Takes what the body has buffered. undici parses a whole socket read before the request's promise continues, so
 * a short answer's data and its end are in by now; `end` is emitted a tick after the last read.
 */
async function readBuffered(body: Readable): Promise<BodyStart> {
  const chunks: Buffer[] = [];
  for (let chunk: Buffer | null = body.read(); chunk !== null; chunk = body.read()) chunks.push(chunk);
  await new Promise<void>((resolve) => process.nextTick(resolve));
  return { chunks, ended: body.readableEnded };
}

/** The JSON body the events amount to, or undefined when they mean more than their messages. */
export function eventsAsJson(text: string): string | undefined {
  const events: EventSourceMessage[] = [];
  let plain = true;
  const parser = createParser({
    onEvent: (event) => {
      if (event.event !== undefined && event.event !== 'message') plain = false;
      // The SDK skips events without data (a priming event that only carries an id).
      else if (event.data !== '') events.push(event);
    },
    onRetry: () => {
      plain = false;
    },
    onError: () => {
      plain = false;
    },
  });
  parser.feed(text);
  if (!plain || events.length !== 1) return undefined;
  const [only] = events as [EventSourceMessage];
  if (only.id !== undefined && !isResponse(only.data)) return undefined;
  return only.data;
}

function isResponse(data: string): boolean {
  try {
    const message = JSON.parse(data) as Record<string, unknown>;
    return 'id' in message && ('result' in message || 'error' in message);
  } catch {
    return false;
  }
}

/**
 * Requests answered by one response and nothing long-lived: the SDK serializes `method` first, so the head of the
 * body tells. Anything else (a listen stream, which stays open with no data for as long as nothing changes) keeps
 * the SDK's stream from the start.
 */
const ANSWERED_ONCE =
  /^\{"method":"(tools\/call|resources\/read|prompts\/get|completion\/complete|(tools|prompts|resources|resources\/templates)\/list)"/;

export function answeredOnce(body: unknown): boolean {
  return typeof body === 'string' && ANSWERED_ONCE.test(body.slice(0, 48));
}

export type CollapsedBody = { json: string } | { stream: AsyncIterable<Buffer> };

/**
 * How long a stream that has brought its response may take to end before it is read as a stream after all. A server
 * that writes the response and the end of its stream separately (most do) often lets them arrive in two reads.
 */
const RESPONSE_END_WAIT_MS = 5;

/**
 * Reads on until the body ends, or (`firstData`) until some data came, or `ms` pass first (no limit when
 * undefined); what it read meanwhile is kept.
 */
function readMore(body: Readable, { firstData, ms }: { firstData: boolean; ms?: number }): Promise<BodyStart> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      body.off('readable', onReadable).off('end', onEnd).off('error', onStop).off('close', onStop);
      resolve({ chunks, ended });
    };
    const onReadable = () => {
      for (let chunk: Buffer | null = body.read(); chunk !== null; chunk = body.read()) chunks.push(chunk);
      // The end, when it came in the same read, is known a tick later: no turn of the event loop to wait.
      if (firstData && chunks.length > 0) process.nextTick(() => finish(body.readableEnded));
    };
    const onEnd = () => finish(true);
    // An error stays with the stream: whoever reads it next gets it.
    const onStop = () => finish(false);
    const timer = ms === undefined ? undefined : setTimeout(() => finish(false), ms);
    body.on('readable', onReadable).once('end', onEnd).once('error', onStop).once('close', onStop);
  });
}

/** The body as JSON when it was a complete, plain event stream; else the whole stream, read part first. */
export async function collapseCompleteEventStream(body: Readable): Promise<CollapsedBody> {
  let { chunks, ended } = await readBuffered(body);
  // Headers first, events when the tool answers (the SDK's servers flush the headers at once): waiting for the first
  // data costs nothing, since nothing could be done with the stream before it came either.
  if (!ended && chunks.length === 0) ({ chunks, ended } = await readMore(body, { firstData: true }));
  if (!ended && chunks.length > 0) {
    // The response is in and the server ends the stream next (the spec says it should): worth a moment's wait.
    const only = eventsAsJson(Buffer.concat(chunks).toString('utf8'));
    if (only !== undefined && isResponse(only)) {
      const rest = await readMore(body, { firstData: false, ms: RESPONSE_END_WAIT_MS });
      // Nothing more came before the end: what was read is the answer, already decoded and parsed.
      if (rest.ended && rest.chunks.length === 0) return { json: only };
      chunks.push(...rest.chunks);
      ended = rest.ended;
    }
  }
  if (ended) {
    const json = eventsAsJson(Buffer.concat(chunks).toString('utf8'));
    if (json !== undefined) return { json };
  }
  return {
    stream: (async function* () {
      yield* chunks;
      yield* body as AsyncIterable<Buffer>;
    })(),
  };
}
