import type { Tool } from '@modelcontextprotocol/client';
import { toClientSafeName } from './naming.js';

/** Anything an upstream lists by name: tools, and prompts (which follow the same naming rules). */
interface Named {
  name: string;
}

export interface UpstreamNamedSource<T extends Named> {
  /** Upstream name from config. */
  upstream: string;
  /** Prepended verbatim to every name, e.g. "jira_". */
  toolPrefix?: string;
  /** Decides on the upstream's own name, before prefixing. */
  filter: (name: string) => boolean;
  /** As listed by the upstream, in its order; empty while the upstream is not ready. */
  items: readonly T[];
}

export interface Exposed<T extends Named> {
  /** What the client sees and calls. */
  exposedName: string;
  upstream: string;
  /** What the upstream must receive. */
  originalName: string;
  /** The upstream definition, unchanged except `name` = exposedName (the very same object when equal). */
  definition: T;
}

export interface NamedRegistry<T extends Named> {
  /** Config order, then each upstream's order. */
  readonly items: readonly Exposed<T>[];
  readonly byName: ReadonlyMap<string, Exposed<T>>;
  /** Upstream -> original names removed by its filter; every source has an entry, possibly empty. */
  readonly filteredOut: ReadonlyMap<string, string[]>;
  /** Collisions and duplicates, for the caller to log. */
  readonly warnings: readonly string[];
}

export type UpstreamToolSource = UpstreamNamedSource<Tool>;
export type ExposedTool = Exposed<Tool>;
export type ToolRegistry = NamedRegistry<Tool>;

interface Candidate<T extends Named> {
  source: UpstreamNamedSource<T>;
  tool: T;
  baseName: string;
  exposedName: string;
}

/** The exposed tools, from every upstream's tool list. */
export function buildToolRegistry(sources: readonly UpstreamToolSource[]): ToolRegistry {
  return buildNamedRegistry(sources, 'tool');
}

/**
 * Builds the set of exposed tools (or prompts: `kind` names them in warnings) from every upstream's list. Sources
 * come in config order and that order alone settles collisions: an item keeps its base name (prefix + name, made
 * client-safe) unless an earlier one has the same. Renamed items are placed in a second pass so a fallback name
 * never takes the base name of one listed later. Pure: the input is never mutated, and the result depends only
 * on the input.
 */
export function buildNamedRegistry<T extends Named>(
  sources: readonly UpstreamNamedSource<T>[],
  kind: 'tool' | 'prompt',
): NamedRegistry<T> {
  const warnings: string[] = [];
  const filteredOut = new Map<string, string[]>();
  const candidates: Candidate<T>[] = [];

  for (const source of sources) {
    const removed: string[] = [];
    const seen = new Set<string>();
    for (const tool of source.items) {
      if (seen.has(tool.name)) {
        warnings.push(`upstream "${source.upstream}" lists ${kind} "${tool.name}" more than once; the first is kept`);
        continue;
      }
      seen.add(tool.name);
      if (!source.filter(tool.name)) {
        removed.push(tool.name);
        continue;
      }
      const baseName = toClientSafeName((source.toolPrefix ?? '') + tool.name);
      candidates.push({ source, tool, baseName, exposedName: '' });
    }
    filteredOut.set(source.upstream, removed);
  }

  // Pass 1: the first tool with a base name owns it.
  const owners = new Map<string, Candidate<T>>();
  const renamed: Candidate<T>[] = [];
  for (const candidate of candidates) {
    if (owners.has(candidate.baseName)) {
      renamed.push(candidate);
    } else {
      owners.set(candidate.baseName, candidate);
      candidate.exposedName = candidate.baseName;
    }
  }

  // Pass 2: the others get `${upstream}_${name}` (or, within one upstream, their base name), made unique.
  for (const candidate of renamed) {
    const { source, tool, baseName } = candidate;
    const owner = owners.get(baseName)!;
    const sameUpstream = owner.source === source;
    const start = sameUpstream ? baseName : toClientSafeName(`${source.upstream}_${tool.name}`);
    candidate.exposedName = firstFreeName(start, owners);
    owners.set(candidate.exposedName, candidate);
    const other = sameUpstream
      ? `${kind} "${owner.tool.name}" of the same upstream`
      : `upstream "${owner.source.upstream}"`;
    warnings.push(
      `${kind} "${tool.name}" of upstream "${source.upstream}" collides with ${other}; exposed as "${candidate.exposedName}"`,
    );
  }

  const items = candidates.map(toExposedTool);
  const byName = new Map<string, Exposed<T>>();
  for (const exposed of items) byName.set(exposed.exposedName, exposed);
  return { items, byName, filteredOut, warnings };
}

function firstFreeName(start: string, taken: ReadonlyMap<string, unknown>): string {
  if (!taken.has(start)) return start;
  for (let n = 2; ; n++) {
    // toClientSafeName keeps the suffixed name within the length limit (a long one is re-hashed, still unique).
    const name = toClientSafeName(`${start}_${n}`);
    if (!taken.has(name)) return name;
  }
}

function toExposedTool<T extends Named>({ source, tool, exposedName }: Candidate<T>): Exposed<T> {
  return {
    exposedName,
    upstream: source.upstream,
    originalName: tool.name,
    // Shallow copy only when the name changes: this runs on every list change.
    definition: exposedName === tool.name ? tool : { ...tool, name: exposedName },
  };
}
