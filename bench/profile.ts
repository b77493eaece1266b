/**
 * A summary of V8 CPU profiles (`node --cpu-prof`): where self time went (by package and by function, with the
 * caller), and the project's own functions by total time. Locations are file:line, mapped through the build's
 * source maps to the TypeScript sources where there is one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface Hotspot {
  name: string;
  location: string;
  ms: number;
  /** Of the profile's busy time, that is, without (idle). */
  percent: number;
  /** The caller that accounts for most of it, as "name location". */
  caller?: string;
}

export interface ProfileSummary {
  /** Sampled time the process was not idle. */
  busyMs: number;
  /** Self time per package (or "node: internals", "(garbage collector)", "src", ...), biggest first. */
  byOrigin: { origin: string; ms: number; percent: number }[];
  /** The same, with the time of node's internals and native code given to the nearest package that called them. */
  byOriginAttributed: { origin: string; ms: number; percent: number }[];
  /** Functions by self time ("(garbage collector)" and "(program)" are V8's own). */
  bySelf: Hotspot[];
  /** This project's functions (src/, machines/) by total time: their own plus their callees'. */
  projectByTotal: Hotspot[];
}

const PROJECT_DIRECTORIES = ['src/', 'machines/'];

const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  if (!sourceMaps.has(file)) {
    try {
      sourceMaps.set(file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))));
    } catch {
      sourceMaps.set(file, null);
    }
  }
  return sourceMaps.get(file)!;
}

function locate(frame: ProfileNode['callFrame'], root: string): string {
  if (!frame.url) return '';
  if (!frame.url.startsWith('file:')) return `${frame.url}:${frame.lineNumber + 1}`;
  const file = fileURLToPath(frame.url);
  const entry = sourceMapFor(file)?.findEntry(frame.lineNumber, frame.columnNumber);
  if (entry && 'originalSource' in entry && entry.originalSource) {
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(file), entry.originalSource);
    return `${relative(root, source)}:${entry.originalLine + 1}`;
  }
  return `${relative(root, file)}:${frame.lineNumber + 1}`;
}

/** Where self time went, coarsely: a package, node's internals, this project's code, or V8 itself. */
function originOf(name: string, url: string, location: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  return location.split('/')[0] ?? location;
}

interface Tally {
  name: string;
  location: string;
  ms: number;
  callers: Map<string, number>;
}

function add(into: Map<string, Tally>, name: string, location: string, ms: number, caller?: string): void {
  const key = `${name} ${location}`;
  let tally = into.get(key);
  if (!tally) {
    tally = { name, location, ms: 0, callers: new Map() };
    into.set(key, tally);
  }
  tally.ms += ms;
  if (caller) tally.callers.set(caller, (tally.callers.get(caller) ?? 0) + ms);
}

function ranked(tallies: Map<string, Tally>, busyMs: number, top: number): Hotspot[] {
  return [...tallies.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, top)
    .map(({ name, location, ms, callers }) => ({
      name,
      location,
      ms,
      percent: busyMs > 0 ? (100 * ms) / busyMs : 0,
      caller: [...callers].sort((a, b) => b[1] - a[1])[0]?.[0],
    }));
}

/** Everything in `directory`'s .cpuprofile files, summed. */
export function summarizeProfiles(directory: string, root: string, top = 15): ProfileSummary {
  const bySelf = new Map<string, Tally>();
  const projectByTotal = new Map<string, Tally>();
  const byOrigin = new Map<string, number>();
  const byOriginAttributed = new Map<string, number>();
  let busyMs = 0;

  for (const file of readdirSync(directory).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(directory, file), 'utf8')) as CpuProfile;
    const samples = profile.samples?.length ?? 0;
    if (samples === 0 || profile.nodes.length === 0) continue;
    const msPerSample = (profile.endTime - profile.startTime) / 1000 / samples;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const describe = (node: ProfileNode) => {
      const name = node.callFrame.functionName || '(anonymous)';
      const location = locate(node.callFrame, root);
      return { name, location, label: `${name} ${location}`.trim() };
    };

    // Depth first from the root, with the stack of project frames above each node.
    const visit = (
      node: ProfileNode,
      parentLabel: string | undefined,
      projectAbove: Set<string>,
      callerOrigin: string | undefined,
    ): number => {
      const { name, location, label } = describe(node);
      const selfMs = name === '(idle)' ? 0 : (node.hitCount ?? 0) * msPerSample;
      const origin = originOf(name, node.callFrame.url, location);
      const internal = origin === 'node: internals' || origin === '(native)';
      const attributedOrigin = internal ? (callerOrigin ?? origin) : origin;
      if (selfMs > 0) {
        busyMs += selfMs;
        add(bySelf, name, location, selfMs, parentLabel);
        byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + selfMs);
        byOriginAttributed.set(attributedOrigin, (byOriginAttributed.get(attributedOrigin) ?? 0) + selfMs);
      }
      const nextCallerOrigin = internal || origin.startsWith('(') ? callerOrigin : origin;
      const isProject = PROJECT_DIRECTORIES.some((prefix) => location.startsWith(prefix));
      const counted = isProject && !projectAbove.has(label);
      const below = counted ? new Set(projectAbove).add(label) : projectAbove;
      let totalMs = selfMs;
      for (const childId of node.children ?? []) {
        const child = byId.get(childId);
        if (child) totalMs += visit(child, label, below, nextCallerOrigin);
      }
      // A recursive project function is counted once, at its outermost frame.
      if (counted) add(projectByTotal, name, location, totalMs, parentLabel);
      return totalMs;
    };
    visit(profile.nodes[0]!, undefined, new Set(), undefined);
  }

  const rankOrigins = (origins: Map<string, number>) =>
    [...origins]
      .sort((a, b) => b[1] - a[1])
      .map(([origin, ms]) => ({ origin, ms, percent: busyMs > 0 ? (100 * ms) / busyMs : 0 }));
  return {
    busyMs,
    byOrigin: rankOrigins(byOrigin),
    byOriginAttributed: rankOrigins(byOriginAttributed),
    bySelf: ranked(bySelf, busyMs, top),
    projectByTotal: ranked(projectByTotal, busyMs, top),
  };
}
