import type { Tool } from '@modelcontextprotocol/client';
import { MAX_TOOL_NAME_LENGTH, type NameLimit, toClientSafeName } from './naming.js';
import { isReadOnlyTool, type LeftOutReason, type ToolView } from './view.js';

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
  /** Overrides, read_only and the name limit; absent: none, and 64 characters. */
  view?: ToolView;
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
  /**
   * Upstream -> original names left out (by its filter, a `hidden` override or read_only); every source has an
   * entry, possibly empty.
   */
  readonly filteredOut: ReadonlyMap<string, string[]>;
  /** Upstream -> why each of its filteredOut names is left out; every source has an entry, possibly empty. */
  readonly filteredOutReasons: ReadonlyMap<string, Readonly<Record<string, LeftOutReason>>>;
  /** Collisions and duplicates, for the caller to log. */
  readonly warnings: readonly string[];
}

export type UpstreamToolSource = UpstreamNamedSource<Tool>;
export type ExposedTool = Exposed<Tool>;
export type ToolRegistry = NamedRegistry<Tool>;

/**
 * One upstream's items as far as they depend on that upstream alone: deduplicated, filtered, prefixed and made
 * client-safe. Kept per list (by identity) so a change of one upstream's list costs nothing for the others: the
 * supervisor rebuilds the catalog on every list of every upstream.
 */
interface PreparedSource<T extends Named> {
  upstream: string;
  toolPrefix: string | undefined;
  filter: (name: string) => boolean;
  view: ToolView | undefined;
  kind: 'tool' | 'prompt';
  items: PreparedItem<T>[];
  removed: string[];
  /** A Map: tool names are the upstream's, and `__proto__` must stay a name. */
  reasons: Map<string, LeftOutReason>;
  warnings: string[];
}

interface PreparedItem<T extends Named> {
  tool: T;
  /** From an override: replaces the upstream's. */
  description?: string;
  /** The name without a prefix: an override's, else the upstream's (the start of a fallback name). */
  plainName: string;
  baseName: string;
  /** The base name is prefix + name as it was: nothing had to be made client-safe. */
  ownName: boolean;
  /**
   * The last exposed entry made for it: reused while its name stays, so an unchanged item is the same object in
   * the next registry (which is how changedKinds tells it unchanged without serializing it).
   */
  exposed?: Exposed<T>;
}

interface Candidate<T extends Named> {
  source: PreparedSource<T>;
  item: PreparedItem<T>;
  /** Empty until a round gives it one. */
  exposedName: string;
}

/**
 * By list, then upstream: each upstream's list is a new array when it changes, and the same one while it does not.
 * Only the latest preparation of a list for an upstream is kept (its prefix and filter are fixed in a session).
 */
const prepared = new WeakMap<readonly Named[], Map<string, PreparedSource<Named>>>();

function prepare<T extends Named>(source: UpstreamNamedSource<T>, kind: 'tool' | 'prompt'): PreparedSource<T> {
  // Nothing to keep of an empty list, and one empty list (EMPTY_CATALOG's) is shared by every upstream not listed
  // yet: caching it would make each build search through all of them.
  if (source.items.length === 0) return emptySource(source, kind);
  let byUpstream = prepared.get(source.items);
  if (byUpstream === undefined) {
    byUpstream = new Map();
    prepared.set(source.items, byUpstream);
  }
  const hit = byUpstream.get(source.upstream) as PreparedSource<T> | undefined;
  if (
    hit &&
    hit.toolPrefix === source.toolPrefix &&
    hit.filter === source.filter &&
    hit.view === source.view &&
    hit.kind === kind
  ) {
    return hit;
  }
  const entry = emptySource(source, kind);
  const { view } = source;
  const maxLength = view?.maxNameLength ?? MAX_TOOL_NAME_LENGTH;
  const seen = new Set<string>();
  for (const tool of source.items) {
    if (seen.has(tool.name)) {
      entry.warnings.push(
        `upstream "${source.upstream}" lists ${kind} "${tool.name}" more than once; the first is kept`,
      );
      continue;
    }
    seen.add(tool.name);
    const override = view?.overrides.get(tool.name);
    const reason = leftOutReason(source, tool, override?.hidden === true);
    if (reason !== undefined) {
      entry.removed.push(tool.name);
      entry.reasons.set(tool.name, reason);
      continue;
    }
    // An override's name is the exposed name as written: no prefix (the user wrote the name they want to see).
    const plainName = override?.name ?? tool.name;
    const fullName = override?.name ?? (source.toolPrefix ?? '') + tool.name;
    const baseName = toClientSafeName(fullName, { maxLength });
    const item: PreparedItem<T> = { tool, plainName, baseName, ownName: baseName === fullName };
    if (override?.description !== undefined) item.description = override.description;
    entry.items.push(item);
  }
  // Upstreams change their tools: an override for one no longer listed is worth a warning (the supervisor logs
  // each warning once), never an error.
  for (const name of view?.overrides.keys() ?? []) {
    if (seen.has(name)) continue;
    entry.warnings.push(`upstream "${source.upstream}" has a tools override for "${name}", which it does not list`);
  }
  byUpstream.set(source.upstream, entry as PreparedSource<Named>);
  return entry;
}

function emptySource<T extends Named>(source: UpstreamNamedSource<T>, kind: 'tool' | 'prompt'): PreparedSource<T> {
  const { upstream, toolPrefix, filter, view } = source;
  return { upstream, toolPrefix, filter, view, kind, items: [], removed: [], reasons: new Map(), warnings: [] };
}

