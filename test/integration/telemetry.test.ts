/**
 * OpenTelemetry through a local OTLP/HTTP receiver on 127.0.0.1: a span per forwarded request, child of the
 * client's traceparent and parent of the upstream's (the fixture echoes the `_meta` it received), with upstream,
 * method, tool and outcome and nothing of the arguments; and the request metrics, sent when the proxy stops.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { closeHttpServer, listenOnLoopback } from '../../src/http/loopback-server.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();

interface Received {
  path: string;
  body: Record<string, unknown>;
}

const receivers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of receivers.splice(0)) await close();
});

/** An OTLP/HTTP collector that keeps what it is sent (JSON, as the JS exporters send by default). */
async function startReceiver(): Promise<{ endpoint: string; received: Received[] }> {
  const received: Received[] = [];
  const read = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server = createServer((request, response) => {
    void read(request).then((text) => {
      received.push({ path: request.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await listenOnLoopback(server);
  receivers.push(() => closeHttpServer(server));
  return { endpoint: `http://127.0.0.1:${port}`, received };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string } }>;
  status?: { code?: number };
}

function spansOf(received: Received[]): OtlpSpan[] {
  return received
    .filter(({ path }) => path === '/v1/traces')
    .flatMap(({ body }) => body.resourceSpans as Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>)
    .flatMap(({ scopeSpans }) => scopeSpans.flatMap(({ spans }) => spans));
}

function attribute(span: OtlpSpan, key: string): string | undefined {
  return span.attributes.find((entry) => entry.key === key)?.value.stringValue;
}

interface OtlpMetric {
  name: string;
  sum?: { dataPoints: Array<{ asInt?: string | number; attributes: OtlpSpan['attributes'] }> };
  histogram?: { dataPoints: Array<{ count: string | number; attributes: OtlpSpan['attributes'] }> };
}

function metricsOf(received: Received[]): OtlpMetric[] {
  return received
    .filter(({ path }) => path === '/v1/metrics')
    .flatMap(({ body }) => body.resourceMetrics as Array<{ scopeMetrics: Array<{ metrics: OtlpMetric[] }> }>)
    .flatMap(({ scopeMetrics }) => scopeMetrics.flatMap(({ metrics }) => metrics));
}

function attributesOf(point: { attributes: OtlpSpan['attributes'] }): Record<string, string | undefined> {
  return Object.fromEntries(point.attributes.map(({ key, value }) => [key, value.stringValue]));
}

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

describe('OpenTelemetry', () => {
  it('traces each forwarded request between the client and the upstream, and counts them', async () => {
    const { endpoint, received } = await startReceiver();
    const fixture = await scope.upstream('streamable-http');
    const { client, close } = await scope.proxy([{ name: 'docs', url: fixture.url }], {
      telemetry: { endpoint, metricsIntervalMs: 60_000 },
    });

    const result = (await client.callTool({
      name: 'echo',
      arguments: { text: 'argument-that-must-not-be-traced' },
      _meta: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    })) as CallToolResult;
    const upstreamSaw = (result._meta as { received: { traceparent?: string } }).received.traceparent;
    // The upstream's parent is the proxy's span, in the client's trace.
    const [, traceId, parentId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(upstreamSaw ?? '') ?? [];
    expect(traceId).toBe(CLIENT_TRACE);
    expect(parentId).not.toBe(CLIENT_SPAN);
    await expect(client.callTool({ name: 'nothing-here', arguments: {} })).rejects.toThrow(/Unknown tool/);
    await close();

    const spans = spansOf(received);
    const echo = spans.find((span) => span.name === 'tools/call echo');
    expect(echo).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN, spanId: parentId });
    expect(attribute(echo!, 'mcp.upstream')).toBe('docs');
    expect(attribute(echo!, 'mcp.outcome')).toBe('result');
    expect(attribute(echo!, 'gen_ai.tool.name')).toBe('echo');
    const unknown = spans.find((span) => span.name === 'tools/call nothing-here');
    expect(attribute(unknown!, 'mcp.outcome')).toBe('unknown-target');
    expect(unknown?.status?.code).toBe(2);
    expect(JSON.stringify(received)).not.toContain('argument-that-must-not-be-traced');

    const metrics = metricsOf(received);
    const requests = metrics.find((metric) => metric.name === 'mcp_proxy.requests')?.sum?.dataPoints ?? [];
    const count = (outcome: string) =>
      requests
        .filter((point) =>
          point.attributes.some(({ key, value }) => key === 'outcome' && value.stringValue === outcome),
        )
        .reduce((sum, point) => sum + Number(point.asInt ?? 0), 0);
    expect(count('result')).toBe(1);
    expect(count('unknown-target')).toBe(1);
    const durations = metrics.find((metric) => metric.name === 'mcp_proxy.request.duration')?.histogram?.dataPoints;
    expect(durations?.reduce((sum, point) => sum + Number(point.count), 0)).toBe(2);
    expect(metrics.some((metric) => metric.name === 'mcp_proxy.upstream.state')).toBe(true);
    // A result and a tool error are answers; an unknown tool is an error of the request.
    const errors = metrics.find((metric) => metric.name === 'mcp_proxy.request.errors')?.sum?.dataPoints ?? [];
    expect(errors.map((point) => [attributesOf(point).outcome, Number(point.asInt)])).toEqual([['unknown-target', 1]]);
  });

  it('counts reconnects, and shows the upstream state', async () => {
    const { endpoint, received } = await startReceiver();
    const fixture = await scope.upstream('streamable-http');
    const { client, close, waitForState } = await scope.proxy([{ name: 'docs', url: fixture.url }], {
      telemetry: { endpoint, metricsIntervalMs: 60_000 },
    });
    await client.listTools();
    const reconnecting = waitForState('docs', 'reconnecting');
    await fixture.kill();
    await reconnecting;
    await fixture.restart();
    await waitForState('docs', /^connected\.ready/, 15_000);
    await close();
    const metrics = metricsOf(received);
    const reconnects = metrics.find((metric) => metric.name === 'mcp_proxy.upstream.reconnects')?.sum?.dataPoints;
    expect(reconnects?.map((point) => [attributesOf(point), Number(point.asInt)])).toEqual([[{ upstream: 'docs' }, 1]]);
    const state = metrics.find((metric) => metric.name === 'mcp_proxy.upstream.state') as
      | { gauge?: { dataPoints: Array<{ attributes: OtlpSpan['attributes'] }> } }
      | undefined;
    expect(state?.gauge?.dataPoints.map(attributesOf)).toEqual([{ upstream: 'docs', state: 'connected' }]);
  });

  it('sends nothing anywhere when it is off, and the upstream gets the client’s traceparent as it came', async () => {
    const fixture = await scope.upstream('streamable-http');
    const { client } = await scope.proxy([{ name: 'docs', url: fixture.url }]);
    const traceparent = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
    const result = (await client.callTool({
      name: 'echo',
      arguments: { text: 'x' },
      _meta: { traceparent },
    })) as CallToolResult;
    expect((result._meta as { received: { traceparent?: string } }).received.traceparent).toBe(traceparent);
  });
});
