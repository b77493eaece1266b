/** An upstream as the supervisor takes it: its name and transport, and how its lists are exposed. */
import type { SupervisedUpstream } from '../../machines/supervisor/index.js';
import { CatalogStore } from '../catalog/persisted.js';
import type { ProxyConfig, UpstreamConfig } from '../config/index.js';
import type { Logger } from '../observe/log.js';
import { createToolFilter, createToolView } from '../tools/index.js';

export function supervisedUpstream(
  upstream: UpstreamConfig,
  config: Pick<ProxyConfig, 'maxToolName'>,
): SupervisedUpstream {
  return {
    name: upstream.name,
    transport: upstream.transport,
    toolPrefix: upstream.toolPrefix,
    timeoutMs: upstream.timeoutMs,
    maxCallMs: upstream.maxCallMs,
    filter: createToolFilter({ include: upstream.includeTools, ignore: upstream.ignoreTools }),
    view: createToolView({ overrides: upstream.tools, readOnly: upstream.readOnly, maxNameLength: config.maxToolName }),
  };
}

/** The store of an upstream's last catalog, beside its tokens (PROXY_CATALOG_CACHE). */
export function catalogStoreFor(upstream: UpstreamConfig, config: Pick<ProxyConfig, 'oauth'>, logger: Logger) {
  return new CatalogStore({ root: config.oauth.tokenRoot, upstream, onWarning: (message) => logger.warn(message) });
}
