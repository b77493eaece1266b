/**
 * Runs the proxy in this process, in front of real upstreams on 127.0.0.1, with a real SDK client connected to it
 * through an in-memory transport pair: the same code path as stdio, minus the child process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type ClientCapabilities, type ClientOptions } from '@modelcontextprotocol/client';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import {
  applyEnvClient,
  loadConfig,
  type ProxyConfig,
  readHttpProxySettings,
  readOAuthSettings,
  type UpstreamConfig,
} from '../../src/config/index.js';
import { createLogger } from '../../src/observe/log.js';
import type { Transition } from '../../src/observe/transitions.js';
import { type RunningProxy, startProxy } from '../../src/proxy.js';

export type TestUpstream = Partial<Omit<UpstreamConfig, 'url'>> & { name: string; url: URL | string };

export interface TestProxy {
  client: Client;
  proxy: RunningProxy;
  /** Every stderr line the proxy wrote (DEBUG on). */
  logs: string[];
  transitions: Transition[];
  /** Counts `notifications/tools/list_changed` received by the client. */
  listChanged: () => number;
  /** Resolves when the upstream is in a state (e.g. "connected.ready.idle", "reconnecting"), now or later. */
  waitForState(upstream: string, state: string | RegExp, timeoutMs?: number): Promise<Transition>;
  close(): Promise<void>;
}

export async function startTestProxy(
  upstreams: TestUpstream[],
  options: {
    startupTimeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** A trace file (as `--trace`). */
    trace?: string;
    /** The audit log (as `--audit FILE`, with `--audit-arguments`). */
    audit?: ProxyConfig['audit'];
    /** The status page and the Stately inspector feed (as `--inspect`). */
    inspect?: boolean;
    /** Persisted catalogs (PROXY_CATALOG_CACHE); off unless a test is about them. */
    catalogCache?: boolean;
    /** PROXY_TOOL_MODE: every tool listed (default), or the three search tools. */
    toolMode?: ProxyConfig['toolMode'];
    /** OpenTelemetry (OTEL_EXPORTER_OTLP_ENDPOINT or --otel); off unless a test is about it. */
    telemetry?: ProxyConfig['telemetry'];
    /** PROXY_MAX_TOOL_NAME (default 64). */
    maxToolName?: number;
    /** A --config file: the upstreams come from it (not from `upstreams`), and its edits are applied (hot reload). */
    configFile?: string;
    /** What the test's client declares, and its handlers (sampling, elicitation, roots), set before it connects. */
    client?: {
      capabilities?: ClientCapabilities;
      setup?: (client: Client) => void;
      /** The protocol versions the client offers (default: all the SDK knows). */
      supportedProtocolVersions?: string[];
      /** How the client negotiates its era: `{ mode: { pin: '2026-07-28' } }` makes a 2026-07-28 client. */
      versionNegotiation?: ClientOptions['versionNegotiation'];
    };
  } = {},
): Promise<TestProxy> {
  // Tokens never come from (or go to) the developer's own store.
  const tokenDir = await mkdtemp(join(tmpdir(), 'proxy-tokens-'));
  const env = { PROXY_TOKEN_DIR: tokenDir, BROWSER: 'none', ...options.env };
  const loadOptions = options.configFile === undefined ? undefined : { configPath: options.configFile, env };
  const loaded = loadOptions && (await loadConfig(loadOptions));
  const config: ProxyConfig = {
    upstreams:
      loaded?.upstreams ??
      upstreams.map((upstream) => {
        const resolved: UpstreamConfig = {
          transport: 'http-first',
          headers: {},
          timeoutMs: 60_000,
          maxCallMs: 1_800_000,
          allowHttp: false,
          ...upstream,
          url: new URL(upstream.url),
        };
        // As the loader does: PROXY_<NAME>_CLIENT_ID and _CLIENT_SECRET over the upstream's own oauth fields.
        applyEnvClient(resolved, env);
        return resolved;
      }),
    startupTimeoutMs: options.startupTimeoutMs ?? 30_000,
    debug: true,
    inspect: options.inspect ?? false,
    trace: options.trace,
    audit: options.audit,
    catalogCache: options.catalogCache ?? false,
    toolMode: options.toolMode ?? 'all',
    ...(options.maxToolName !== undefined && { maxToolName: options.maxToolName }),
    oauth: readOAuthSettings(env),
    // The proxy variables of the test run itself, as the proxy's own HTTP agent would see them.
    httpProxy: readHttpProxySettings(process.env),
    ...(options.telemetry && { telemetry: options.telemetry }),
    notices: [],
    source: 'env',
  };
  const logs: string[] = [];
  const transitions: Transition[] = [];
  const waiters = new Set<(transition: Transition) => void>();
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const proxy = await startProxy({
    config,
    logger: createLogger({ debug: true, write: (line) => logs.push(line) }),
    transport: serverTransport,
    reloadFrom: loadOptions,
    onTransition: (transition) => {
      transitions.push(transition);
      for (const waiter of waiters) waiter(transition);
    },
  });
  const client = new Client(
    { name: 'integration-test', version: '1.0.0' },
    {
      capabilities: options.client?.capabilities ?? {},
      ...(options.client?.supportedProtocolVersions && {
        supportedProtocolVersions: options.client.supportedProtocolVersions,
      }),
      ...(options.client?.versionNegotiation && { versionNegotiation: options.client.versionNegotiation }),
    },
  );
  options.client?.setup?.(client);
  let listChanged = 0;
  client.setNotificationHandler('notifications/tools/list_changed', () => {
    listChanged++;
  });
  await client.connect(clientTransport);

  const waitForState = (upstream: string, state: string | RegExp, timeoutMs = 10_000) =>
    new Promise<Transition>((resolve, reject) => {
      const matches = (transition: Transition) =>
        transition.machine === 'upstream' &&
        transition.actor === upstream &&
        (typeof state === 'string' ? transition.state === state : state.test(transition.state));
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`upstream "${upstream}" did not reach ${state} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (transition: Transition) => {
        if (!matches(transition)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(transition);
      };
      const current = [...transitions]
        .reverse()
        .find((transition) => transition.machine === 'upstream' && transition.actor === upstream);
      if (current && matches(current)) check(current);
      else waiters.add(check);
    });

  return {
    client,
    proxy,
    logs,
    transitions,
    listChanged: () => listChanged,
    waitForState,
    async close() {
      await client.close().catch(() => {});
      await proxy.stop();
      await rm(tokenDir, { recursive: true, force: true });
    },
  };
}

/** Polls until `predicate` holds; for effects that arrive as notifications. */
export async function eventually(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
