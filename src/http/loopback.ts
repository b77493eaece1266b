/**
 * What the proxy's own HTTP servers on 127.0.0.1 (the OAuth callback, the `--inspect` status page) answer to: only
 * requests addressed to them by a loopback name. Listening on loopback keeps other machines out, not web pages in
 * the user's browser:
 *
 * - a page on another site can reach `127.0.0.1:<port>` under its own name through DNS rebinding, which the `Host`
 *   header gives away (421, misdirected);
 * - a page on another site can send requests there directly, which the `Origin` header gives away (403).
 *
 * A leaf module: the servers of src/oauth and src/observe share it without importing each other.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost'];

/** Refuses (and answers) a request that is not addressed to us, and says why; `undefined` for one that is. */
export type LoopbackGuard = (request: IncomingMessage, response: ServerResponse) => string | undefined;

/** The guard for a server listening on 127.0.0.1:`port`. */
export function loopbackGuard(port: number): LoopbackGuard {
  const hosts = new Set(LOOPBACK_NAMES.map((name) => `${name}:${port}`));
  // A browser leaves out the scheme's default port, in Host and in Origin.
  if (port === 80) for (const name of LOOPBACK_NAMES) hosts.add(name);
  const origins = new Set([...hosts].map((host) => `http://${host}`));
  return (request, response) => {
    if (!hosts.has(request.headers.host?.toLowerCase() ?? '')) {
      return refuse(response, 421, 'misdirected request: not addressed to this loopback server');
    }
    // No Origin: a navigation, or a client that is not a browser. Any other origin, `null` included, is a web page.
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin.toLowerCase())) {
      return refuse(response, 403, 'forbidden: cross-site request');
    }
    return undefined;
  };
}

function refuse(response: ServerResponse, status: number, text: string): string {
  response.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(`${text}\n`);
  return text;
}
