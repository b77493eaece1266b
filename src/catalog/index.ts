export { buildCatalog, type Catalog, type CatalogKind, changedKinds, type UpstreamCatalogSource } from './catalog.js';
export { acceptPins, PINS_FILE, type PinCheck, ToolPins } from './pins.js';
export { buildResourceRegistry, type ResourceRegistry, type UpstreamResourceSource } from './resources.js';
export { type CacheHint, type CatalogList, EMPTY_CATALOG, type UpstreamCatalog, type WithheldTool } from './types.js';
