/**
 * What every upstream is doing, as plain data: the same facts for the `proxy://status` resource, the status page
 * and anyone else. Built from the actor system's snapshots on demand; it holds no state of its own. Never a token,
 * code, secret or header value: only states, names, counts, error messages (which never hold secrets either), and
 * the time a token expires.
 */
import type { AnyActorRef } from 'xstate';
import type { SupervisorContext } from '../../machines/supervisor/index.js';
import { inFlightCount, type UpstreamContext } from '../../machines/upstream/index.js';
import type { WithheldTool } from '../catalog/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { VERSION } from '../version.js';
import { displayUrl } from './redact.js';
import { stateToString } from './transitions.js';

export interface UpstreamStatus {
  name: string;
  /** Without its query string (it may hold a key). */
  url: string;
  /** The statechart state, e.g. `waitingForClient`, `connected.ready.idle`, `reconnecting`. */
  state: string;
  /** The transport in use or being tried. */
  transport?: 'http' | 'sse';
  /** Exposed tool names (after filters, prefix and collisions). */
  tools: string[];
  /** The upstream's own names of the tools left out (include/ignore_tools, a `hidden` override, read_only). */
  filteredOut: string[];
  /** Why each filteredOut tool is left out: "filter", "hidden" or "read_only". */
  filteredOutReasons: Record<string, string>;
  /** Tools withheld by pinning, and what changed in each (accept with `mcp-upstream-proxy pins accept`). */
  withheldTools?: WithheldTool[];
  prompts: number;
  resources: number;
  resourceTemplates: number;
  lastError?: { code: string; message: string };
  /** Reconnect attempts since it was last ready. */
  reconnectAttempts: number;
  /** The user has to sign in (the link is on stderr and in the client's log). */
  waitingForSignIn: boolean;
  /** ISO time the access token expires, when there is one with a known lifetime. */
  tokenExpiresAt?: string;
  /** False when the authorization server gave no refresh token: a new sign-in is needed at `tokenExpiresAt`. */
  refreshable?: boolean;
  /** Requests forwarded and not answered yet. */
  inFlight: number;
}

export interface ProxyStatus {
  version: string;
  /** ISO time the status was taken. */
  time: string;
  upstreams: UpstreamStatus[];
}

/** What the status shows of an upstream's sign-in (an OAuth session has these; the status needs no more of it). */
export interface SignInFacts {
  /** When the access token expires (epoch ms), when its lifetime is known. */
  readonly tokenExpiresAt?: number;
  /** False when the authorization server gave no refresh token. */
  readonly refreshable?: boolean;
}

export interface StatusSources {
  /** The upstreams configured now (a reload of --config changes them). */
  upstreams(): readonly UpstreamConfig[];
  /** The supervisor, once the client has initialized. */
  supervisor(): AnyActorRef | undefined;
  sessions(): ReadonlyMap<string, SignInFacts>;
}

export function takeStatus({ upstreams, supervisor, sessions }: StatusSources): ProxyStatus {
  const system = supervisor()?.getSnapshot() as { context: SupervisorContext } | undefined;
  const catalog = system?.context.catalog;
  return {
    version: VERSION,
    time: new Date().toISOString(),
    upstreams: upstreams().map((config): UpstreamStatus => {
      const ref = system?.context.refs[config.name];
      const snapshot = ref?.getSnapshot();
      const context = snapshot?.context as UpstreamContext | undefined;
      // Every upstream has an actor from the start: its state is always one of the chart's.
      const state = snapshot ? stateToString(snapshot.value) : 'waitingForClient';
      const session = sessions().get(config.name);
      const expiresAt = session?.tokenExpiresAt;
      const refreshable = session?.refreshable;
      return {
        name: config.name,
        url: displayUrl(config.url),
        state,
        transport: context?.transport,
        tools:
          catalog?.tools.items.filter((tool) => tool.upstream === config.name).map((tool) => tool.exposedName) ?? [],
        filteredOut: catalog?.tools.filteredOut.get(config.name) ?? [],
        filteredOutReasons: { ...catalog?.tools.filteredOutReasons.get(config.name) },
        ...(context?.catalog.withheldTools?.length && { withheldTools: context.catalog.withheldTools }),
        prompts: context?.catalog.prompts.length ?? 0,
        resources: context?.catalog.resources.length ?? 0,
        resourceTemplates: context?.catalog.resourceTemplates.length ?? 0,
        ...(context?.lastError && { lastError: { code: context.lastError.code, message: context.lastError.message } }),
        reconnectAttempts: context?.attempt ?? 0,
        waitingForSignIn: state.startsWith('authorizing.waitingForUser') || state === 'needsSignIn',
        ...(expiresAt !== undefined && { tokenExpiresAt: new Date(expiresAt).toISOString() }),
        ...(refreshable !== undefined && { refreshable }),
        inFlight: ref ? inFlightCount(ref) : 0,
      };
    }),
  };
}
