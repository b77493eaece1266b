/**
 * Where the OAuth callback listens: 127.0.0.1 only, on the preferred port or, when it is taken, on a free port of a
 * range tried in random order, so that two proxies started together do not race for the same fallback.
 */
import { createServer, type Server } from 'node:http';
import { OAuthCallbackListenError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';

export const LOOPBACK = '127.0.0.1';
export const DEFAULT_CALLBACK_PORT_RANGE: readonly [number, number] = [3000, 4000];

/**
 * A server listening on the preferred port, or a fallback of `range`, and its port. Rejects with an
 * OAuthCallbackListenError naming the port to free when none is free.
 */
export async function listenOnFreePort(
  preferred: number,
  range: readonly [number, number] = DEFAULT_CALLBACK_PORT_RANGE,
  logger?: Logger,
): Promise<{ server: Server; port: number }> {
  const [low, high] = range;
  if (!Number.isInteger(preferred) || preferred < 0 || preferred > 65535) {
    throw new RangeError(`OAuth callback port must be from 0 to 65535, got ${preferred}`);
  }
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
    throw new RangeError(`OAuth callback port range must be within 1-65535, got ${low}-${high}`);
  }
  const first = await listen(preferred);
  if (typeof first !== 'string') return { server: first, port: boundPort(first) };
  for (const port of shuffle(rangeOf(low, high).filter((port) => port !== preferred))) {
    const server = await listen(port);
    if (typeof server === 'string') continue;
    logger?.warn(`OAuth callback port ${preferred} is ${first}; using ${port} instead`);
    return { server, port };
  }
  throw new OAuthCallbackListenError(
    `OAuth callback port ${preferred} is ${first}, and no port from ${low} to ${high} is free: free port ${preferred} ` +
      'or set PROXY_OAUTH_CALLBACK_PORT to a free port',
  );
}

/** A server listening on 127.0.0.1:port, or why not when the port is unavailable; other failures reject. */
function listen(port: number): Promise<Server | 'in use' | 'not permitted'> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') resolve('in use');
      else if (error.code === 'EACCES') resolve('not permitted');
      else {
        reject(
          new OAuthCallbackListenError(`OAuth callback server cannot listen on ${LOOPBACK}:${port}: ${error.message}`, {
            cause: error,
          }),
        );
      }
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: LOOPBACK, port });
  });
}

function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('OAuth callback server has no TCP address');
  return address.port;
}

function rangeOf(low: number, high: number): number[] {
  return Array.from({ length: high - low + 1 }, (_, index) => low + index);
}

/** Fisher-Yates: two proxies started together should not race for the same fallback port. */
function shuffle<T>(items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}
