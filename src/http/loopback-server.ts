/**
 * Starting and stopping a Node HTTP server on 127.0.0.1, for the demo's example upstreams and the test fixtures.
 * Node has no promise form of `listen()` that rejects when the port cannot be bound, and `close()` waits for
 * every keep-alive socket and open SSE stream, which the servers here always have.
 *
 * A leaf module: it imports nothing of the project.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1:`port` (0: a port the OS picks) and resolves the bound port; rejects if binding fails. */
export async function listenOnLoopback(server: Server, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  // `once` rejects on 'error' (EADDRINUSE …) and stops listening for it when 'listening' comes first.
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Stops listening and ends every open connection (keep-alive sockets, SSE streams) at once. */
export function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
