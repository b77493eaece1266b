/**
 * The floor of any stdio bridge, as a bench subject: a stdio MCP server with no SDK and no upstream that answers
 * `echo` and `blob` itself, writing each answer as one prebuilt line. What the bench's SDK client spends on it is
 * what it spends on any stdio server; for large results that is most of a bridge's time (the SDK's stdio reader
 * joins every chunk of a line it has not finished into one buffer, copying it again per 64 KB read).
 */
import { createInterface } from 'node:readline';

const blobs = new Map<number, string>();
const blob = (bytes: number) => {
  let text = blobs.get(bytes);
  if (text === undefined) {
    text = 'x'.repeat(bytes);
    blobs.set(bytes, text);
  }
  return text;
};

const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
  { name: 'blob', inputSchema: { type: 'object', properties: { bytes: { type: 'integer' } } } },
];

function answer(message: { id?: unknown; method?: string; params?: Record<string, unknown> }): string | undefined {
  if (message.id === undefined) return undefined;
  const id = JSON.stringify(message.id);
  const { method, params = {} } = message;
  if (method === 'tools/call') {
    const args = (params.arguments ?? {}) as { text?: string; bytes?: number };
    const text = params.name === 'blob' ? blob(Number(args.bytes ?? 0)) : String(args.text ?? '');
    // The result's text spliced in as is: building it costs nothing per call (blob text is JSON-safe as it is).
    const quoted = params.name === 'blob' ? `"${text}"` : JSON.stringify(text);
    return `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":${quoted}}]}}`;
  }
  const result =
    method === 'initialize'
      ? {
          protocolVersion: params.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'floor', version: '1' },
        }
      : method === 'tools/list'
        ? { tools: TOOLS }
        : {};
  return JSON.stringify({ jsonrpc: '2.0', id: message.id, result });
}

createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
  const reply = answer(JSON.parse(line));
  if (reply !== undefined) process.stdout.write(`${reply}\n`);
});
