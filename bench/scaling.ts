/**
 * The scaling part of `npm run bench` (after the peers; skipped by --no-peers): how the proxy's cost moves with what
 * it is given, each on fresh proxy processes (bench/proxy-process.ts) in front of the bench's one upstream process.
 *
 * - calls in flight: proxy CPU per call and calls/s at concurrency 16, 64 and 256, one proxy, warmed up first;
 * - observability: calls/s and CPU per call at c=64 with nothing on, with the trace log (PROXY_TRACE), and with
 *   PROXY_INSPECT=1 and both event streams followed, in two interleaved rounds, a fresh proxy per run;
 * - idle memory: VmRSS with 1 and 20 upstreams after the first complete tools/list and 2 s of idle;
 * - memory over many calls: VmRSS of one proxy at 10k, 25k, 50k, 75k and 100k echo calls at c=64 (no heap cap:
 *   what a host sees), which is what takes most of this section's time;
 * - warm startup: spawn to the first complete tools/list with 1, 20 and 100 upstreams when each has a persisted
 *   catalog (PROXY_TOKEN_DIR in a temporary folder, filled by one run first), beside the cold times of the peers.
 *
 * A report: nothing here is a target, and a part that cannot run is listed as a problem while the others go on.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followInspectStreams } from './inspect-streams.js';
import {
  fmt,
  manyUpstreams,
  measureStartup,
  printTable,
  STARTUP_UPSTREAMS,
  type StartupTimes,
  untilAllListed,
} from './peers.js';
import { cpuMs, rssMb } from './proc.js';
import { type ProxyProcess, type ProxyUpstream, spawnProxy } from './proxy-process.js';
import { describeError, type LoadRun, type LoadSummary, runLoad, summarize } from './stats.js';

const MAX_ERROR_RATE = 0.05;
/** Per measured run: calls stop starting after this (the tables mark a run cut short). */
const RUN_BUDGET_MS = 8_000;
/** The 100k calls at the 2-core machine's ~1,000 calls/s take most of this; past it the samples stop. */
const LONG_RUN_BUDGET_MS = 180_000;
const IDLE_MS = 2_000;
/** Lines every proxy writes at startup; anything else on its stderr is reported. */
const USUAL_STDERR = /^\[mcp-upstream-proxy\] (upstream "[^"]+": |started with |status page: |Stately inspector: )/;

export interface ScalingOptions {
  /** The upstream process's Streamable HTTP URL. */
  url: string;
  /** A tenth of the calls (10k instead of 100k in the long run). */
  quick: boolean;
  /** The peers' cold startup times, printed beside the warm ones. */
  coldStartup?: StartupTimes;
}

interface Context {
  url: string;
  n: (calls: number) => number;
  problems: string[];
  /** Unusual stderr lines of the proxies, by line (counted once). */
  unusual: Set<string>;
  /** Whether a measured run was cut short by its time budget. */
  cut: boolean;
}

interface Measured {
  summary: LoadSummary;
  /** Proxy CPU ms per call; undefined where /proc cannot be read. */
  cpuPerCall?: number;
  cut: boolean;
}

const ONE_UPSTREAM = (url: string): ProxyUpstream[] => [{ name: 'bench', url, transport: 'http' }];

async function callEcho(proxy: ProxyProcess, text: string): Promise<void> {
  const result = await proxy.client.callTool({ name: 'echo', arguments: { text } });
  if (result.isError) throw new Error(`echo answered an error: ${JSON.stringify(result.content).slice(0, 200)}`);
}

/** A fresh proxy that lists echo; `ctx.unusual` gets its odd stderr lines when it is closed. */
async function startProxy(
  ctx: Context,
  upstreams: ProxyUpstream[],
  env: Record<string, string> = {},
): Promise<ProxyProcess> {
  const proxy = await spawnProxy(upstreams, { env });
  const close = proxy.close;
  proxy.close = async () => {
    await close();
    for (const line of proxy.stderr) if (!USUAL_STDERR.test(line)) ctx.unusual.add(line);
  };
  try {
    await untilAllListed(proxy.client, upstreams.length);
  } catch (error) {
    await proxy.close();
    throw error;
  }
  return proxy;
}

