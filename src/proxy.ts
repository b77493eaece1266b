/**
 * Starting and stopping the actor system: the supervisor (with the real upstream actors) and the downstream
 * stdio server in front of it.
 */
import type { Transport } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { createActor, type InspectionEvent } from 'xstate';
import { supervisorMachine } from '../machines/supervisor/index.js';
import type { UpstreamContext } from '../machines/upstream/index.js';
import type { UpstreamCatalog } from './catalog/index.js';
import type { CatalogStore } from './catalog/persisted.js';
import { type LoadConfigOptions, type ProxyConfig, watchConfigFile } from './config/index.js';
import { closeSharedCallbackServer } from './oauth/callback.js';
import { openAuditLog } from './observe/audit.js';
import type { Logger } from './observe/log.js';
import type { ProxyMetrics } from './observe/metrics.js';
import { registerSecret } from './observe/redact.js';
import { composeRequestEndListeners } from './observe/request-end.js';
import type { StatelyBridge } from './observe/stately.js';
import { type ProxyStatus, takeStatus } from './observe/status.js';
import { openTraceLog } from './observe/trace.js';
import { logOtherTransitions, logUpstreamStates } from './observe/transition-log.js';
import { createInspector, type TransitionListener } from './observe/transitions.js';
import { createReloader } from './proxy/reload.js';
import { catalogStoreFor, supervisedUpstream } from './proxy/supervised-upstream.js';
import { createDownstream } from './server/downstream.js';
import type { SupervisorActor } from './server/downstream-session.js';
import { watchListenedUris } from './server/listen-subscriptions.js';
import { provideUpstreamMachine } from './upstream/actors.js';
import { closeHttpAgent, useHttpProxy } from './upstream/http.js';

/** Shutdown must finish within 2 s; ending upstream sessions gets most of it. */
const SESSION_END_BUDGET_MS = 1_500;

export interface RunningProxy {
  /** The actor system (upstreams open their sessions once the client has initialized). */
  supervisor(): SupervisorActor;
  /** What every upstream is doing now. */
  status(): ProxyStatus;
  /** Calls `listener` after every change of an upstream's state; returns the unsubscribe. */
  onStatusChange(listener: () => void): () => void;
  /** With `--inspect`: where the status page and the Stately inspector bridge are served. */
  watching?: { statusPage: string; inspector: string };
  /** Ends upstream sessions (DELETE for Streamable HTTP), stops every actor, closes the client transport. */
  stop(): Promise<void>;
}

export interface StartOptions {
  config: ProxyConfig;
  logger: Logger;
  transport: Transport;
  /** More transition listeners (the demo, tests); the stderr log of upstream states is always on. */
  onTransition?: TransitionListener;
  /** With --config: how the config was loaded, to load it again whenever the file changes (hot reload). */
  reloadFrom?: LoadConfigOptions & { configPath: string };
}

