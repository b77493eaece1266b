/**
 * The status page (`--inspect`): a small HTTP server on 127.0.0.1 (a free port) that serves
 *
 * - `/`: what every upstream is doing (the facts of `proxy://status`) with its statechart, the current state
 *   marked, redrawn live;
 * - `/status.json`: the status now;
 * - `/events`: server-sent events, the status (and each upstream's chart) after every change;
 * - `/inspector`: the page that relays the Stately inspector feed to the Stately inspector UI;
 * - `/inspector/events`: that feed, server-sent events in the inspector's format (see stately.ts);
 * - `/metrics`: Prometheus metrics in the text format (see metrics.ts).
 *
 * Only requests addressed to the loopback name it listens on and from no other site are served (src/http/loopback.ts:
 * a web page can't read it through DNS rebinding or send it requests), nothing is sent with CORS headers, and pages
 * run only their own inline script (CSP nonce).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { upstreamMachine } from '../../machines/upstream/index.js';
import { loopbackGuard } from '../http/loopback.js';
import { METRICS_CONTENT_TYPE, type ProxyMetrics } from './metrics.js';
import { renderStatechartHtml } from './statechart-html.js';
import type { StatelyBridge } from './stately.js';
import type { ProxyStatus } from './status.js';
import { inspectorBridgeHtml, statusPageHtml } from './status-page-html.js';

/** Where the bridge page loads the Stately inspector UI from (the default of `@statelyai/inspect`). */
export const STATELY_INSPECTOR_UI = 'https://stately.ai/inspect';

export interface StatusPageOptions {
  status(): ProxyStatus;
  onStatusChange(listener: () => void): () => void;
  stately: StatelyBridge;
  /** Served at `/metrics`; none: 404 there. */
  metrics?: ProxyMetrics;
  /** Default 0: a free port. */
  port?: number;
}

export interface StatusPage {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** `http://127.0.0.1:<port>/inspector` */
  inspectorUrl: string;
  /** Ends every event stream and closes the server. */
  close(): Promise<void>;
}

/** What `/events` sends: the status and, per upstream, its statechart with the current state marked. */
export interface StatusEvent {
  status: ProxyStatus;
  charts: Record<string, string>;
}

const HOST = '127.0.0.1';

/** The statechart of an upstream in a state, rendered once per state. */
const charts = new Map<string, string>();
function chartFor(state: string): string {
  let html = charts.get(state);
  if (html === undefined) {
    // `starting` is the status before the actor exists: nothing is active yet.
    html = renderStatechartHtml(upstreamMachine, state === 'starting' ? [] : [state]);
    charts.set(state, html);
  }
  return html;
}

export function statusEvent(status: ProxyStatus): StatusEvent {
  return {
    status,
    charts: Object.fromEntries(status.upstreams.map((upstream) => [upstream.name, chartFor(upstream.state)])),
  };
}

function send(response: ServerResponse, status: number, type: string, body: string, headers = {}): void {
  response.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  response.end(body);
}

function openStream(response: ServerResponse): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    connection: 'keep-alive',
  });
  response.flushHeaders();
}

/** A follower this far behind (a tab in the background, say) is cut off; its EventSource reconnects and catches up. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Server-sent events to one follower, written once per turn of the event loop: a call makes a dozen inspector
 * events, and one socket write each would cost more than making them.
 */
function eventWriter(response: ServerResponse): (data: unknown) => void {
  let pending = '';
  const flush = () => {
    const chunk = pending;
    pending = '';
    if (response.writableEnded) return;
    if (response.writableLength > MAX_BUFFERED_BYTES) response.end();
    else response.write(chunk);
  };
  return (data) => {
    if (pending === '') setImmediate(flush);
    // JSON has no raw newline, so one `data:` line.
    pending += `data: ${JSON.stringify(data)}\n\n`;
  };
}

export async function startStatusPage({
  status,
  onStatusChange,
  stately,
  metrics,
  port = 0,
}: StatusPageOptions): Promise<StatusPage> {
  const streams = new Set<ServerResponse>();
  const statusStreams = new Map<ServerResponse, (data: unknown) => void>();
  let lastSent = '';
  let scheduled = false;

  // Transitions come in bursts (and the supervisor's catalog follows an upstream's transition a moment later):
  // one status per turn of the event loop, and only when something besides the time changed.
  const flush = () => {
    scheduled = false;
    if (statusStreams.size === 0) return;
    const event = statusEvent(status());
    const key = JSON.stringify(event.status.upstreams);
    if (key === lastSent) return;
    lastSent = key;
    for (const write of statusStreams.values()) write(event);
  };
  const unsubscribe = onStatusChange(() => {
    if (scheduled || statusStreams.size === 0) return;
    scheduled = true;
    setImmediate(flush);
  });

  const follow = (request: IncomingMessage, response: ServerResponse, stop: () => void) => {
    streams.add(response);
    request.on('close', () => {
      stop();
      streams.delete(response);
    });
  };

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return send(response, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    }
    const path = new URL(request.url ?? '/', `http://${HOST}`).pathname;
    const nonce = randomBytes(16).toString('base64');
    switch (path) {
      case '/':
        return send(response, 200, 'text/html; charset=utf-8', statusPageHtml(nonce), {
          'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; frame-ancestors 'none'`,
        });
      case '/status.json':
        return send(response, 200, 'application/json', `${JSON.stringify(status(), null, 2)}\n`);
      case '/events': {
        openStream(response);
        // The newcomer gets the status now; `lastSent` stays what the others got, so none of them misses a change.
        const write = eventWriter(response);
        write(statusEvent(status()));
        statusStreams.set(response, write);
        return follow(request, response, () => statusStreams.delete(response));
      }
      case '/inspector':
        return send(response, 200, 'text/html; charset=utf-8', inspectorBridgeHtml(nonce, STATELY_INSPECTOR_UI), {
          'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; frame-src ${new URL(STATELY_INSPECTOR_UI).origin}; frame-ancestors 'none'`,
        });
      case '/metrics':
        if (!metrics) return send(response, 404, 'text/plain', 'not found\n');
        return send(response, 200, METRICS_CONTENT_TYPE, metrics.render(status()));
      case '/inspector/events': {
        openStream(response);
        return follow(request, response, stately.follow(eventWriter(response)));
      }
      default:
        return send(response, 404, 'text/plain', 'not found\n');
    }
  };

  const server = createServer();
  server.listen(port, HOST);
  await once(server, 'listening');
  const { port: bound } = server.address() as AddressInfo;
  // Requests are taken once the port, which the guard checks, is known (none is read before this turn ends).
  const refuseForeign = loopbackGuard(bound);
  server.on('request', (request, response) => {
    if (refuseForeign(request, response) === undefined) handle(request, response);
  });
  const url = `http://${HOST}:${bound}/`;
  return {
    url,
    inspectorUrl: `${url}inspector`,
    async close() {
      unsubscribe();
      for (const response of streams) response.end();
      streams.clear();
      statusStreams.clear();
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
