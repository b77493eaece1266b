/** Load generation and the numbers the benchmark reports. */

export interface LoadRun {
  /** One per completed call (successful or not), in milliseconds. */
  latencies: Float64Array;
  errors: number;
  /** The first error, to show what went wrong. */
  firstError?: string;
  wallMs: number;
}

export interface LoadOptions {
  count: number;
  concurrency: number;
  /** Stops starting calls after this; what completed is reported. */
  deadlineMs: number;
}

export interface LoadSummary {
  completed: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  p50Ms: number;
  p99Ms: number;
  callsPerSecond: number;
}

/**
 * Runs `call` `count` times with at most `concurrency` in flight (a closed loop: each worker starts its next call
 * when the last one settles) and times each call with `process.hrtime.bigint`.
 */
export async function runLoad(call: (index: number) => Promise<unknown>, options: LoadOptions): Promise<LoadRun> {
  const latencies = new Float64Array(options.count);
  let next = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(options.deadlineMs) * 1_000_000n;

  const worker = async () => {
    while (next < options.count) {
      const begin = process.hrtime.bigint();
      if (begin > deadline) return;
      const index = next++;
      try {
        await call(index);
      } catch (error) {
        errors++;
        firstError ??= describeError(error);
      }
      latencies[completed++] = Number(process.hrtime.bigint() - begin) / 1e6;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { latencies: latencies.subarray(0, completed), errors, firstError, wallMs };
}

/** Several runs of one scenario as one: latencies pooled, calls/s over the summed wall time. */
export function summarize(runs: readonly LoadRun[]): LoadSummary {
  const completed = runs.reduce((sum, run) => sum + run.latencies.length, 0);
  const pooled = new Float64Array(completed);
  let offset = 0;
  for (const run of runs) {
    pooled.set(run.latencies, offset);
    offset += run.latencies.length;
  }
  pooled.sort();
  const wallMs = runs.reduce((sum, run) => sum + run.wallMs, 0);
  return {
    completed,
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    firstError: runs.find((run) => run.firstError !== undefined)?.firstError,
    wallMs,
    p50Ms: percentile(pooled, 0.5),
    p99Ms: percentile(pooled, 0.99),
    callsPerSecond: wallMs > 0 ? completed / (wallMs / 1000) : Number.NaN,
  };
}

/** Nearest-rank percentile of sorted values; NaN when there are none. */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** The message, with the chain of causes (fetch's "fetch failed" says nothing without its cause). */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 4; depth++) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      parts.push(code === undefined ? current.message : `${current.message} (${String(code)})`);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(': ');
}
