import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { collapseCompleteEventStream, eventsAsJson } from '../../src/http/complete-sse.js';

const response = '{"result":{"content":[]},"jsonrpc":"2.0","id":1}';
const progress = '{"method":"notifications/progress","params":{"progressToken":1,"progress":1},"jsonrpc":"2.0"}';

describe('eventsAsJson', () => {
  it.each([
    ['one message', `event: message\ndata: ${response}\n\n`, response],
    ['a message with no event type', `data: ${response}\n\n`, response],
    ['a priming event (an id, no data) is skipped', `id: 7\ndata:\n\nid: 8\ndata: ${response}\n\n`, response],
    ['one notification with no id (the SDK would hand it over and end the same)', `data: ${progress}\n\n`, progress],
    ['data on two lines joined as the SDK does', `data: {"id":1,\ndata: "result":{}}\n\n`, '{"id":1,\n"result":{}}'],
  ])('collapses %s', (_what, text, json) => {
    expect(eventsAsJson(text)).toBe(json);
  });

  it.each([
    ['another event type', `event: ping\ndata: {}\n\ndata: ${response}\n\n`],
    ['a retry field (the SDK keeps it for reconnects)', `retry: 1000\ndata: ${response}\n\n`],
    ['a resumable stream that ended without a response', `id: 1\ndata: ${progress}\n\n`],
    ['no events', ': a comment\n\n'],
    ['progress before the response (relayed one read at a time)', `data: ${progress}\n\ndata: ${response}\n\n`],
  ])('leaves %s to the SDK', (_what, text) => {
    expect(eventsAsJson(text)).toBeUndefined();
  });
});

describe('collapseCompleteEventStream', () => {
  async function text(stream: AsyncIterable<Buffer>): Promise<string> {
    let all = '';
    for await (const chunk of stream) all += chunk.toString();
    return all;
  }

  it('answers a stream that had ended on arrival as JSON', async () => {
    const body = Readable.from([Buffer.from(`data: ${response}\n\n`)], { objectMode: false });
    // Let the readable take in its data and end, as undici's body has by the time its request resolves.
    await new Promise((resolve) => setImmediate(resolve));
    expect(await collapseCompleteEventStream(body)).toEqual({ json: response });
  });

  it('passes a stream still open on as a stream, what was read first, and waits for the rest', async () => {
    const body = new PassThrough();
    body.write(`data: ${progress}\n\n`);
    const collapsed = await collapseCompleteEventStream(body);
    expect('stream' in collapsed).toBe(true);
    const read = text((collapsed as { stream: AsyncIterable<Buffer> }).stream);
    body.end(`data: ${response}\n\n`);
    expect(await read).toBe(`data: ${progress}\n\ndata: ${response}\n\n`);
  });

  it('passes an ended stream that is more than its messages on unchanged', async () => {
    const sent = `event: ping\ndata: {}\n\ndata: ${response}\n\n`;
    const body = Readable.from([Buffer.from(sent)], { objectMode: false });
    await new Promise((resolve) => setImmediate(resolve));
    const collapsed = await collapseCompleteEventStream(body);
    expect(await text((collapsed as { stream: AsyncIterable<Buffer> }).stream)).toBe(sent);
  });

  it('waits a moment for the end of a stream that has brought its response, then answers it as JSON', async () => {
    const body = new PassThrough();
    body.write(`data: ${response}\n\n`);
    setTimeout(() => body.end(), 1);
    expect(await collapseCompleteEventStream(body)).toEqual({ json: response });
  });

  it('reads a stream that stays open after its response as a stream (the SDK takes the response from it)', async () => {
    const body = new PassThrough();
    body.write(`data: ${response}\n\n`);
    const collapsed = await collapseCompleteEventStream(body);
    expect('stream' in collapsed).toBe(true);
    const read = text((collapsed as { stream: AsyncIterable<Buffer> }).stream);
    body.end();
    expect(await read).toBe(`data: ${response}\n\n`);
  });
});
