/**
 * What the parts of the downstream server share for one client connection (see downstream.ts, which builds it): the
 * server the client talks to now, the era it opened the connection in, and the supervisor once it is there.
 */
import type { Server, ServerContext } from '@modelcontextprotocol/server';
import type { Actor } from 'xstate';
import type { supervisorMachine } from '../../machines/supervisor/index.js';
import type { Logger } from '../observe/log.js';
import type { RequestObserver } from '../observe/request-observer.js';
import type { Era } from '../tasks/routing.js';
import type { DownstreamClientBridge } from './client-bridge.js';

export type SupervisorActor = Actor<typeof supervisorMachine>;

export interface DownstreamSession {
  readonly logger: Logger;
  readonly bridge: DownstreamClientBridge;
  /** The last server built (`serveStdio` may build one per era the client tries); none before the first. */
  current(): Server | undefined;
  era(): Era;
  /**
   * The supervisor, once started: every handler waits for it (upstreams start only once the client initialized).
   * `ctx` is the request's, whose envelope a 2026-07-28 client declares its capabilities and log level in; none for
   * the requests the proxy makes on its own.
   */
  supervisorReady(ctx?: ServerContext): Promise<SupervisorActor>;
  /** Sees every forwarded request from its start to its outcome (telemetry), when one is configured. */
  readonly requests?: RequestObserver;
}
