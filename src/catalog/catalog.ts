/**
 * What the proxy exposes, built from every upstream's lists: tools (filtered, named, collision-free), prompts
 * (named like tools: prefix, client-safe, collisions by config order; the tool filters do not apply) and
 * resources (under their own URIs). Pure, like the registries it is made of.
 */
import type { Prompt } from '@modelcontextprotocol/client';
import { buildNamedRegistry, buildToolRegistry, type NamedRegistry, type ToolRegistry } from '../tools/registry.js';
import type { ToolView } from '../tools/view.js';
import { narrowestCacheHint } from './cache-hints.js';
import { buildResourceRegistry, type ResourceRegistry } from './resources.js';
import type { CacheHint, CatalogList, UpstreamCatalog } from './types.js';

export interface UpstreamCatalogSource {
  upstream: string;
  toolPrefix?: string;
  /** The tool filter (include_tools / ignore_tools). */
  filter: (toolName: string) => boolean;
  /** Tool overrides, read_only and the name limit (tools only). */
  view?: ToolView;
  catalog: UpstreamCatalog;
}

export interface Catalog {
  readonly tools: ToolRegistry;
  readonly prompts: NamedRegistry<Prompt>;
  readonly resources: ResourceRegistry;
  /** Collisions and duplicates of every kind, for the caller to log. */
  readonly warnings: readonly string[];
  /**
   * Each list's cache hint: the narrowest of the upstreams that listed that kind; none when no upstream did (the
   * SDK's default then applies).
   */
  readonly cacheHints: Readonly<Record<CatalogList, Required<CacheHint> | undefined>>;
}

export type CatalogKind = 'tools' | 'prompts' | 'resources';

export function buildCatalog(sources: readonly UpstreamCatalogSource[]): Catalog {
  const tools = buildToolRegistry(
    sources.map(({ upstream, toolPrefix, filter, view, catalog }) => ({
      upstream,
      toolPrefix,
      filter,
      view,
      items: catalog.tools,
    })),
  );
  const prompts = buildNamedRegistry(
    sources.map(({ upstream, toolPrefix, catalog }) => ({
      upstream,
      toolPrefix,
      filter: () => true,
      items: catalog.prompts,
    })),
    'prompt',
  );
  const resources = buildResourceRegistry(
    sources.map(({ upstream, catalog }) => ({
      upstream,
      resources: catalog.resources,
      resourceTemplates: catalog.resourceTemplates,
    })),
  );
  return {
    tools,
    prompts,
    resources,
    warnings: [...tools.warnings, ...prompts.warnings, ...resources.warnings],
    cacheHints: {
      tools: combinedCacheHint(sources, 'tools'),
      resources: combinedCacheHint(sources, 'resources'),
      resourceTemplates: combinedCacheHint(sources, 'resourceTemplates'),
      prompts: combinedCacheHint(sources, 'prompts'),
    },
  };
}

/**
 * An upstream counts for a list if it listed that kind, or if it has items of it with no hint known (a saved
 * catalog keeps none): then it says nothing of their freshness, which is the default (0 ms, private).
 */
function combinedCacheHint(
  sources: readonly UpstreamCatalogSource[],
  list: CatalogList,
): Required<CacheHint> | undefined {
  const hints = sources.flatMap(({ catalog }) => {
    const hint = catalog.cacheHints?.[list];
    if (hint !== undefined) return [hint];
    return catalog[list].length > 0 ? [{}] : [];
  });
  return narrowestCacheHint(hints);
}

/** Which lists differ between two catalogs (relists often change nothing, and then the client hears nothing). */
export function changedKinds(before: Catalog, after: Catalog): CatalogKind[] {
  const changed: CatalogKind[] = [];
  if (!sameNamed(before.tools, after.tools)) changed.push('tools');
  if (!sameNamed(before.prompts, after.prompts)) changed.push('prompts');
  if (
    !sameList(before.resources.resources, after.resources.resources) ||
    !sameList(before.resources.resourceTemplates, after.resources.resourceTemplates)
  ) {
    changed.push('resources');
  }
  return changed;
}

function sameNamed<T extends { name: string }>(a: NamedRegistry<T>, b: NamedRegistry<T>): boolean {
  if (a.items.length !== b.items.length) return false;
  return a.items.every((item, i) => {
    const other = b.items[i]!;
    return (
      item.exposedName === other.exposedName &&
      item.upstream === other.upstream &&
      (item.definition === other.definition || JSON.stringify(item.definition) === JSON.stringify(other.definition))
    );
  });
}

function sameList(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i] || JSON.stringify(item) === JSON.stringify(b[i]));
}
