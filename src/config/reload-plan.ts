/**
 * What a reload of the --config file changes, upstream by upstream: added, removed, restarted (how it connects
 * changed: a new session) or updated in place (only what is exposed changed: the session is kept).
 */
import { canonicalJson } from '../canonical-json.js';
import type { UpstreamConfig } from './schema.js';

/** Every field, by the name users write in the file, and whether a change to it needs a new session. */
const FIELDS: Record<keyof UpstreamConfig, { written: string; restarts: boolean }> = {
  name: { written: 'name', restarts: true },
  url: { written: 'url', restarts: true },
  transport: { written: 'transport', restarts: true },
  headers: { written: 'headers', restarts: true },
  oauth: { written: 'oauth', restarts: true },
  allowHttp: { written: 'allow_http', restarts: true },
  // The pins are checked where the session lists.
  pinTools: { written: 'pin_tools', restarts: true },
  includeTools: { written: 'include_tools', restarts: false },
  ignoreTools: { written: 'ignore_tools', restarts: false },
  toolPrefix: { written: 'tool_prefix', restarts: false },
  tools: { written: 'tools', restarts: false },
  readOnly: { written: 'read_only', restarts: false },
  timeoutMs: { written: 'timeout_ms', restarts: false },
  maxCallMs: { written: 'max_call_ms', restarts: false },
};

export interface ChangedUpstream {
  upstream: UpstreamConfig;
  /** The fields that changed, as written in the file (`url`, `include_tools`, …). */
  changed: string[];
}

export interface ReloadPlan {
  added: UpstreamConfig[];
  removed: string[];
  /** How it connects changed: its actor and session are replaced. */
  restarted: ChangedUpstream[];
  /** Only what it exposes changed (filters, names, overrides, timeouts): its session is kept. */
  updated: ChangedUpstream[];
  /** Anything at all, the order of the upstreams included (name collisions are settled in that order). */
  changed: boolean;
}

export function planReload(running: readonly UpstreamConfig[], next: readonly UpstreamConfig[]): ReloadPlan {
  const before = new Map(running.map((upstream) => [upstream.name, upstream]));
  const plan: ReloadPlan = { added: [], removed: [], restarted: [], updated: [], changed: false };
  for (const upstream of next) {
    const old = before.get(upstream.name);
    if (!old) {
      plan.added.push(upstream);
      continue;
    }
    const changed = changedFields(old, upstream);
    if (changed.length === 0) continue;
    const restarts = changed.some((field) => FIELDS[field].restarts);
    (restarts ? plan.restarted : plan.updated).push({
      upstream,
      changed: changed.map((field) => FIELDS[field].written),
    });
  }
  const kept = new Set(next.map((upstream) => upstream.name));
  plan.removed = running.map((upstream) => upstream.name).filter((name) => !kept.has(name));
  // Kept upstreams in another order: the same sessions, but collisions may now be won by another upstream.
  const order = (list: readonly UpstreamConfig[]) =>
    list.filter((upstream) => before.has(upstream.name) && kept.has(upstream.name)).map((upstream) => upstream.name);
  const reordered = order(running).join('\n') !== order(next).join('\n');
  plan.changed = reordered || plan.added.length + plan.removed.length + plan.restarted.length + plan.updated.length > 0;
  return plan;
}

function changedFields(old: UpstreamConfig, next: UpstreamConfig): Array<keyof UpstreamConfig> {
  return (Object.keys(FIELDS) as Array<keyof UpstreamConfig>).filter(
    (field) => canonicalJson(old[field]) !== canonicalJson(next[field]),
  );
}
