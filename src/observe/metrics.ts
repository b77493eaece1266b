/**
 * Prometheus metrics for `/metrics` on the `--inspect` server, in the text exposition format (version 0.0.4),
 * written here: a few lines per metric need no client library. Requests are counted from the request-end hook
 * (the same one the audit log listens to), reconnects from the upstream actors' transitions, and the upstreams'
 * states and requests in flight are read from the status at the time of the scrape.
 */
import type { RequestEnd } from './request-end.js';
import type { ProxyStatus } from './status.js';
import type { Transition } from './transitions.js';

/** Seconds: from a quick local answer to the long calls that `max_call_ms` allows. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The content type of the text format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  const text = Object.entries(pairs)
    .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
    .join(',');
  return text === '' ? '' : `{${text}}`;
}

/** A sample value: integers as they are, the rest as JavaScript prints them (which the format accepts). */
function sample(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  return String(value);
}

interface Histogram {
  upstream: string;
  method: string;
  /** Per bucket of DURATION_BUCKETS, the count of observations at most its bound (not yet cumulative). */
  buckets: number[];
  sum: number;
  count: number;
}

export interface ProxyMetrics {
  /** The request-end hook. */
  recordRequest(end: RequestEnd): void;
  /** The transition hook: counts each upstream's entries into `reconnecting`. */
  recordTransition(transition: Transition): void;
  /** The metrics now, in the text format. */
  render(status: ProxyStatus): string;
}

/** What an unknown target's requests are counted under: no upstream owns them. */
const NO_UPSTREAM = '';

/** The top of an upstream's state (`reconnecting`, `authorizing`, …). */
function topState(state: string): string {
  return state.split(/[.,]/)[0] ?? state;
}

/** The state an upstream is shown in: the top of the chart's, and for `connected` the next level (`connected.ready`). */
export function stateLabel(state: string): string {
  const [top, next] = state.split(/[.,]/);
  return top === 'connected' && next !== undefined ? `connected.${next}` : (top ?? state);
}

export function createMetrics(): ProxyMetrics {
  const requests = new Map<string, { upstream: string; method: string; outcome: string; count: number }>();
  const durations = new Map<string, Histogram>();
  const reconnects = new Map<string, number>();
  /** Every state an upstream has been in, so that a state it left shows 0 instead of vanishing. */
  const statesSeen = new Map<string, Set<string>>();

  return {
    recordRequest(end) {
      const upstream = end.upstream ?? NO_UPSTREAM;
      const key = JSON.stringify([upstream, end.method, end.outcome]);
      const counter = requests.get(key) ?? { upstream, method: end.method, outcome: end.outcome, count: 0 };
      counter.count++;
      requests.set(key, counter);
      const histogramKey = JSON.stringify([upstream, end.method]);
      let histogram = durations.get(histogramKey);
      if (!histogram) {
        histogram = { upstream, method: end.method, buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 };
        durations.set(histogramKey, histogram);
      }
      const seconds = end.durationMs / 1000;
      const bucket = DURATION_BUCKETS.findIndex((bound) => seconds <= bound);
      if (bucket >= 0) histogram.buckets[bucket]!++;
      histogram.sum += seconds;
      histogram.count++;
    },

    recordTransition(transition) {
      if (transition.machine !== 'upstream') return;
      const entered = topState(transition.state) === 'reconnecting';
      const before = transition.from === undefined ? undefined : topState(transition.from);
      if (entered && before !== 'reconnecting') {
        reconnects.set(transition.actor, (reconnects.get(transition.actor) ?? 0) + 1);
      }
    },

    render(status) {
      const lines: string[] = [];
      const header = (name: string, type: string, help: string) =>
        lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

      header('mcp_proxy_requests_total', 'counter', 'Requests forwarded to upstreams, by how they ended.');
      for (const { upstream, method, outcome, count } of requests.values()) {
        lines.push(`mcp_proxy_requests_total${labels({ upstream, method, outcome })} ${count}`);
      }

      header('mcp_proxy_request_duration_seconds', 'histogram', 'How long forwarded requests took, in seconds.');
      for (const { upstream, method, buckets, sum, count } of durations.values()) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((bound, index) => {
          cumulative += buckets[index]!;
          lines.push(
            `mcp_proxy_request_duration_seconds_bucket${labels({ upstream, method, le: String(bound) })} ${cumulative}`,
          );
        });
        lines.push(`mcp_proxy_request_duration_seconds_bucket${labels({ upstream, method, le: '+Inf' })} ${count}`);
        lines.push(`mcp_proxy_request_duration_seconds_sum${labels({ upstream, method })} ${sample(sum)}`);
        lines.push(`mcp_proxy_request_duration_seconds_count${labels({ upstream, method })} ${count}`);
      }

      header(
        'mcp_proxy_upstream_state',
        'gauge',
        '1 for the state each upstream is in now (0 for those it was in before).',
      );
      for (const upstream of status.upstreams) {
        const current = stateLabel(upstream.state);
        const seen = statesSeen.get(upstream.name) ?? new Set<string>();
        seen.add(current);
        statesSeen.set(upstream.name, seen);
        for (const state of seen) {
          lines.push(
            `mcp_proxy_upstream_state${labels({ upstream: upstream.name, state })} ${state === current ? 1 : 0}`,
          );
        }
      }

      header(
        'mcp_proxy_reconnects_total',
        'counter',
        'Times each upstream lost its connection and began reconnecting.',
      );
      for (const upstream of status.upstreams) {
        lines.push(
          `mcp_proxy_reconnects_total${labels({ upstream: upstream.name })} ${reconnects.get(upstream.name) ?? 0}`,
        );
      }

      header('mcp_proxy_in_flight', 'gauge', 'Requests forwarded to each upstream and not answered yet.');
      for (const upstream of status.upstreams) {
        lines.push(`mcp_proxy_in_flight${labels({ upstream: upstream.name })} ${upstream.inFlight}`);
      }
      return `${lines.join('\n')}\n`;
    },
  };
}
