import type { Tool } from '@modelcontextprotocol/client';
import { toClientSafeName } from './naming.js';

export interface UpstreamToolSource {
  /** Upstream name from config. */
  upstream: string;
  /** Prepended verbatim to every tool name, e.g. "jira_". */
  toolPrefix?: string;
  /** Decides on the upstream's own tool name, before prefixing. */
  filter: (toolName: string) => boolean;
  /** As listed by the upstream, in its order; empty while the upstream is not ready. */
  tools: readonly Tool[];
}

export interface ExposedTool {
  /** What the client sees and calls. */
  exposedName: string;
  upstream: string;
  /** What the upstream must receive. */
  originalName: string;
  /** The upstream definition, unchanged except `name` = exposedName (the very same object when equal). */
  definition: Tool;
}

export interface ToolRegistry {
  /** Config order, then each upstream's order. */
  readonly tools: readonly ExposedTool[];
  readonly byName: ReadonlyMap<string, ExposedTool>;
  /** Upstream -> original names removed by its filter; every source has an entry, possibly empty. */
  readonly filteredOut: ReadonlyMap<string, string[]>;
  /** Collisions and duplicates, for the caller to log. */
  readonly warnings: readonly string[];
}

interface Candidate {
  source: UpstreamToolSource;
  tool: Tool;
  baseName: string;
  exposedName: string;
}

/**
 * Builds the set of exposed tools from every upstream's list. Sources come in config order and that order
 * alone settles collisions: a tool keeps its base name (prefix + name, made client-safe) unless an earlier
 * tool has the same one. Renamed tools are placed in a second pass so a fallback name never takes the base
 * name of a tool listed later. Pure: the input is never mutated, and the result depends only on the input.
 */
export function buildToolRegistry(sources: readonly UpstreamToolSource[]): ToolRegistry {
  const warnings: string[] = [];
  const filteredOut = new Map<string, string[]>();
  const candidates: Candidate[] = [];

  for (const source of sources) {
    const removed: string[] = [];
    const seen = new Set<string>();
    for (const tool of source.tools) {
      if (seen.has(tool.name)) {
        warnings.push(`upstream "${source.upstream}" lists tool "${tool.name}" more than once; the first is kept`);
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
  const owners = new Map<string, Candidate>();
  const renamed: Candidate[] = [];
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
      ? `tool "${owner.tool.name}" of the same upstream`
      : `upstream "${owner.source.upstream}"`;
    warnings.push(
      `tool "${tool.name}" of upstream "${source.upstream}" collides with ${other}; exposed as "${candidate.exposedName}"`,
    );
  }

  const tools = candidates.map(toExposedTool);
  const byName = new Map<string, ExposedTool>();
  for (const exposed of tools) byName.set(exposed.exposedName, exposed);
  return { tools, byName, filteredOut, warnings };
}

function firstFreeName(start: string, taken: ReadonlyMap<string, unknown>): string {
  if (!taken.has(start)) return start;
  for (let n = 2; ; n++) {
    // toClientSafeName keeps the suffixed name within the length limit (a long one is re-hashed, still unique).
    const name = toClientSafeName(`${start}_${n}`);
    if (!taken.has(name)) return name;
  }
}

function toExposedTool({ source, tool, exposedName }: Candidate): ExposedTool {
  return {
    exposedName,
    upstream: source.upstream,
    originalName: tool.name,
    // Shallow copy only when the name changes: this runs on every list change.
    definition: exposedName === tool.name ? tool : { ...tool, name: exposedName },
  };
}
