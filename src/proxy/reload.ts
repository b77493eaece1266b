/**
 * Hot reload: a configuration loaded from the watched --config file, applied to the running proxy. Added upstreams
 * start, removed ones retire (their calls sent may finish), those whose connection settings changed get a new
 * actor and session, and the others keep theirs with their new filters, names and timeouts. A file that does not
 * load changes nothing, and the user is told why (stderr and the client's log).
 */
import type { UpstreamCatalog } from '../catalog/index.js';
import type { CatalogStore } from '../catalog/persisted.js';
import { type ProxyConfig, planReload, type ReloadPlan } from '../config/index.js';
import { ConfigError } from '../errors/index.js';
import type { Logger } from '../observe/log.js';
import { registerSecret } from '../observe/redact.js';
import type { SupervisorActor } from '../server/downstream-session.js';
import type { UpstreamActors } from '../upstream/actors.js';
import { catalogStoreFor, supervisedUpstream } from './supervised-upstream.js';

export interface ReloadableProxy {
  path: string;
  logger: Logger;
  supervisor: SupervisorActor;
  upstreams: UpstreamActors;
  /** One store per upstream when PROXY_CATALOG_CACHE is on (else none): kept current here. */
  catalogStores?: Map<string, CatalogStore>;
  /** The configuration running now; each reload applied replaces it. */
  config: ProxyConfig;
  /** The client's log: a user whose client hides stderr still learns why an edit was not applied. */
  tellClient(message: string): void;
}

export interface Reloader {
  apply(next: ProxyConfig): Promise<void>;
  reject(error: unknown): void;
}

export function createReloader(proxy: ReloadableProxy): Reloader {
  const { logger, path } = proxy;
  const noticed = new Set(proxy.config.notices);
  return {
    async apply(next) {
      for (const notice of next.notices.filter((line) => !noticed.has(line))) {
        noticed.add(notice);
        logger.warn(notice);
      }
      const plan = planReload(proxy.config.upstreams, next.upstreams);
      if (!plan.changed) {
        logger.debug(`config ${path}: saved with no change to the upstreams`);
        return;
      }
      const starting = [...plan.added, ...plan.restarted.map(({ upstream }) => upstream)];
      for (const upstream of starting) for (const value of Object.values(upstream.headers)) registerSecret(value);
      // Read before anything changes: the reload below is one synchronous step, with no request in between.
      const savedCatalogs = await readSavedCatalogs(proxy, next, plan);
      for (const name of plan.removed) {
        proxy.upstreams.forget(name);
        proxy.catalogStores?.delete(name);
      }
      for (const upstream of plan.restarted.map((changed) => changed.upstream)) {
        proxy.upstreams.configure(upstream);
        proxy.catalogStores?.set(upstream.name, catalogStoreFor(upstream, next, logger));
      }
      for (const upstream of plan.added) proxy.upstreams.configure(upstream);
      proxy.supervisor.send({
        type: 'config.reload',
        upstreams: next.upstreams.map((upstream) => supervisedUpstream(upstream, next)),
        restart: plan.restarted.map(({ upstream }) => upstream.name),
        savedCatalogs,
      });
      proxy.config = next;
      logger.info(`config ${path} reloaded: ${describePlan(plan)}`);
    },
    reject(error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message ?? String(error)];
      const message = `config ${path} not applied, the running configuration stays: ${problems.join('; ')}`;
      logger.warn(message);
      proxy.tellClient(message);
    },
  };
}

/** The catalogs saved for the upstreams a reload adds (their stores are made here). */
async function readSavedCatalogs(
  proxy: ReloadableProxy,
  next: ProxyConfig,
  plan: ReloadPlan,
): Promise<Record<string, UpstreamCatalog>> {
  const stores = proxy.catalogStores;
  if (!stores) return {};
  const read = await Promise.all(
    plan.added.map(async (upstream) => {
      const store = catalogStoreFor(upstream, next, proxy.logger);
      stores.set(upstream.name, store);
      return [upstream.name, await store.read()] as const;
    }),
  );
  return Object.fromEntries(read.filter((entry): entry is [string, UpstreamCatalog] => entry[1] !== undefined));
}

/** `added "b"; removed "c"; restarted "d" (url changed); updated "e" (include_tools changed)`. */
function describePlan(plan: ReloadPlan): string {
  const names = (list: readonly string[]) => list.map((name) => `"${name}"`).join(', ');
  const parts = [
    ...(plan.added.length > 0 ? [`added ${names(plan.added.map((upstream) => upstream.name))}`] : []),
    ...(plan.removed.length > 0 ? [`removed ${names(plan.removed)}`] : []),
    ...plan.restarted.map(({ upstream, changed }) => `restarted "${upstream.name}" (${changed.join(', ')} changed)`),
    ...plan.updated.map(({ upstream, changed }) => `updated "${upstream.name}" (${changed.join(', ')} changed)`),
  ];
  return parts.length > 0 ? parts.join('; ') : 'the upstreams are in a new order';
}
