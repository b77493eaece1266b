/**
 * Cache hints (2026-07-28 `ttlMs` / `cacheScope`) of results the proxy builds from several upstream results: the
 * answer may be reused no longer, and no more widely, than the least cacheable of what it is made of.
 */
import { MAX_CACHE_TTL_MS } from '@modelcontextprotocol/client';
import type { CacheHint } from './types.js';

/** The fields a hint leaves out take the protocol's defaults (the SDK's too): not cacheable, this client only. */
const DEFAULT_TTL_MS = 0;

/**
 * The smallest TTL and the narrowest scope of `hints` (a missing field counts as its default); undefined when there
 * are none. The TTL is capped where clients cap it (24 h), so the answer says what a client will honour.
 */
export function narrowestCacheHint(hints: readonly CacheHint[]): Required<CacheHint> | undefined {
  if (hints.length === 0) return undefined;
  const ttlMs = Math.min(MAX_CACHE_TTL_MS, ...hints.map((hint) => hint.ttlMs ?? DEFAULT_TTL_MS));
  const cacheScope = hints.every((hint) => hint.cacheScope === 'public') ? 'public' : 'private';
  return { ttlMs, cacheScope };
}
