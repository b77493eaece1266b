/** What the supervisor is given, what it holds, and the events it takes and emits. */
import type { LoggingLevel } from '@modelcontextprotocol/client';
import type { ActorRefFrom } from 'xstate';
import type { Catalog, CatalogKind, UpstreamCatalog, UpstreamCatalogSource } from '../../src/catalog/index.js';
import type { CallOutcome, ForwardedRequest, TransportMode } from '../types.js';
import type { UpstreamToSupervisorEvent, upstreamMachine } from '../upstream/index.js';

export interface SupervisedUpstream {
  name: string;
  transport: TransportMode;
  toolPrefix?: string;
  filter: (toolName: string) => boolean;
  /** Tool overrides, read_only and PROXY_MAX_TOOL_NAME. */
  view?: UpstreamCatalogSource['view'];
  timeoutMs: number;
  /** `max_call_ms`: a call that keeps sending progress still ends after this. */
  maxCallMs?: number;
}

/** The upstreams now configured, in order, and which of them must start anew. */
export interface Reload {
  upstreams: SupervisedUpstream[];
  /**
   * Upstreams whose connection settings changed (URL, transport, headers, OAuth, pinning): a new actor with a new
   * session replaces theirs. Every other kept upstream keeps its actor and session; its filters, names and
   * timeouts are simply the new ones.
   */
  restart: string[];
  /** Saved catalogs of added upstreams: exposed until they list, as at startup. */
  savedCatalogs?: Record<string, UpstreamCatalog>;
}

export interface SupervisorInput {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
  /**
   * Catalogs saved by an earlier session, by upstream: exposed until the live ones are listed, so the first lists
   * need not wait for these upstreams.
   */
  savedCatalogs?: Record<string, UpstreamCatalog>;
}

export type UpstreamRef = ActorRefFrom<typeof upstreamMachine>;

export interface SupervisorContext {
  upstreams: SupervisedUpstream[];
  startupTimeoutMs: number;
  refs: Record<string, UpstreamRef>;
  /** Last lists per upstream (kept while it reconnects, emptied when it fails). */
  catalogs: Record<string, UpstreamCatalog>;
  settled: Record<string, true>;
  /** What the client sees: tools, prompts and resources of every upstream, named and collision-free. */
  catalog: Catalog;
  /** List requests that arrived before startup settled. */
  pendingLists: Array<(catalog: Catalog) => void>;
  /** Requests for targets not known yet that arrived before startup settled (clients may use a cached list). */
  pendingRequests: RouteEvent[];
  /** Collision warnings already reported, so each is logged once. */
  reportedWarnings: string[];
  /** Set once the first list was answered: list changes before that are news to nobody. */
  started: boolean;
  /** The client has initialized: an upstream a reload adds connects at once. */
  initialized: boolean;
  /** The client's last `logging/setLevel`, for upstreams a reload adds. */
  logLevel?: LoggingLevel;
  /** Actors spawned per upstream so far: a changed upstream's new actor gets a new id (the old one may drain). */
  generations: Record<string, number>;
}

/** What a request is about, as the client named it. */
export type RequestTarget =
  | { kind: 'tool'; name: string }
  | { kind: 'prompt'; name: string }
  | { kind: 'resource'; uri: string }
  /**
   * A task request, for the upstream that owns the task (the downstream keeps the map from task to upstream: task
   * ids are the upstreams' own); `tasks/list` names each upstream in turn, with no task.
   */
  | { kind: 'task'; upstream: string; taskId?: string };

/** How a routed request ended; `upstream` names who answered (a task it created is that upstream's). */
export type RouteOutcome = (CallOutcome & { upstream?: string }) | { type: 'unknown-target'; target: RequestTarget };

/** A client request for the upstream that owns its target; `params` still hold the client's names. */
export type RouteEvent = {
  type: 'request.route';
  id: string;
  target: RequestTarget;
  request: Omit<ForwardedRequest, 'timeoutMs'>;
  reply: (outcome: RouteOutcome) => void;
};

export type SupervisorEvent =
  | { type: 'catalog.get'; reply: (catalog: Catalog) => void }
  /** The downstream client has initialized: the upstreams may open their sessions, and the startup wait begins. */
  | { type: 'client.initialized' }
  | RouteEvent
  | { type: 'logging.setLevel'; level: LoggingLevel }
  /** The configuration file changed: upstreams added, removed, changed (./reload.ts). */
  | ({ type: 'config.reload' } & Reload)
  | UpstreamToSupervisorEvent;

export type SupervisorEmitted =
  | { type: 'catalog.changed'; kinds: CatalogKind[] }
  | { type: 'warning'; message: string }
  | { type: 'sign-in.needed'; upstream: string; url: string; userCode?: string };
