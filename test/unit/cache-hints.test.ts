/** Combining cache hints: the smallest TTL, the narrowest scope, a missing field as the protocol's default. */
import { MAX_CACHE_TTL_MS } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { narrowestCacheHint } from '../../src/catalog/cache-hints.js';
import { buildCatalog, EMPTY_CATALOG, type UpstreamCatalog } from '../../src/catalog/index.js';

describe('narrowestCacheHint', () => {
  it('takes the smallest TTL and is public only when every hint is', () => {
    expect(
      narrowestCacheHint([
        { ttlMs: 60_000, cacheScope: 'public' },
        { ttlMs: 30_000, cacheScope: 'public' },
      ]),
    ).toEqual({ ttlMs: 30_000, cacheScope: 'public' });
    expect(
      narrowestCacheHint([
        { ttlMs: 10_000, cacheScope: 'public' },
        { ttlMs: 30_000, cacheScope: 'private' },
      ]),
    ).toEqual({ ttlMs: 10_000, cacheScope: 'private' });
  });

  it('counts a missing field as its default (0 ms, private), caps the TTL as clients do, and has none of nothing', () => {
    expect(narrowestCacheHint([{ ttlMs: 60_000, cacheScope: 'public' }, {}])).toEqual({
      ttlMs: 0,
      cacheScope: 'private',
    });
    expect(narrowestCacheHint([{ ttlMs: MAX_CACHE_TTL_MS * 2, cacheScope: 'public' }])).toEqual({
      ttlMs: MAX_CACHE_TTL_MS,
      cacheScope: 'public',
    });
    expect(narrowestCacheHint([])).toBeUndefined();
  });
});

describe('the catalog’s cache hints', () => {
  const source = (upstream: string, catalog: Partial<UpstreamCatalog>) => ({
    upstream,
    filter: () => true,
    catalog: { ...EMPTY_CATALOG, ...catalog },
  });
  const tool = (name: string) => ({ name, inputSchema: { type: 'object' as const } });

  it('combines the upstreams that listed a kind; one with items but no hint known (a saved catalog) counts as 0 ms', () => {
    const catalog = buildCatalog([
      source('a', { tools: [tool('x')], cacheHints: { tools: { ttlMs: 9_000, cacheScope: 'public' } } }),
      source('b', { tools: [], cacheHints: { tools: { ttlMs: 4_000, cacheScope: 'public' } } }),
      source('saved', { prompts: [{ name: 'p' }] }),
    ]);
    expect(catalog.cacheHints.tools).toEqual({ ttlMs: 4_000, cacheScope: 'public' });
    expect(catalog.cacheHints.prompts).toEqual({ ttlMs: 0, cacheScope: 'private' });
    expect(catalog.cacheHints.resources).toBeUndefined();
  });
});
