/**
 * `npm run soak [-- --minutes N] [--max-old-space MB]`: a long session with an upstream that keeps dying.
 *
 * The built proxy (over stdio, as a host runs it) fronts two Streamable HTTP upstreams on 127.0.0.1: `steady` and
 * `flaky`, which is killed every 20 s and restarted 3 s later. Calls run at concurrency 8, alternating between the
 * two, for N minutes (default 4). Reported: calls ok / failed / hung (no answer after twice the call timeout; a
 * hung call is left behind and its worker goes on), failures by message, the proxy's RSS over time with its slope
 * (least squares over the samples after the first minute) and its open file descriptors at start and end.
 * A report, not a test: the exit code is 0 unless the soak itself could not run.
 */
import { parseArgs } from 'node:util';
import { startUpstream } from '../test/fixtures/upstreams.js';
import { openFds, rssMb, spawnProxy } from './proxy-process.js';

const CONCURRENCY = 8;
const CALL_TIMEOUT_MS = 3_000;
const HUNG_AFTER_MS = 2 * CALL_TIMEOUT_MS;
const KILL_EVERY_MS = 20_000;
const DOWN_FOR_MS = 3_000;
const SAMPLE_EVERY_MS = 5_000;

const { values: flags } = parseArgs({
  // --max-old-space MB caps the proxy's heap: RSS that levels off under a cap is lazy GC, not a leak (a leak dies).
  options: { minutes: { type: 'string', default: '4' }, 'max-old-space': { type: 'string' } },
  strict: true,
});
const minutes = Math.max(0.5, Math.min(60, Number(flags.minutes) || 4));
const durationMs = minutes * 60_000;

interface Sample {
  atS: number;
  rssMb: number;
  fds: number;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

async function main(): Promise<void> {
  const steady = await startUpstream({ kind: 'streamable-http', name: 'steady', tools: ['echo'] });
  const flaky = await startUpstream({ kind: 'streamable-http', name: 'flaky', tools: ['echo'] });
  const heapCap = flags['max-old-space'];
  const proxy = await spawnProxy(
    [
      { name: 'steady', url: steady.url.href, timeout_ms: CALL_TIMEOUT_MS },
      { name: 'flaky', url: flaky.url.href, timeout_ms: CALL_TIMEOUT_MS, tool_prefix: 'flaky_' },
    ],
    { nodeArgs: heapCap ? [`--max-old-space-size=${Number(heapCap)}`] : [] },
  );
  const { client, pid } = proxy;
  const tools = (await client.listTools()).tools.map((tool) => tool.name);
  if (!tools.includes('echo') || !tools.includes('flaky_echo')) throw new Error(`the proxy lists ${tools.join(', ')}`);

  const started = Date.now();
  const samples: Sample[] = [];
  const sample = () => samples.push({ atS: (Date.now() - started) / 1000, rssMb: rssMb(pid), fds: openFds(pid) });
  sample();
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);

  let kills = 0;
  const killer = setInterval(() => {
    kills++;
    void flaky.kill().then(() => setTimeout(() => void flaky.restart().catch(() => {}), DOWN_FOR_MS));
  }, KILL_EVERY_MS);

  const counts = { ok: 0, failed: 0, hung: 0, lateAnswers: 0 };
  const failures = new Map<string, number>();
  const fail = (message: string) => {
    counts.failed++;
    // Numbers (ports, ms, ids) vary; the kind of failure does not.
    const kind = message.replace(/\d+/g, 'N').slice(0, 140);
    failures.set(kind, (failures.get(kind) ?? 0) + 1);
  };
  let next = 0;
  const worker = async () => {
    while (Date.now() - started < durationMs) {
      const name = next++ % 2 === 0 ? 'echo' : 'flaky_echo';
      const call = client
        .callTool({ name, arguments: { text: 'soak' } }, { timeout: 10 * HUNG_AFTER_MS })
        .then((result): { error?: string; ok?: boolean } => {
          const text = (result.content as Array<{ text?: string }>)[0]?.text ?? '';
          return result.isError ? { error: `${name}: ${text}` } : { ok: text === 'soak' };
        })
        .catch((error: unknown): { error?: string; ok?: boolean } => ({ error: `${name}: ${String(error)}` }));
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((resolve) => {
        timer = setTimeout(() => resolve('hung'), HUNG_AFTER_MS);
      });
      const outcome = await Promise.race([call, hung]);
      clearTimeout(timer);
      if (outcome === 'hung') {
        counts.hung++;
        void call.then(() => counts.lateAnswers++);
      } else if (outcome.error !== undefined) fail(outcome.error);
      else if (outcome.ok) counts.ok++;
      else fail(`${name}: wrong answer`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(killer);
  clearInterval(sampler);
  sample();

  const tail = samples.filter((s) => s.atS >= 60);
  const fit = tail.length >= 2 ? tail : samples;
  const mbPerMinute = slope(fit.map((s) => [s.atS / 60, s.rssMb])) || 0;
  const first = samples[0]!;
  const last = samples.at(-1)!;
  console.log(
    `soak: ${minutes} min, concurrency ${CONCURRENCY}, call timeout ${CALL_TIMEOUT_MS} ms, hung after ${HUNG_AFTER_MS} ms`,
  );
  console.log(`  "flaky" killed ${kills} times (every ${KILL_EVERY_MS / 1000} s, down ${DOWN_FOR_MS / 1000} s)`);
  console.log(
    `  calls: ${counts.ok} ok, ${counts.failed} failed, ${counts.hung} hung (${counts.lateAnswers} answered late)`,
  );
  for (const [kind, count] of [...failures].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    console.log(`    ${String(count).padStart(6)} × ${kind}`);
  }
  console.log(`  proxy RSS: ${first.rssMb.toFixed(1)} MB at start, ${last.rssMb.toFixed(1)} MB at end`);
  console.log(
    `  RSS slope: ${mbPerMinute.toFixed(2)} MB/min (least squares over ${fit.length} samples${fit === tail ? ' after the first minute' : ''})`,
  );
  console.log(
    `  samples (s: MB RSS / fds): ${samples.map((s) => `${s.atS.toFixed(0)}: ${s.rssMb.toFixed(0)}/${s.fds}`).join(', ')}`,
  );
  console.log(`  proxy open fds: ${first.fds} at start, ${last.fds} at end`);
  const warnings = proxy.maxListenerWarnings();
  if (warnings > 0) console.log(`  MaxListenersExceededWarning lines on the proxy's stderr: ${warnings}`);

  await proxy.close();
  await Promise.allSettled([steady.close(), flaky.close()]);
}

// Bounded whatever happens: the soak's length plus time to set up and wind down.
setTimeout(() => {
  console.error('soak: gave up past its deadline');
  process.exit(1);
}, durationMs + 60_000).unref();
await main();
process.exit(0);
