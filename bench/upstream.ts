import * as z from 'zod';
import { startSseUpstream, startStreamableHttpUpstream } from '../src/demo/upstreams.js';

/** Large enough for the biggest payload the bench asks for, small enough that no call can exhaust memory. */
const MAX_BLOB_BYTES = 16 * 2 ** 20;
// One string per size, built once: the upstream's cost of a payload should be sending it, not building it.
const blobs = new Map<number, string>();
function blob(bytes: number): string {
  let text = blobs.get(bytes);
  if (text === undefined) {
    text = 'x'.repeat(bytes);
    blobs.set(bytes, text);
  }
  return text;
}
const answerEcho = async ({ text }: { text: string }) => ({ content: [{ type: 'text' as const, text }] });
const answerBlob = async ({ bytes }: { bytes: number }) => ({
  content: [{ type: 'text' as const, text: blob(bytes) }],
});

const http = await startStreamableHttpUpstream({
  name: 'bench',
  tools: ['echo', 'blob'],
  registerTools: (server) => {
    server.registerTool(
      'echo',
      { description: 'Answers its text', inputSchema: z.object({ text: z.string() }) },
      answerEcho,
    );
    server.registerTool(
      'blob',
      {
        description: 'Answers that many bytes of text',
        inputSchema: z.object({ bytes: z.int().min(0).max(MAX_BLOB_BYTES) }),
      },
      answerBlob,
    );
  },
});

const sse = await startSseUpstream({
  name: 'bench-sse',
  tools: ['echo', 'blob'],
  registerTools: (server) => {
    server.registerTool('echo', { description: 'Answers its text', inputSchema: { text: z.string() } }, answerEcho);
    server.registerTool(
      'blob',
      { description: 'Answers that many bytes of text', inputSchema: { bytes: z.int().min(0).max(MAX_BLOB_BYTES) } },
      answerBlob,
    );
  },
});
const sseUrl = sse.url;

process.stdout.write(`${JSON.stringify({ url: http.url, sseUrl })}\n`);

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 2_000).unref();
  Promise.allSettled([http.close(), sse.close()]).finally(() => process.exit(0));
};
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
process.on('SIGTERM', close);
process.on('SIGINT', close);
