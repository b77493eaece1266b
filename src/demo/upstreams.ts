/**
 * Example upstream MCP servers for the demo and the benchmark, on 127.0.0.1 with a port the OS picks.
 *
 * - `startStreamableHttpUpstream`: a stateful Streamable HTTP server on `/mcp` (SDK v2), one session per
 *   `initialize`, with whatever tools `registerTools` puts on each session's server;
 * - `startWeatherUpstream`: the one above with `forecast` and `alerts`;
 * - `startNotesUpstream`: a legacy HTTP+SSE server (`GET /sse` + `POST /messages?sessionId=`, the v1 SDK's
 *   transport) with `add_note` and `list_notes`. It answers 405 to everything else, so a client that tries
 *   Streamable HTTP first falls back to SSE.
 *
 * Every answer is computed from the arguments alone (the notes from what was added): no network, no clock.
 * The servers use devDependencies (`@modelcontextprotocol/node`, `@modelcontextprotocol/sdk`): they are for
 * `npm run demo` and `npm run bench` in a checkout, not for the published proxy.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { McpServer as V1McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { McpServer } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { closeHttpServer, listenOnLoopback } from '../http/loopback-server.js';

export interface ExampleUpstream {
  name: string;
  /** The URL to give the proxy: `/mcp` for Streamable HTTP, `/sse` for the legacy transport. */
  url: string;
  transport: 'streamable-http' | 'sse';
  /** The tools every session serves, by their upstream name. */
  tools: readonly string[];
  /** Ends every session and the HTTP server. */
  close(): Promise<void>;
}

export interface StreamableHttpUpstreamOptions {
  name: string;
  /** The names of the tools `registerTools` registers. */
  tools: readonly string[];
  /** Called once per session, with that session's server. */
  registerTools: (server: McpServer) => void;
}

/** A stateful Streamable HTTP upstream on `http://127.0.0.1:<port>/mcp`. */
export async function startStreamableHttpUpstream({
  name,
  tools,
  registerTools,
}: StreamableHttpUpstreamOptions): Promise<ExampleUpstream> {
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const transport = sessions.get(sessionId);
      if (!transport) {
        res.writeHead(404).end();
        return;
      }
      await transport.handleRequest(req, res);
      return;
    }
    // No session yet: this must be an initialize; the transport rejects anything else.
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    const server = new McpServer({ name, version: '1.0.0' });
    registerTools(server);
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };

  return serveExample(handle, sessions, { name, transport: 'streamable-http', path: '/mcp', tools });
}

/** Made-up but stable weather: the same city always gets the same forecast. */
const KNOWN_FORECASTS: Record<string, { sky: string; high: number; low: number }> = {
  lisbon: { sky: 'sunny', high: 24, low: 16 },
  oslo: { sky: 'light snow', high: -2, low: -7 },
  paris: { sky: 'overcast', high: 15, low: 9 },
  tokyo: { sky: 'light rain', high: 19, low: 14 },
};
const SKIES = ['sunny', 'partly cloudy', 'overcast', 'light rain', 'windy'];

export function forecastFor(city: string): string {
  const key = city.trim().toLowerCase();
  let forecast = KNOWN_FORECASTS[key];
  if (!forecast) {
    let hash = 0;
    for (const char of key) hash = (hash * 31 + char.codePointAt(0)!) % 1_000_003;
    const high = 5 + (hash % 25);
    forecast = { sky: SKIES[hash % SKIES.length]!, high, low: high - 4 - (hash % 6) };
  }
  return `${city.trim()}: ${forecast.sky}, high ${forecast.high} °C, low ${forecast.low} °C`;
}

function registerWeatherTools(server: McpServer): void {
  server.registerTool(
    'forecast',
    {
      title: 'Forecast',
      description: "Tomorrow's forecast for a city",
      inputSchema: z.object({ city: z.string().min(1) }),
    },
    async ({ city }) => ({ content: [{ type: 'text', text: forecastFor(city) }] }),
  );
  server.registerTool(
    'alerts',
    {
      title: 'Weather alerts',
      description: 'Active weather alerts, optionally for one region',
      inputSchema: z.object({ region: z.string().optional() }),
    },
    async ({ region }) => ({
      content: [
        {
          type: 'text',
          text: region?.trim().toLowerCase() === 'north sea' ? 'Gale warning: North Sea, force 8' : 'No active alerts',
        },
      ],
    }),
  );
}

