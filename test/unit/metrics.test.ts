/** The Prometheus text the metrics render: escaping, cumulative buckets, states an upstream left shown as 0. */
import { describe, expect, it } from 'vitest';
import { createMetrics, DURATION_BUCKETS, escapeLabelValue, stateLabel } from '../../src/observe/metrics.js';
import type { RequestEnd } from '../../src/observe/request-end.js';
import type { ProxyStatus, UpstreamStatus } from '../../src/observe/status.js';

function end(overrides: Partial<RequestEnd>): RequestEnd {
  return {
    time: 0,
    method: 'tools/call',
    upstream: 'alpha',
    target: { kind: 'tool', name: 'echo' },
    durationMs: 10,
    outcome: 'result',
    params: {},
    ...overrides,
  };
}

function status(...upstreams: Array<Pick<UpstreamStatus, 'name' | 'state'> & { inFlight?: number }>): ProxyStatus {
  return {
    version: '0',
    time: '',
    upstreams: upstreams.map((upstream) => ({ inFlight: 0, ...upstream }) as UpstreamStatus),
  };
}

describe('metrics', () => {
  it('escapes backslash, double quote and newline in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });

  it('renders counters and a cumulative histogram per upstream and method', () => {
    const metrics = createMetrics();
    metrics.recordRequest(end({ durationMs: 3 }));
    metrics.recordRequest(end({ durationMs: 700 }));
    metrics.recordRequest(end({ durationMs: 400_000, outcome: 'failure', code: 'ERR_UPSTREAM_TIMEOUT' }));
    metrics.recordRequest(
      end({ upstream: undefined, outcome: 'unknown-target', target: { kind: 'tool', name: 'x"y' } }),
    );
    const text = metrics.render(status({ name: 'alpha', state: 'connected.ready.busy', inFlight: 2 }));
    expect(text).toContain('mcp_proxy_requests_total{upstream="alpha",method="tools/call",outcome="result"} 2\n');
    expect(text).toContain('mcp_proxy_requests_total{upstream="alpha",method="tools/call",outcome="failure"} 1\n');
    expect(text).toContain('mcp_proxy_requests_total{upstream="",method="tools/call",outcome="unknown-target"} 1\n');
    expect(text).toContain(
      'mcp_proxy_request_duration_seconds_bucket{upstream="alpha",method="tools/call",le="0.005"} 1\n',
    );
    expect(text).toContain(
      'mcp_proxy_request_duration_seconds_bucket{upstream="alpha",method="tools/call",le="1"} 2\n',
    );
    // Past the last bound: only in +Inf.
    expect(text).toContain(
      `mcp_proxy_request_duration_seconds_bucket{upstream="alpha",method="tools/call",le="${DURATION_BUCKETS.at(-1)}"} 2\n`,
    );
    expect(text).toContain(
      'mcp_proxy_request_duration_seconds_bucket{upstream="alpha",method="tools/call",le="+Inf"} 3\n',
    );
    expect(text).toContain('mcp_proxy_request_duration_seconds_count{upstream="alpha",method="tools/call"} 3\n');
    expect(text).toContain('mcp_proxy_request_duration_seconds_sum{upstream="alpha",method="tools/call"} 400.703\n');
    expect(text).toContain('mcp_proxy_upstream_state{upstream="alpha",state="connected.ready"} 1\n');
    expect(text).toContain('mcp_proxy_in_flight{upstream="alpha"} 2\n');
    // Every sample line is a name, optional labels and a number.
    for (const line of text.trimEnd().split('\n')) {
      if (!line.startsWith('#')) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/);
    }
  });

  it('counts entries into reconnecting, and shows a state left as 0', () => {
    const metrics = createMetrics();
    const upstream = (from: string | undefined, state: string) =>
      metrics.recordTransition({ time: 0, actor: 'alpha', machine: 'upstream', event: 'x', from, state, context: {} });
    upstream(undefined, 'waitingForClient');
    upstream('connected.ready.idle', 'reconnecting');
    metrics.render(status({ name: 'alpha', state: 'reconnecting' }));
    upstream('reconnecting', 'connecting.http');
    upstream('connected.ready.idle', 'reconnecting');
    const text = metrics.render(status({ name: 'alpha', state: 'connected.ready.idle' }));
    expect(text).toContain('mcp_proxy_reconnects_total{upstream="alpha"} 2\n');
    expect(text).toContain('mcp_proxy_upstream_state{upstream="alpha",state="reconnecting"} 0\n');
    expect(text).toContain('mcp_proxy_upstream_state{upstream="alpha",state="connected.ready"} 1\n');
    expect(stateLabel('authorizing.waitingForUser')).toBe('authorizing');
    expect(stateLabel('connected.listing')).toBe('connected.listing');
  });
});
