/** When telemetry is on, and where it sends: OpenTelemetry's standard variables and `--otel`. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OTLP_ENDPOINT, readTelemetrySettings } from '../../src/config/index.js';

describe('readTelemetrySettings', () => {
  it('is off without the endpoint variable or the flag', () => {
    expect(readTelemetrySettings({}, undefined, [])).toBeUndefined();
    expect(readTelemetrySettings({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false, [])).toBeUndefined();
  });

  it('sends to the endpoint the variable names (without its trailing slash), or to a local collector with --otel', () => {
    expect(readTelemetrySettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example:4318/' }, undefined, [])).toEqual(
      {
        endpoint: 'https://otel.example:4318',
        metricsIntervalMs: 60_000,
      },
    );
    expect(readTelemetrySettings({ OTEL_METRIC_EXPORT_INTERVAL: '5000' }, true, [])).toEqual({
      endpoint: DEFAULT_OTLP_ENDPOINT,
      metricsIntervalMs: 5000,
    });
  });

  it('names a bad value and stays off', () => {
    const problems: string[] = [];
    expect(
      readTelemetrySettings(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318', OTEL_METRIC_EXPORT_INTERVAL: '0' },
        undefined,
        problems,
      ),
    ).toBeUndefined();
    expect(problems).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL',
      'OTEL_METRIC_EXPORT_INTERVAL must be a positive integer of milliseconds, at most 2147483647',
    ]);
  });
});