/** Runs echo calls and checks the error rate: a few failures are reported, many make the run worthless. */
async function load(
  ctx: Context,
  proxy: ProxyProcess,
  what: string,
  concurrency: number,
  count: number,
  deadlineMs = RUN_BUDGET_MS,
): Promise<LoadRun> {
  const run = await runLoad((index) => callEcho(proxy, `hello ${index}`), { count, concurrency, deadlineMs });
  if (run.errors > count * MAX_ERROR_RATE) {
    throw new Error(`${what}: ${run.errors} of ${count} calls failed, first: ${run.firstError}`);
  }
  if (run.errors > 0) ctx.problems.push(`${what}: ${run.errors} of ${count} calls failed, first: ${run.firstError}`);
  return run;
}

/** One measured run with the proxy's CPU time around it. */
async function measure(
  ctx: Context,
  proxy: ProxyProcess,
  what: string,
  concurrency: number,
  count: number,
): Promise<Measured> {
  const before = cpuMs(proxy.pid);
  const run = await load(ctx, proxy, what, concurrency, count);
  const after = cpuMs(proxy.pid);
  const summary = summarize([run]);
  const cut = summary.completed < count;
  if (cut) ctx.cut = true;
  return {
    summary,
    cpuPerCall: before === undefined || after === undefined ? undefined : (after - before) / summary.completed,
    cut,
  };
}

const cutMark = (measured: { cut: boolean }) => (measured.cut ? '*' : '');

async function concurrencyTable(ctx: Context): Promise<void> {
  const warmup = ctx.n(2_000);
  const count = ctx.n(3_000);
  console.log(
    `\nCalls in flight: one proxy, ${warmup} warm-up calls at c=64, then per concurrency ${ctx.n(300)} warm-up + ${count} measured\n`,
  );
  const proxy = await startProxy(ctx, ONE_UPSTREAM(ctx.url));
  try {
    await load(ctx, proxy, 'c=64 warm-up', 64, warmup);
    const rows = [['c', 'calls/s', 'p50 (ms)', 'p99 (ms)', 'proxy CPU ms/call']];
    for (const concurrency of [16, 64, 256]) {
      await load(ctx, proxy, `c=${concurrency} warm-up`, concurrency, ctx.n(300));
      const m = await measure(ctx, proxy, `c=${concurrency}`, concurrency, count);
      rows.push([
        String(concurrency),
        `${fmt(m.summary.callsPerSecond, 0)}${cutMark(m)}`,
        fmt(m.summary.p50Ms, 2),
        fmt(m.summary.p99Ms, 2),
        fmt(m.cpuPerCall, 3),
      ]);
    }
    printTable(rows, 1);
  } finally {
    await proxy.close();
  }
}

type Variant = 'nothing' | 'trace log' | 'inspect, streams followed';
const VARIANTS: readonly Variant[] = ['nothing', 'trace log', 'inspect, streams followed'];

