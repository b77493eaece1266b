/**
 * JSON with the keys of every object sorted: the same value gives the same text whatever its key order (tool pins
 * hash it; a reload compares configurations with it). Like JSON.stringify, a `toJSON` (a URL's) is what counts.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const json = value as { toJSON?: () => unknown };
    if (typeof json.toJSON === 'function') return canonicalJson(json.toJSON());
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
