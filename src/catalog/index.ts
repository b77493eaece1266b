export { buildCatalog, type Catalog, type CatalogKind, changedKinds, type UpstreamCatalogSource } from './catalog.js';
export { buildResourceRegistry, type ResourceRegistry, type UpstreamResourceSource } from './resources.js';
export { type CacheHint, type CatalogList, EMPTY_CATALOG, type UpstreamCatalog } from './types.js';
