/**
 * OpenTelemetry, with the official JS packages: a span per forwarded request (upstream, method, tool, outcome and
 * duration; never arguments or results), child of the client's `traceparent` and passed on to the upstream as its
 * parent; metrics of the requests, their errors and latency, reconnects, token refreshes and the upstreams' states;
 * both sent over OTLP/HTTP to the configured endpoint. Imported only when telemetry is on (src/proxy.ts), so that
 * off, none of these packages is even loaded.
 *
 * Nothing is registered globally: the proxy's providers serve its own spans and metrics only.
 */
import {
  type Attributes,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  ValueType,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TelemetrySettings } from '../config/index.js';
import { VERSION } from '../version.js';
import { outcomeOf, type RequestObserver } from './request-observer.js';
import type { TransitionListener } from './transitions.js';

export interface Telemetry {
  requests: RequestObserver;
  /** Counts reconnects and refreshes, and keeps each upstream's state for its gauge. */
  onTransition: TransitionListener;
  /** Sends what is pending and stops. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

/** The span's name: the method, and the target for the methods that name one (OpenTelemetry MCP conventions). */
function spanName(method: string, name: string | undefined): string {
  return name === undefined ? method : `${method} ${name}`;
}

export function startTelemetry(settings: TelemetrySettings): Telemetry {
  const resource = resourceFromAttributes({ 'service.name': 'mcp-upstream-proxy', 'service.version': VERSION });
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${settings.endpoint}/v1/traces` }))],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${settings.endpoint}/v1/metrics` }),
        exportIntervalMillis: settings.metricsIntervalMs,
      }),
    ],
  });
  const tracer = tracerProvider.getTracer('mcp-upstream-proxy', VERSION);
  const meter = meterProvider.getMeter('mcp-upstream-proxy', VERSION);
  /** A counter of whole events. */
  const counter = (name: string, description: string) =>
    meter.createCounter(name, { valueType: ValueType.INT, description });
  const requests = counter('mcp_proxy.requests', 'Requests forwarded to upstreams');
  const errors = counter(
    'mcp_proxy.request.errors',
    'Forwarded requests that ended without a result (JSON-RPC errors, failures, unknown targets)',
  );
  const duration = meter.createHistogram('mcp_proxy.request.duration', {
    description: 'Time from the request leaving the downstream server to its outcome',
    unit: 's',
  });
  const reconnects = counter('mcp_proxy.upstream.reconnects', 'Upstream reconnects');
  const refreshes = counter('mcp_proxy.token.refreshes', 'Access token refreshes');
  const states = new Map<string, string>();
  meter
    .createObservableGauge('mcp_proxy.upstream.state', { description: "1 for each upstream's current state" })
    .addCallback((result) => {
      for (const [upstream, state] of states) result.observe(1, { upstream, state });
    });

  return {
    requests: {
      begin({ method, name, meta }) {
        const parent = propagator.extract(ROOT_CONTEXT, meta, defaultTextMapGetter);
        const attributes: Attributes = { 'mcp.method.name': method };
        if (name !== undefined) attributes[method === 'tools/call' ? 'gen_ai.tool.name' : 'mcp.target'] = name;
        const span = tracer.startSpan(spanName(method, name), { kind: SpanKind.CLIENT, attributes }, parent);
        const started = performance.now();
        const carried: Record<string, unknown> = { ...meta };
        delete carried.traceparent;
        delete carried.tracestate;
        propagator.inject(trace.setSpan(context.active(), span), carried, defaultTextMapSetter);
        return {
          meta: carried,
          end(outcome) {
            const seconds = (performance.now() - started) / 1000;
            const { outcome: how, code } = outcomeOf(outcome);
            const upstream = 'upstream' in outcome ? outcome.upstream : undefined;
            const labels: Attributes = { method, outcome: how, ...(upstream !== undefined && { upstream }) };
            span.setAttributes({
              'mcp.outcome': how,
              ...(upstream !== undefined && { 'mcp.upstream': upstream }),
              ...(code !== undefined && { 'error.type': String(code) }),
            });
            if (how !== 'result') span.setStatus({ code: SpanStatusCode.ERROR, message: how });
            span.end();
            requests.add(1, labels);
            if (how !== 'result' && how !== 'tool-error')
              errors.add(1, { ...labels, ...(code !== undefined && { code: String(code) }) });
            duration.record(seconds, { method, ...(upstream !== undefined && { upstream }) });
          },
        };
      },
    },
    onTransition(transition) {
      if (transition.machine !== 'upstream') return;
      const top = transition.state.split('.')[0] ?? transition.state;
      const before = transition.from?.split('.')[0];
      states.set(transition.actor, top);
      if (top === before) return;
      if (top === 'reconnecting') reconnects.add(1, { upstream: transition.actor });
      if (top === 'refreshing') refreshes.add(1, { upstream: transition.actor });
    },
    async shutdown() {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}
