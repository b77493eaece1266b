/**
 * `/metrics` on the `--inspect` server: Prometheus text counting the calls made through a proxy in front of a real
 * upstream on 127.0.0.1, and the upstream's state and reconnects when it goes down.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let fixture: UpstreamFixture | undefined;

afterEach(async () => {
  await proxy?.close();
  await fixture?.close();
  proxy = fixture = undefined;
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the text format (comments skipped), with label values unescaped. */
function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, name, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[name!] = value!.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
      }
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

function sampleValue(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find(
    (sample) =>
      sample.name === name &&
      Object.keys(labels).length === Object.keys(sample.labels).length &&
      Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  )?.value;
}

async function scrape(proxy: TestProxy): Promise<{ samples: Sample[]; text: string; type: string | null }> {
  const response = await fetch(new URL('metrics', proxy.proxy.watching!.statusPage));
  expect(response.status).toBe(200);
  const text = await response.text();
  return { samples: parseMetrics(text), text, type: response.headers.get('content-type') };
}

describe('/metrics', () => {
  it('counts requests by outcome, times them, and shows the upstream state, reconnects and calls in flight', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'fail'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url }], { inspect: true });
    await proxy.client.listTools();
    for (const text of ['one', 'two', 'three']) await proxy.client.callTool({ name: 'echo', arguments: { text } });
    await proxy.client.callTool({ name: 'fail', arguments: {} });
    await expect(proxy.client.callTool({ name: 'nowhere', arguments: {} })).rejects.toThrow(/Unknown tool/);

    const { samples, text, type } = await scrape(proxy);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('# TYPE mcp_proxy_requests_total counter');
    expect(text).toContain('# TYPE mcp_proxy_request_duration_seconds histogram');
    const requests = (labels: Record<string, string>) => sampleValue(samples, 'mcp_proxy_requests_total', labels);
    expect(requests({ upstream: 'alpha', method: 'tools/call', outcome: 'result' })).toBe(3);
    expect(requests({ upstream: 'alpha', method: 'tools/call', outcome: 'tool-error' })).toBe(1);
    expect(requests({ upstream: '', method: 'tools/call', outcome: 'unknown-target' })).toBe(1);

    const call = { upstream: 'alpha', method: 'tools/call' };
    expect(sampleValue(samples, 'mcp_proxy_request_duration_seconds_count', call)).toBe(4);
    expect(sampleValue(samples, 'mcp_proxy_request_duration_seconds_bucket', { ...call, le: '+Inf' })).toBe(4);
    expect(sampleValue(samples, 'mcp_proxy_request_duration_seconds_sum', call)).toBeGreaterThan(0);
    const buckets = samples.filter(
      (sample) => sample.name === 'mcp_proxy_request_duration_seconds_bucket' && sample.labels.upstream === 'alpha',
    );
    expect(buckets.length).toBeGreaterThan(2);
    // Cumulative: never decreasing, ending at the count.
    for (let index = 1; index < buckets.length; index++) {
      expect(buckets[index]!.value).toBeGreaterThanOrEqual(buckets[index - 1]!.value);
    }

    expect(sampleValue(samples, 'mcp_proxy_upstream_state', { upstream: 'alpha', state: 'connected.ready' })).toBe(1);
    expect(sampleValue(samples, 'mcp_proxy_reconnects_total', { upstream: 'alpha' })).toBe(0);
    expect(sampleValue(samples, 'mcp_proxy_in_flight', { upstream: 'alpha' })).toBe(0);

    // Down: the state follows, and the reconnect is counted.
    await fixture.kill();
    await proxy.waitForState('alpha', 'reconnecting');
    const down = (await scrape(proxy)).samples;
    expect(sampleValue(down, 'mcp_proxy_upstream_state', { upstream: 'alpha', state: 'reconnecting' })).toBe(1);
    expect(sampleValue(down, 'mcp_proxy_upstream_state', { upstream: 'alpha', state: 'connected.ready' })).toBe(0);
    expect(sampleValue(down, 'mcp_proxy_reconnects_total', { upstream: 'alpha' })).toBe(1);

    // A call made now waits for the upstream: it is in flight until it is back.
    const waiting = proxy.client.callTool({ name: 'echo', arguments: { text: 'later' } });
    await eventually(() => proxy!.proxy.status().upstreams[0]?.inFlight === 1);
    expect(sampleValue((await scrape(proxy)).samples, 'mcp_proxy_in_flight', { upstream: 'alpha' })).toBe(1);
    await fixture.restart();
    await waiting;
    const back = (await scrape(proxy)).samples;
    expect(sampleValue(back, 'mcp_proxy_in_flight', { upstream: 'alpha' })).toBe(0);
    expect(sampleValue(back, 'mcp_proxy_requests_total', { ...call, outcome: 'result' })).toBe(4);
    expect(sampleValue(back, 'mcp_proxy_upstream_state', { upstream: 'alpha', state: 'connected.ready' })).toBe(1);
    expect(sampleValue(back, 'mcp_proxy_upstream_state', { upstream: 'alpha', state: 'reconnecting' })).toBe(0);
  });

  it('is served to its loopback name only', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url }], { inspect: true });
    const url = new URL('metrics', proxy.proxy.watching!.statusPage);
    expect(url.hostname).toBe('127.0.0.1');
    const { port } = url;
    const refused = await fetch(url, { headers: { origin: 'https://evil.example' } });
    expect(refused.status).toBe(403);
    expect(await refused.text()).not.toContain('mcp_proxy_');
    // Another name for this address (DNS rebinding), which fetch would not send as given.
    const rebound = await new Promise<number>((resolve, reject) => {
      httpRequest(
        { host: '127.0.0.1', port, path: '/metrics', headers: { host: `evil.example:${port}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end();
    });
    expect(rebound).toBe(421);
  });
});