export async function startProxy({
  config,
  logger,
  transport,
  onTransition,
  reloadFrom,
}: StartOptions): Promise<RunningProxy> {
  const statusListeners = new Set<() => void>();
  const listeners: TransitionListener[] = [
    logUpstreamStates(logger),
    (transition) => {
      if (transition.machine === 'call') return;
      for (const listener of statusListeners) listener();
    },
  ];
  if (logger.debugEnabled) listeners.push(logOtherTransitions(logger));
  if (onTransition) listeners.push(onTransition);
  for (const upstream of config.upstreams) {
    for (const value of Object.values(upstream.headers)) registerSecret(value);
  }
  const trace = config.trace === undefined ? undefined : await openTraceLog(config.trace, logger);
  if (trace) listeners.push(trace.listener);
  // A file that cannot be opened is a startup error (the trace file, opened already, is closed again).
  const audit = config.audit && (await openAuditLog(config.audit, logger).catch(closeFirst(trace)));
  // With --inspect only: loaded and started here, so that off, nothing of it runs (nor is even imported).
  // With telemetry only: the OpenTelemetry packages are not even loaded otherwise.
  const telemetry = config.telemetry
    ? (await import('./observe/telemetry.js')).startTelemetry(config.telemetry)
    : undefined;
  if (telemetry) listeners.push(telemetry.onTransition);
  const stately: StatelyBridge | undefined = config.inspect
    ? await (await import('./observe/stately.js')).createStatelyBridge()
    : undefined;
  // `/metrics` is served on the --inspect server: counted only when it is on.
  const metrics: ProxyMetrics | undefined = config.inspect
    ? (await import('./observe/metrics.js')).createMetrics()
    : undefined;
  if (metrics) listeners.push(metrics.recordTransition);

  let stopping: Promise<void> | undefined;
  let initialized = false;
  // The upstreams open their sessions once the client has initialized: they must declare exactly its capabilities.
  const clientInitialized = () => {
    if (initialized || stopping) return;
    initialized = true;
    supervisor.send({ type: 'client.initialized' });
  };
  const downstream = createDownstream(
    logger,
    clientInitialized,
    { take: () => status(), onChange: (listener) => onStatusChange(listener) },
    {
      toolMode: config.toolMode,
      requests: telemetry?.requests,
      onRequestEnd: composeRequestEndListeners(audit?.listener, metrics?.recordRequest),
    },
  );

  useHttpProxy(config.httpProxy);
  const catalogStores = config.catalogCache
    ? new Map(config.upstreams.map((upstream) => [upstream.name, catalogStoreFor(upstream, config, logger)]))
    : undefined;
  const savedCatalogs = catalogStores ? await readCatalogs(catalogStores) : {};
  const upstreams = provideUpstreamMachine({
    upstreams: config.upstreams,
    oauth: config.oauth,
    logger,
    bridge: downstream.bridge,
    catalogStores,
  });
  const { sessions } = upstreams;
  const machine = supervisorMachine.provide({ actors: { upstream: upstreams.machine } });
  const supervisor: SupervisorActor = createActor(machine, {
    input: {
      startupTimeoutMs: config.startupTimeoutMs,
      savedCatalogs,
      upstreams: config.upstreams.map((upstream) => supervisedUpstream(upstream, config)),
    },
    inspect: composeObservers(createInspector(listeners), stately?.inspect),
    // XState's own log() output must never reach stdout.
    logger: (...args: unknown[]) => logger.debug(args.map(String).join(' ')),
  });
  // No actor error may kill the process: report it and keep serving what still works.
  supervisor.subscribe({ error: (error) => logger.error(`supervisor stopped: ${String(error)}`) });
  supervisor.start();
  downstream.attach(supervisor);

  // The configuration running now: a reload of --config replaces it, and keeps sessions and stores current.
  const reloadable = {
    path: reloadFrom?.configPath ?? '',
    logger,
    supervisor,
    upstreams,
    catalogStores,
    config,
    tellClient: (message: string) => downstream.bridge.log('mcp-upstream-proxy', { level: 'warning', data: message }),
  };
  const status = () =>
    takeStatus({
      upstreams: () => reloadable.config.upstreams,
      supervisor: () => supervisor,
      sessions: () => sessions,
    });
  const onStatusChange = (listener: () => void) => {
    statusListeners.add(listener);
    return () => statusListeners.delete(listener);
  };
  const page = stately
    ? await (await import('./observe/status-page.js')).startStatusPage({ status, onStatusChange, stately, metrics })
    : undefined;
  if (page) {
    logger.info(`status page: ${page.url}`);
    logger.info(
      `Stately inspector: ${page.inspectorUrl} (the inspector UI loads from stately.ai; the feed stays here)`,
    );
  }
  // Serves clients of either era (2025 initialize or 2026-07-28 per-request envelopes) on the one transport.
  const serving = serveStdio(({ era }) => downstream.createServer(era), {
    // The SDK serves a 2026-07-28 client's subscriptions/listen itself; the proxy only learns which URIs it names.
    // At shutdown the entry ends every stream: the upstream sessions end too, there is nothing to unsubscribe.
    transport: watchListenedUris(transport, (uris) => {
      if (!stopping) return downstream.listenTo(uris);
    }),
    onerror: (error) => logger.debug(`downstream: ${error.message}`),
  });
  const reloader = reloadFrom && createReloader(reloadable);
  const watcher =
    reloadFrom &&
    watchConfigFile({
      ...reloadFrom,
      onConfig: (next) => (stopping ? undefined : reloader?.apply(next)),
      onRejected: (error) => reloader?.reject(error),
    });
  await watcher?.ready;

  const stop = () => {
    stopping ??= (async () => {
      await watcher?.close();
      // Every upstream actor's session, a retiring one's (a reload removed or changed it) too.
      const connections = Object.values(supervisor.getSnapshot().children).flatMap((ref) => {
        const connection = (ref?.getSnapshot().context as UpstreamContext | undefined)?.connection;
        return connection ? [connection] : [];
      });
      await Promise.race([
        Promise.allSettled([
          ...connections.map((connection) => connection.close()),
          ...[...(catalogStores?.values() ?? [])].map((store) => store.flushed()),
        ]),
        new Promise((resolve) => setTimeout(resolve, SESSION_END_BUDGET_MS).unref()),
      ]);
      supervisor.stop();
      await Promise.all([serving.close().catch(() => {}), page?.close()]);
      for (const session of sessions.values()) session.close();
      await closeSharedCallbackServer();
      await Promise.all([trace?.close(), audit?.close()]);
      await telemetry?.shutdown();
      await closeHttpAgent();
    })();
    return stopping;
  };
  return {
    supervisor: () => supervisor,
    status,
    onStatusChange,
    ...(page && { watching: { statusPage: page.url, inspector: page.inspectorUrl } }),
    stop,
  };
}

/** The saved catalogs, read in parallel (a missing or stale one is simply not there). */
async function readCatalogs(stores: ReadonlyMap<string, CatalogStore>): Promise<Record<string, UpstreamCatalog>> {
  const entries = await Promise.all([...stores].map(async ([name, store]) => [name, await store.read()] as const));
  return Object.fromEntries(entries.filter((entry): entry is [string, UpstreamCatalog] => entry[1] !== undefined));
}

/** Closes what was opened before passing the error on. */
function closeFirst(opened: { close(): Promise<void> } | undefined): (error: unknown) => Promise<never> {
  return async (error) => {
    await opened?.close();
    throw error;
  };
}

type InspectionObserver = (event: InspectionEvent) => void;

/** Both XState inspection observers when there are two, else the one there is (no wrapper when inspect is off). */
function composeObservers(...observers: Array<InspectionObserver | undefined>): InspectionObserver | undefined {
  const present = observers.filter((observer) => observer !== undefined);
  if (present.length <= 1) return present[0];
  return (event) => {
    for (const observer of present) observer(event);
  };
}
