/**
 * The benchmark's upstream in a process of its own, as a remote server would be, on 127.0.0.1: a Streamable HTTP
 * server (the demo's, on `/mcp`) and a legacy HTTP+SSE one (the v1 SDK's transport, on `/sse`), each with the same
 * two tools: `echo` {text}, which answers its argument, and `blob` {bytes}, which answers that many bytes of text
 * (for the payload sizes). Prints both URLs as one JSON line on stdout, then serves until stdin closes or SIGTERM.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer as V1McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import * as z from 'zod';
import { startStreamableHttpUpstream } from '../src/demo/upstreams.js';

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

const sseSessions = new Map<string, SSEServerTransport>();
const handleSse = async (req: IncomingMessage, res: ServerResponse) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const transport = new SSEServerTransport('/messages', res);
    sseSessions.set(transport.sessionId, transport);
    transport.onclose = () => sseSessions.delete(transport.sessionId);
    const server = new V1McpServer({ name: 'bench-sse', version: '1.0.0' });
    server.registerTool('echo', { description: 'Answers its text', inputSchema: { text: z.string() } }, answerEcho);
    server.registerTool(
      'blob',
      { description: 'Answers that many bytes of text', inputSchema: { bytes: z.int().min(0).max(MAX_BLOB_BYTES) } },
      answerBlob,
    );
    await server.connect(transport);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/messages') {
    const transport = sseSessions.get(url.searchParams.get('sessionId') ?? '');
    if (!transport) {
      res.writeHead(404).end('unknown session');
      return;
    }
    await transport.handlePostMessage(req, res);
    return;
  }
  // A Streamable HTTP POST to /sse: 405 sends a client that tries it first to the legacy transport.
  res.writeHead(405, { allow: 'GET' }).end();
};
const sse = createServer((req, res) => {
  handleSse(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
await new Promise<void>((resolve) => sse.listen(0, '127.0.0.1', resolve));
const sseUrl = `http://127.0.0.1:${(sse.address() as AddressInfo).port}/sse`;

process.stdout.write(`${JSON.stringify({ url: http.url, sseUrl })}\n`);

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 2_000).unref();
  sse.closeAllConnections();
  Promise.allSettled([http.close(), new Promise((resolve) => sse.close(resolve))]).finally(() => process.exit(0));
};
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
process.on('SIGTERM', close);
process.on('SIGINT', close);