/** The demo's Streamable HTTP upstream: `forecast` {city} and `alerts` {region?}. */
export function startWeatherUpstream(name = 'weather'): Promise<ExampleUpstream> {
  return startStreamableHttpUpstream({ name, tools: ['forecast', 'alerts'], registerTools: registerWeatherTools });
}

/** The benchmark's upstream: one `echo` {text} tool that answers its argument, as cheaply as the SDK allows. */
export function startEchoUpstream(name = 'echo'): Promise<ExampleUpstream> {
  return startStreamableHttpUpstream({
    name,
    tools: ['echo'],
    registerTools: (server) => {
      server.registerTool(
        'echo',
        { description: 'Answers its text', inputSchema: z.object({ text: z.string() }) },
        async ({ text }) => ({ content: [{ type: 'text', text }] }),
      );
    },
  });
}

export interface SseUpstreamOptions {
  name: string;
  /** The names of the tools `registerTools` registers. */
  tools: readonly string[];
  /** Called once per session, with that session's server (the SDK v1 one: legacy SSE is 2025-era). */
  registerTools: (server: V1McpServer) => void;
}

/** A legacy HTTP+SSE upstream on `http://127.0.0.1:<port>/sse` (GET opens a session, POST /messages feeds it). */
export async function startSseUpstream({ name, tools, registerTools }: SseUpstreamOptions): Promise<ExampleUpstream> {
  const sessions = new Map<string, SSEServerTransport>();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/sse') {
      const transport = new SSEServerTransport('/messages', res);
      sessions.set(transport.sessionId, transport);
      transport.onclose = () => sessions.delete(transport.sessionId);
      const server = new V1McpServer({ name, version: '1.0.0' });
      registerTools(server);
      await server.connect(transport);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
      if (!transport) {
        res.writeHead(404).end('unknown session');
        return;
      }
      await transport.handlePostMessage(req, res);
      return;
    }
    // Streamable HTTP's POST to /sse lands here: 405 tells the client to use the legacy transport.
    res.writeHead(405, { allow: 'GET' }).end();
  };

  return serveExample(handle, sessions, { name, transport: 'sse', path: '/sse', tools });
}

/** The demo's legacy SSE upstream: `add_note` {title, text} and `list_notes`, notes shared by every session. */
export function startNotesUpstream(name = 'notes'): Promise<ExampleUpstream> {
  const notes: { title: string; text: string }[] = [{ title: 'Welcome', text: 'Notes live in memory.' }];
  return startSseUpstream({
    name,
    tools: ['add_note', 'list_notes'],
    registerTools: (server) => {
      server.registerTool(
        'add_note',
        {
          title: 'Add note',
          description: 'Saves a note and answers its number',
          inputSchema: { title: z.string().min(1), text: z.string() },
        },
        async ({ title, text }) => {
          notes.push({ title, text });
          return { content: [{ type: 'text', text: `Saved note #${notes.length}: ${title}` }] };
        },
      );
      server.registerTool(
        'list_notes',
        { title: 'List notes', description: 'Every saved note, oldest first' },
        async () => ({
          content: [
            { type: 'text', text: notes.map((note, index) => `#${index + 1} ${note.title}: ${note.text}`).join('\n') },
          ],
        }),
      );
    },
  });
}

/** Serves `handle` on 127.0.0.1 (a failed request is answered 500) and describes the upstream it makes. */
async function serveExample(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  sessions: Map<string, { close(): Promise<void> }>,
  { path, ...upstream }: Omit<ExampleUpstream, 'url' | 'close'> & { path: '/mcp' | '/sse' },
): Promise<ExampleUpstream> {
  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const port = await listenOnLoopback(http);
  return {
    ...upstream,
    url: `http://127.0.0.1:${port}${path}`,
    close: async () => {
      await Promise.allSettled([...sessions.values()].map((transport) => transport.close()));
      sessions.clear();
      await closeHttpServer(http);
    },
  };
}
