/**
 * OpenTelemetry's settings, from its standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (the OTLP/HTTP base URL; the
 * signals' paths, `/v1/traces` and `/v1/metrics`, are added to it) turns telemetry on, as does `--otel` (which
 * without the variable sends to a collector on this machine, `http://localhost:4318`).
 * `OTEL_METRIC_EXPORT_INTERVAL` is how often metrics are sent (default 60 s); they are sent at exit too.
 */
import { z } from 'zod';
import { integerVariable, MAX_TIMER_MS, read, variable } from './variables.js';

type Env = NodeJS.ProcessEnv;

export interface TelemetrySettings {
  /** Without a trailing slash. */
  endpoint: string;
  metricsIntervalMs: number;
}

export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
const DEFAULT_METRIC_INTERVAL_MS = 60_000;

const endpointSchema = variable.transform((raw, context) => {
  if (raw === undefined) return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.href.replace(/\/+$/, '');
  } catch {}
  context.addIssue({ code: 'custom', message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL' });
  return z.NEVER;
});

const intervalSchema = integerVariable(
  1,
  MAX_TIMER_MS,
  () => `OTEL_METRIC_EXPORT_INTERVAL must be a positive integer of milliseconds, at most ${MAX_TIMER_MS}`,
);

/** The settings when telemetry is on (the variable, or `flag`); undefined when off. Bad values go to `problems`. */
export function readTelemetrySettings(
  env: Env,
  flag: boolean | undefined,
  problems: string[],
): TelemetrySettings | undefined {
  const endpoint = read(endpointSchema, env.OTEL_EXPORTER_OTLP_ENDPOINT, undefined, problems);
  const metricsIntervalMs = read(intervalSchema, env.OTEL_METRIC_EXPORT_INTERVAL, DEFAULT_METRIC_INTERVAL_MS, problems);
  if (endpoint === undefined && !flag) return undefined;
  return { endpoint: endpoint ?? DEFAULT_OTLP_ENDPOINT, metricsIntervalMs };
}