async function observabilityTable(ctx: Context): Promise<void> {
  // Enough for a fresh proxy's JIT to settle: with fewer, the rounds differed by more than what was measured.
  const warmup = ctx.n(3_000);
  const count = ctx.n(5_000);
  const rounds = 2;
  console.log(
    `\nObservability: c=64, a fresh proxy per run (${warmup} warm-up + ${count} measured), ${rounds} rounds, order rotated\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'mcp-upstream-proxy-bench-trace-'));
  const runs = new Map<Variant, Measured[]>(VARIANTS.map((variant) => [variant, []]));
  let traceBytes = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (let index = 0; index < VARIANTS.length; index++) {
        const variant = VARIANTS[(index + round) % VARIANTS.length]!;
        const traceFile = join(dir, `trace-${round}.jsonl`);
        const env: Record<string, string> =
          variant === 'trace log' ? { PROXY_TRACE: traceFile } : variant === 'nothing' ? {} : { PROXY_INSPECT: '1' };
        const proxy = await startProxy(ctx, ONE_UPSTREAM(ctx.url), env);
        let stopFollowing: (() => Promise<void>) | undefined;
        try {
          if (variant === 'inspect, streams followed') stopFollowing = await followInspectStreams(proxy.stderr);
          await load(ctx, proxy, `${variant} warm-up`, 64, warmup);
          runs.get(variant)!.push(await measure(ctx, proxy, `${variant} round ${round + 1}`, 64, count));
        } finally {
          await stopFollowing?.();
          await proxy.close();
        }
        if (variant === 'trace log' && existsSync(traceFile))
          traceBytes = Math.max(traceBytes, statSync(traceFile).size);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Over both rounds: calls over summed wall time, CPU weighted by calls.
  const pooled = (variant: Variant) => {
    const measured = runs.get(variant)!;
    const completed = measured.reduce((sum, m) => sum + m.summary.completed, 0);
    const wallMs = measured.reduce((sum, m) => sum + m.summary.wallMs, 0);
    const cpu = measured.some((m) => m.cpuPerCall === undefined)
      ? undefined
      : measured.reduce((sum, m) => sum + m.cpuPerCall! * m.summary.completed, 0) / completed;
    return { callsPerSecond: completed / (wallMs / 1000), cpu };
  };
  const baseline = pooled('nothing').callsPerSecond;
  const rows = [['proxy observed by', 'calls/s (each round)', 'calls/s', '% of nothing', 'proxy CPU ms/call']];
  for (const variant of VARIANTS) {
    const all = pooled(variant);
    rows.push([
      variant,
      runs
        .get(variant)!
        .map((m) => `${fmt(m.summary.callsPerSecond, 0)}${cutMark(m)}`)
        .join(', '),
      fmt(all.callsPerSecond, 0),
      fmt((100 * all.callsPerSecond) / baseline, 1, ' %'),
      fmt(all.cpu, 3),
    ]);
  }
  printTable(rows, 1);
  console.log(`  trace log after one run: ${fmt(traceBytes / 2 ** 20, 1)} MB`);
}

async function idleMemoryTable(ctx: Context): Promise<void> {
  console.log(
    `\nIdle memory: VmRSS of a fresh proxy after its first complete tools/list and ${IDLE_MS / 1000} s idle\n`,
  );
  // Both readings: one sample of RSS moves with when V8 last collected, and the pair shows by how much.
  const rows = [['upstreams', 'VmRSS right after the list (MB)', `VmRSS after ${IDLE_MS / 1000} s idle (MB)`]];
  const measured: number[] = [];
  for (const upstreams of [1, 20]) {
    const proxy = await startProxy(ctx, manyUpstreams(ctx.url, upstreams));
    try {
      const listed = rssMb(proxy.pid);
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      const rss = rssMb(proxy.pid);
      if (rss !== undefined) measured.push(rss);
      rows.push([String(upstreams), fmt(listed, 1), fmt(rss, 1)]);
    } finally {
      await proxy.close();
    }
  }
  printTable(rows, 1);
  if (measured.length === 2)
    console.log(`  per extra upstream, after idle: ${fmt((measured[1]! - measured[0]!) / 19, 2)} MB`);
}

async function longRunTable(ctx: Context, quick: boolean): Promise<void> {
  const checkpoints = [10_000, 25_000, 50_000, 75_000, 100_000].map((calls) => (quick ? calls / 10 : calls));
  console.log(
    `\nMemory over calls: one fresh proxy, ${checkpoints.at(-1)} echo calls at c=64, VmRSS at each checkpoint (no heap cap)\n`,
  );
  const proxy = await startProxy(ctx, ONE_UPSTREAM(ctx.url));
  const rows = [['calls', 'VmRSS (MB)', 'elapsed (s)']];
  const samples: number[] = [];
  try {
    const started = Date.now();
    let done = 0;
    for (const checkpoint of checkpoints) {
      const left = LONG_RUN_BUDGET_MS - (Date.now() - started);
      if (left <= 0) break;
      const run = await load(ctx, proxy, `${checkpoint} calls`, 64, checkpoint - done, left);
      done += run.latencies.length;
      const rss = rssMb(proxy.pid);
      if (rss !== undefined) samples.push(rss);
      rows.push([String(done), fmt(rss, 1), fmt((Date.now() - started) / 1000, 1)]);
    }
  } finally {
    await proxy.close();
  }
  printTable(rows, 1);
  if (samples.length >= 2) {
    console.log(
      `  growth from ${rows[1]![0]} to ${rows.at(-1)![0]} calls: ${fmt(samples.at(-1)! - samples[0]!, 1)} MB` +
        (rows.at(-1)![0] !== String(checkpoints.at(-1)) ? ' (cut short by the time limit)' : ''),
    );
  }
}

async function warmStartupTable(ctx: Context, cold: StartupTimes | undefined): Promise<void> {
  console.log(
    '\nWarm startup: spawn to the first tools/list with every upstream, each with a persisted catalog (filled by one run first)\n',
  );
  const rows = [['upstreams', 'cold ms (above)', 'filling run ms', 'warm ms (each run)', 'catalogs saved']];
  const ms = (value: number | undefined) => (value === undefined ? 'failed' : fmt(value, 0));
  for (const upstreams of STARTUP_UPSTREAMS) {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-upstream-proxy-bench-tokens-'));
    const env = { PROXY_CATALOG_CACHE: '1', PROXY_TOKEN_DIR: dir };
    const attempt = async (what: string) => {
      try {
        return await measureStartup(ctx.url, upstreams, env);
      } catch (error) {
        ctx.problems.push(`warm startup with ${upstreams}, ${what}: ${describeError(error)}`);
        return undefined;
      }
    };
    try {
      const filling = await attempt('filling run');
      // The proxy writes its catalogs as each upstream is listed and waits for them as it exits.
      const saved = readdirSync(dir).filter((name) => existsSync(join(dir, name, 'catalog.json'))).length;
      const warm = [await attempt('run 1'), await attempt('run 2')];
      rows.push([
        String(upstreams),
        cold?.get(upstreams)?.map(ms).join(', ') ?? 'n/a',
        ms(filling),
        warm.map(ms).join(', '),
        `${saved} of ${upstreams}`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  printTable(rows, 1);
}

/** Runs the scaling tables in turn; one that fails is reported, and the others still run. */
export async function runScaling(options: ScalingOptions): Promise<void> {
  const started = Date.now();
  const ctx: Context = {
    url: options.url,
    n: (calls) => Math.max(50, Math.round(calls * (options.quick ? 0.1 : 1))),
    problems: [],
    unusual: new Set(),
    cut: false,
  };
  const parts: [string, () => Promise<void>][] = [
    ['calls in flight', () => concurrencyTable(ctx)],
    ['observability', () => observabilityTable(ctx)],
    ['idle memory', () => idleMemoryTable(ctx)],
    ['memory over calls', () => longRunTable(ctx, options.quick)],
    ['warm startup', () => warmStartupTable(ctx, options.coldStartup)],
  ];
  for (const [name, part] of parts) {
    try {
      await part();
    } catch (error) {
      ctx.problems.push(`${name}: not measured, ${describeError(error)}`);
    }
  }
  if (ctx.cut) console.log('  * cut short by the time limit (fewer calls measured)');
  if (ctx.unusual.size > 0) {
    console.log(`\nThe scaling proxies wrote ${ctx.unusual.size} other distinct line(s) on stderr:`);
    for (const line of [...ctx.unusual].slice(0, 6)) console.log(`  ${line}`);
  }
  if (ctx.problems.length > 0) {
    console.log('\nScaling problems (the figures above leave these out)');
    for (const problem of ctx.problems) console.log(`  ${problem}`);
  }
  console.log(`\nScaling tables took ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}