/** The filter first (what include_tools/ignore_tools say stays their reason), then hidden, then read_only. */
function leftOutReason<T extends Named>(
  source: UpstreamNamedSource<T>,
  item: T,
  hidden: boolean,
): LeftOutReason | undefined {
  if (!source.filter(item.name)) return 'filter';
  if (hidden) return 'hidden';
  if (source.view?.readOnly && !isReadOnlyTool(item)) return 'read_only';
  return undefined;
}

/** The exposed tools, from every upstream's tool list. */
export function buildToolRegistry(sources: readonly UpstreamToolSource[]): ToolRegistry {
  return buildNamedRegistry(sources, 'tool');
}

/**
 * Builds the set of exposed tools (or prompts: `kind` names them in warnings) from every upstream's list. Each item
 * has a base name: prefix + name, made client-safe. Names claim in three rounds, each in config order then each
 * upstream's order:
 *
 * 1. base names that needed no change: a name an item has as its own is never taken by a made-safe one (`a_b`
 *    keeps `a_b` against an earlier `a b`), and among own names the earlier upstream keeps it;
 * 2. base names that were made client-safe, where still free;
 * 3. the rest: a fallback name, the first free one, so a fallback never takes the base name of one listed later.
 *
 * Pure: the input is never mutated, and the result depends only on the input. What depends on one upstream's list
 * alone is computed once per list (see PreparedSource); only the claim rounds run over every item each time.
 */
export function buildNamedRegistry<T extends Named>(
  sources: readonly UpstreamNamedSource<T>[],
  kind: 'tool' | 'prompt',
): NamedRegistry<T> {
  const warnings: string[] = [];
  const filteredOut = new Map<string, string[]>();
  const filteredOutReasons = new Map<string, Readonly<Record<string, LeftOutReason>>>();
  const candidates: Candidate<T>[] = [];

  for (const source of sources) {
    const entry = prepare(source, kind);
    warnings.push(...entry.warnings);
    filteredOut.set(source.upstream, [...entry.removed]);
    filteredOutReasons.set(source.upstream, Object.fromEntries(entry.reasons));
    for (const item of entry.items) candidates.push({ source: entry, item, exposedName: '' });
  }

  // Rounds 1 and 2: own names first, then made-safe ones; the first of each base name owns it.
  const owners = new Map<string, Candidate<T>>();
  const claim = (ownName: boolean) => {
    for (const candidate of candidates) {
      const { baseName } = candidate.item;
      if (candidate.item.ownName !== ownName || owners.has(baseName)) continue;
      owners.set(baseName, candidate);
      candidate.exposedName = baseName;
    }
  };
  claim(true);
  claim(false);

  // Round 3: the others get `${upstream}_${name}` (or, within one upstream, their base name), made unique.
  for (const candidate of candidates) {
    if (candidate.exposedName !== '') continue;
    const { source } = candidate;
    const { tool, plainName, baseName, ownName } = candidate.item;
    const owner = owners.get(baseName)!;
    const sameUpstream = owner.source === source;
    const limit = { maxLength: source.view?.maxNameLength ?? MAX_TOOL_NAME_LENGTH };
    const start = sameUpstream ? baseName : toClientSafeName(`${source.upstream}_${plainName}`, limit);
    candidate.exposedName = firstFreeName(start, owners, limit);
    owners.set(candidate.exposedName, candidate);
    const where = sameUpstream ? 'of the same upstream' : `of upstream "${owner.source.upstream}"`;
    const what = `${kind} "${tool.name}" of upstream "${source.upstream}"`;
    // A made-safe name loses to another item's own name whatever their order: the warning says whose name it is.
    const collision =
      owner.item.ownName && !ownName
        ? `is "${baseName}" once client-safe, the own name of ${kind} "${owner.item.tool.name}" ${where}`
        : `collides with ${sameUpstream ? `${kind} "${owner.item.tool.name}" ${where}` : `upstream "${owner.source.upstream}"`}`;
    warnings.push(`${what} ${collision}; exposed as "${candidate.exposedName}"`);
  }

  const items = candidates.map(toExposedTool);
  const byName = new Map<string, Exposed<T>>();
  for (const exposed of items) byName.set(exposed.exposedName, exposed);
  return { items, byName, filteredOut, filteredOutReasons, warnings };
}

function firstFreeName(start: string, taken: ReadonlyMap<string, unknown>, limit: NameLimit): string {
  if (!taken.has(start)) return start;
  for (let n = 2; ; n++) {
    // toClientSafeName keeps the suffixed name within the length limit (a long one is re-hashed, still unique).
    const name = toClientSafeName(`${start}_${n}`, limit);
    if (!taken.has(name)) return name;
  }
}

function toExposedTool<T extends Named>({ source, item, exposedName }: Candidate<T>): Exposed<T> {
  if (item.exposed?.exposedName === exposedName) return item.exposed;
  const { tool, description } = item;
  item.exposed = {
    exposedName,
    upstream: source.upstream,
    originalName: tool.name,
    // Shallow copy only when the name or the description changes.
    definition:
      description !== undefined
        ? { ...tool, name: exposedName, description }
        : exposedName === tool.name
          ? tool
          : { ...tool, name: exposedName },
  };
  return item.exposed;
}
