export { buildCatalog, type Catalog, type CatalogKind, changedKinds, type UpstreamCatalogSource } from './catalog.js';
export { buildResourceRegistry, type ResourceRegistry, type UpstreamResourceSource } from './resources.js';
