/** What an upstream actor is given, what it holds, and the events it takes and sends. */
import type { LoggingLevel } from '@modelcontextprotocol/client';
import type { ActorRef, ActorRefFrom, Snapshot } from 'xstate';
import type { UpstreamCatalog } from '../../src/catalog/index.js';
import type { UpstreamFailure } from '../../src/errors/index.js';
import type { CallToUpstreamEvent, callMachine } from '../call/index.js';
import type { CallOutcome, ForwardedRequest, TransportKind, TransportMode, UpstreamConnection } from '../types.js';
import type { InFlightCall, InFlightCalls } from './in-flight.js';

export interface UpstreamInput {
  name: string;
  transport: TransportMode;
  /** The supervisor; gets `upstream.*` events. Optional so the chart can be exercised alone. */
  parentRef?: SupervisorRef;
  /** Jitter source; tests fix it. */
  random?: () => number;
  /** The catalog saved by an earlier session: exposed (and its calls wait) until the live one is listed. */
  catalog?: UpstreamCatalog;
  /** Started by a reload after the client initialized: it connects at once instead of waiting for the client. */
  clientInitialized?: boolean;
  /** What the actor it replaces (a reload changed the upstream) knew of the client: kept for the new session. */
  subscriptions?: string[];
  logLevel?: LoggingLevel;
}

export type CallRef = ActorRefFrom<typeof callMachine>;

export interface UpstreamContext {
  name: string;
  mode: TransportMode;
  parentRef?: SupervisorRef;
  random: () => number;
  /** Reconnect attempts since the last time the upstream was ready (visible in status). */
  attempt: number;
  /** The transport being tried, or in use. */
  transport?: TransportKind;
  /** The transport that worked last: reconnects go straight to it instead of repeating the fallback. */
  workingTransport?: TransportKind;
  connection?: UpstreamConnection;
  /** The last lists, kept while reconnecting so tools, prompts and resources stay exposed and their calls wait. */
  catalog: UpstreamCatalog;
  /** URIs the client subscribed to here: a new session subscribes to them again. */
  subscriptions: string[];
  /** The client's last `logging/setLevel`: a new session gets it too. */
  logLevel?: LoggingLevel;
  lastError?: UpstreamFailure;
  /** Where the user signs in while the upstream waits for them. */
  signInUrl?: string;
  /** The device flow's code to enter at `signInUrl`. */
  signInUserCode?: string;
  /** The wider scope a 403 asked for, for the next sign-in. */
  stepUpScope?: string;
  /** Step-up sign-ins so far; bounded by MAX_STEP_UPS (./setup.ts). */
  stepUps: number;
  /**
   * A session the server forgot was replaced at once, and no session has been ready since: the next expiry waits
   * for the backoff, so a server that forgets every session is not re-initialized in a hot loop.
   */
  sessionRenewed: boolean;
  /** http-first / sse-first: why the first transport was refused, for the message when the other fails too. */
  firstTransportFailure?: UpstreamFailure;
  /** Calls forwarded on the ready path with no actor of their own (mutated in place: see ./in-flight.ts). */
  inFlight: InFlightCalls;
  /** Spawned after the client initialized (by a reload): `waitingForClient` is passed through. */
  clientInitialized: boolean;
  /** A reload removed or changed the upstream: what its calls are told that cannot finish here (see `retire`). */
  retirement?: Retirement;
}

/** Why and how an upstream actor ends: a reload took the upstream out of the configuration, or changed it. */
export interface Retirement {
  /** What a call still waiting, or still running at the end, is answered. */
  failure: UpstreamFailure;
  /** How long calls already sent may take to finish on the open session before they get `failure`. */
  drainMs: number;
}

export type UpstreamEvent =
  /** The downstream client has initialized: its capabilities are known, so sessions can be opened. */
  | { type: 'client.initialized' }
  | { type: 'request.forward'; id: string; request: ForwardedRequest; reply: (outcome: CallOutcome) => void }
  | { type: 'logging.setLevel'; level: LoggingLevel }
  | { type: 'connection.lost'; failure: UpstreamFailure }
  | { type: 'connection.catalogChanged' }
  | { type: 'connection.alive' }
  | { type: 'auth.refresh' }
  /**
   * The user must sign in at `url`; `browserOpened` when a browser was started for it (not BROWSER=none);
   * `userCode`, in the device flow (RFC 8628), the code to enter there.
   */
  | { type: 'auth.waiting'; url: string; browserOpened: boolean; userCode?: string }
  | { type: 'auth.signedIn' }
  | { type: 'auth.failed'; failure: UpstreamFailure }
  /** A call forwarded on the ready path failed: a call actor decides what that means. */
  | { type: 'inFlight.failed'; call: InFlightCall }
  /** A reload removed or changed the upstream: calls sent may finish, the others fail, then the actor ends. */
  | ({ type: 'upstream.retire' } & Retirement)
  /** While retiring: no call is left. */
  | { type: 'drain.done' }
  | CallToUpstreamEvent;

/** What an upstream tells its supervisor. */
export type UpstreamToSupervisorEvent =
  | { type: 'upstream.catalog'; name: string; catalog: UpstreamCatalog }
  | { type: 'upstream.settled'; name: string }
  | { type: 'upstream.failed'; name: string; failure: UpstreamFailure }
  /** A retired actor (`id`) has ended: its calls are answered and its session closed. */
  | { type: 'upstream.retired'; name: string; id: string }
  /** The user has to sign in at `url`, entering `userCode` if given (sent to the client as a log message too). */
  | { type: 'upstream.signIn'; name: string; url: string; userCode?: string };

/** The supervisor as an upstream sees it: what it can be told. */
export type SupervisorRef = ActorRef<Snapshot<unknown>, UpstreamToSupervisorEvent>;

/** What each I/O actor of the upstream is given: the upstream it works for. */
export interface ConnectInput {
  name: string;
}
