/** What one upstream lists: the data the machines carry and the catalog is built from. */
import type { Prompt, Resource, ResourceTemplateType as ResourceTemplate, Tool } from '@modelcontextprotocol/client';

/** Everything an upstream offers, listed in full (all pages) after each connect and on every list_changed. */
export interface UpstreamCatalog {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
  prompts: Prompt[];
  /**
   * How long each list may be cached, as the upstream said (2026-07-28 `ttlMs` / `cacheScope`, combined over its
   * pages). A kind that was listed has an entry (0 ms, private when the upstream gave no hint, as a 2025-era one).
   */
  cacheHints?: Partial<Record<CatalogList, CacheHint>>;
  /** Tools withheld by pinning (`pin_tools`): their definition changed since it was first seen (./pins.ts). */
  withheldTools?: WithheldTool[];
}

/** A tool pinning withholds, and which parts of its definition changed. */
export interface WithheldTool {
  name: string;
  changed: Array<'description' | 'inputSchema' | 'outputSchema'>;
}

export type CatalogList = 'tools' | 'resources' | 'resourceTemplates' | 'prompts';

/** A 2026-07-28 result's freshness: how long it may be reused, and by whom (`private`: this client only). */
export interface CacheHint {
  ttlMs?: number;
  cacheScope?: 'public' | 'private';
}

export const EMPTY_CATALOG: UpstreamCatalog = Object.freeze({
  tools: [],
  resources: [],
  resourceTemplates: [],
  prompts: [],
}) as UpstreamCatalog;
