/**
 * `npm run bench`: what the proxy costs per tool call, against a client that talks to the upstream directly.
 *
 * One Streamable HTTP upstream with an `echo` tool runs in a process of its own on 127.0.0.1. The same kind of
 * client (the SDK's `Client`) calls it two ways: directly over Streamable HTTP (undici with keep-alive, as the
 * proxy does), and through the built proxy over stdio. Both are warmed up, then measured for a fixed number of
 * calls at concurrency 1 and 64, in rounds that alternate the two ways. Besides latency and calls/s, the CPU time
 * each process spent per call is reported: on a shared machine it is steadier than wall-clock numbers.
 *
 * The result is a table and two targets marked PASS or MISS; a miss never fails the run (benchmarks report, tests
 * assert). Exit 1 only when the benchmark itself could not run.
 *
 * Then, unless --no-peers, bench/peers.ts puts the proxy beside mcp-remote and supergateway on the same upstream, with
 * payload sizes, an SSE upstream and the proxy's startup with 1, 20 and 100 upstreams; and bench/scaling.ts prints
 * how the proxy scales: CPU per call at c=16/64/256, the cost of the trace log and of --inspect, idle RSS with 1 and
 * 20 upstreams, RSS over 100k calls, and warm startup (persisted catalogs) beside the cold one; and bench/reload.ts
 * what hot reloads of --config cost while calls run.
 *
 *   npm run bench                  the table
 *   npm run bench -- --profile     also a CPU profile of the proxy (node --cpu-prof) and its hotspots
 *   npm run bench -- --quick       a tenth of the calls, to try the bench itself
 *   npm run bench -- --trace       the proxy writes a trace log (PROXY_TRACE, to a temporary file)
 *   npm run bench -- --no-peers    only the table above: no peers, payload sizes, SSE, startup or scaling tables
 *   npm run bench -- --inspect     the proxy runs with PROXY_INSPECT=1, and the bench follows its status page's and
 *                                  inspector feed's event streams the whole time, as a browser showing them would
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { closeHttpAgent, upstreamFetch } from '../src/upstream/http.js';
import { VERSION } from '../src/version.js';
import { followInspectStreams } from './inspect-streams.js';
import { printTable, runPeers } from './peers.js';
import { cpuMs, rssMb } from './proc.js';
import { summarizeProfiles } from './profile.js';
import { runReload } from './reload.js';
import { runScaling } from './scaling.js';
import { describeError, type LoadRun, type LoadSummary, runLoad, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_PATH = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const UPSTREAM_PATH = fileURLToPath(new URL('./upstream.js', import.meta.url));

/**
 * Over this, the bench gives up: no step may hang the run. The peers (bench/peers.ts) take under a minute more, the
 * scaling tables (bench/scaling.ts) two to three, most of it their 100k calls.
 */
const benchDeadlineMs = () => (flags['no-peers'] ? 150_000 : 600_000);
/** Per scenario and way, the measured calls stop starting after this (the report says so). */
const MEASURE_BUDGET_MS = 20_000;
const WARMUP_BUDGET_MS = 5_000;
/** Rounds per scenario, alternating which way goes first, so a change of load on the machine hits both alike. */
const ROUNDS = 4;
/** More failed calls than this in one run, and the run is broken rather than measured. */
const MAX_ERROR_RATE = 0.05;
/** Issue 12's targets: as fast as the leanest bridge. */
const TARGET_OVERHEAD_P50_MS = 0.3;
const TARGET_THROUGHPUT_RATIO = 1;
const TARGET_PROXY_CPU_MS = 0.5;

type Way = 'direct' | 'proxy';
const WAYS: readonly Way[] = ['direct', 'proxy'];

interface Scenario {
  concurrency: number;
  warmup: number;
  count: number;
}

class BenchError extends Error {}

const { values: flags } = parseArgs({
  options: {
    profile: { type: 'boolean' },
    quick: { type: 'boolean' },
    trace: { type: 'boolean' },
    inspect: { type: 'boolean' },
    'no-peers': { type: 'boolean' },
  },
  strict: true,
  allowPositionals: false,
});
const scale = flags.quick ? 0.1 : 1;
/** Before anything is measured, per way: JIT, connection pools and heaps settle. */
const GLOBAL_WARMUP = { concurrency: 16, count: Math.round(4_000 * scale) };
const SCENARIOS: Scenario[] = [
  { concurrency: 1, warmup: Math.round(300 * scale), count: Math.round(2_000 * scale) },
  { concurrency: 64, warmup: Math.round(1_000 * scale), count: Math.round(10_000 * scale) },
];

/** Lines a child wrote on stderr, kept for when something goes wrong. */
function collectLines(stream: Readable | null, into: string[]): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    into.push(line);
    if (into.length > 200) into.shift();
  });
}

async function startUpstreamProcess(): Promise<{ child: ChildProcess; url: string; sseUrl: string }> {
  const child = spawn(process.execPath, [UPSTREAM_PATH], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const urls = await new Promise<{ url: string; sseUrl: string }>((resolve, reject) => {
      setTimeout(() => reject(new BenchError('the upstream did not start within 10 s')), 10_000).unref();
      child.once('error', reject);
      child.once('exit', (code) => reject(new BenchError(`the upstream exited (code ${code}) before it listened`)));
      createInterface({ input: child.stdout! }).once('line', (line) => {
        resolve(JSON.parse(line) as { url: string; sseUrl: string });
      });
    });
    child.removeAllListeners('exit');
    return { child, ...urls };
  } catch (error) {
    child.kill();
    throw error;
  }
}

async function callEcho(client: Client, text: string): Promise<void> {
  const result = await client.callTool({ name: 'echo', arguments: { text } });
  if (result.isError) throw new BenchError(`echo answered an error: ${JSON.stringify(result.content)}`);
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
}

function signed(value: number | undefined, digits: number): string {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

/** CPU ms per call of each process, over the runs of one way and scenario. */
interface CpuPerCall {
  client?: number;
  proxy?: number;
  upstream?: number;
}

interface Measured {
  load: LoadSummary;
  cpu: CpuPerCall;
}

interface BenchState {
  closers: (() => Promise<void>)[];
  proxyLog: string[];
}

async function bench(state: BenchState): Promise<void> {
  const started = Date.now();
  const cpu = cpus();
  console.log(`mcp-upstream-proxy ${VERSION}: benchmark`);
  console.log(
    `node ${process.version}, ${cpu.length} CPU(s) (${cpu[0]?.model.trim() ?? 'unknown'}), load average ${loadavg()[0]!.toFixed(2)}, loopback only`,
  );
  console.log(
    `echo tool on a Streamable HTTP upstream in its own process; per way: ${GLOBAL_WARMUP.count} warm-up calls at c=${GLOBAL_WARMUP.concurrency}, then ` +
      SCENARIOS.map((s) => `c=${s.concurrency}: ${s.warmup} warm-up + ${s.count} measured`).join(', '),
  );

  const upstream = await startUpstreamProcess();
  state.closers.push(async () => {
    upstream.child.stdin?.end();
    upstream.child.kill('SIGTERM');
  });

  const direct = new Client({ name: 'bench-direct', version: VERSION });
  await direct.connect(new StreamableHTTPClientTransport(new URL(upstream.url), { fetch: upstreamFetch }));
  state.closers.unshift(async () => {
    await direct.close().catch(() => {});
    await closeHttpAgent();
  });

  const profileDir = flags.profile ? mkdtempSync(join(tmpdir(), 'mcp-upstream-proxy-profile-')) : undefined;
  const traceFile = flags.trace
    ? join(mkdtempSync(join(tmpdir(), 'mcp-upstream-proxy-trace-')), 'trace.jsonl')
    : undefined;
  const observing = [traceFile && `trace log ${traceFile}`, flags.inspect && 'inspect on, its streams followed'];
  console.log(`proxy observed by: ${observing.filter(Boolean).join(', ') || 'nothing (no trace, no inspect)'}`);
  const proxyTransport = new StdioClientTransport({
    command: process.execPath,
    args: [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), CLI_PATH],
    env: {
      ...getDefaultEnvironment(),
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify([{ name: 'bench', url: upstream.url, transport: 'http' }]),
      // An upstream of one run: nothing of it is saved in the user's token folder.
      PROXY_CATALOG_CACHE: '0',
      ...(traceFile && { PROXY_TRACE: traceFile }),
      ...(flags.inspect && { PROXY_INSPECT: '1' }),
    },
    stderr: 'pipe',
  });
  collectLines(proxyTransport.stderr as Readable | null, state.proxyLog);
  const proxy = new Client({ name: 'bench-proxy', version: VERSION });
  await proxy.connect(proxyTransport);
  state.closers.unshift(() => proxy.close().catch(() => {}));
  const { tools } = await proxy.listTools();
  if (!tools.some((tool) => tool.name === 'echo')) {
    throw new BenchError(`the proxy does not expose "echo" (it lists: ${tools.map((tool) => tool.name).join(', ')})`);
  }
  if (flags.inspect) {
    const stop = await followInspectStreams(state.proxyLog).catch((error: unknown) => {
      throw new BenchError(`--${describeError(error)}`);
    });
    state.closers.unshift(stop);
  }
  const clients: Record<Way, Client> = { direct, proxy };
  for (const way of WAYS) {
    const result = await clients[way].callTool({ name: 'echo', arguments: { text: 'ping' } });
    const text = (result.content as { type: string; text?: string }[])[0]?.text;
    if (text !== 'ping') throw new BenchError(`${way}: echo answered ${JSON.stringify(result.content)}`);
  }

  const pids = { client: process.pid, proxy: proxyTransport.pid ?? undefined, upstream: upstream.child.pid };
  // A few failed calls are a finding to report, not a reason to throw the numbers away; many mean it is broken.
  const failures: { what: string; errors: number; count: number; first: string }[] = [];
  const load = async (way: Way, concurrency: number, count: number, deadlineMs: number, phase: string) => {
    const run = await runLoad((index) => callEcho(clients[way], `hello ${index}`), { count, concurrency, deadlineMs });
    if (run.errors > 0) {
      const what = `${way} c=${concurrency} ${phase}`;
      if (run.errors > count * MAX_ERROR_RATE) {
        throw new BenchError(`${what}: ${run.errors} of ${count} calls failed, first: ${run.firstError}`);
      }
      failures.push({ what, errors: run.errors, count, first: run.firstError ?? '' });
    }
    return run;
  };

  for (const way of WAYS) {
    await load(way, GLOBAL_WARMUP.concurrency, GLOBAL_WARMUP.count, WARMUP_BUDGET_MS, 'warm-up');
  }
  const memoryBefore = { proxy: rssMb(pids.proxy), upstream: rssMb(pids.upstream), client: rssMb(pids.client) };

  const results = new Map<string, Measured>();
  for (const scenario of SCENARIOS) {
    const runs: Record<Way, LoadRun[]> = { direct: [], proxy: [] };
    const cpuSpent: Record<Way, Record<keyof CpuPerCall, number | undefined>> = {
      direct: { client: 0, proxy: 0, upstream: 0 },
      proxy: { client: 0, proxy: 0, upstream: 0 },
    };
    for (const way of WAYS) await load(way, scenario.concurrency, scenario.warmup, WARMUP_BUDGET_MS, 'warm-up');
    for (let round = 0; round < ROUNDS; round++) {
      for (const way of round % 2 === 0 ? WAYS : [...WAYS].reverse()) {
        const before = { client: cpuMs(pids.client), proxy: cpuMs(pids.proxy), upstream: cpuMs(pids.upstream) };
        runs[way].push(
          await load(
            way,
            scenario.concurrency,
            Math.ceil(scenario.count / ROUNDS),
            MEASURE_BUDGET_MS / ROUNDS,
            `round ${round + 1}`,
          ),
        );
        for (const name of ['client', 'proxy', 'upstream'] as const) {
          const after = cpuMs(pids[name]);
          const was = before[name];
          const spent = cpuSpent[way][name];
          cpuSpent[way][name] =
            after === undefined || was === undefined || spent === undefined ? undefined : spent + after - was;
        }
      }
    }
    for (const way of WAYS) {
      const summary = summarize(runs[way]);
      const perCall = (ms: number | undefined) => (ms === undefined ? undefined : ms / summary.completed);
      results.set(`${way}:${scenario.concurrency}`, {
        load: summary,
        cpu: {
          client: perCall(cpuSpent[way].client),
          proxy: perCall(cpuSpent[way].proxy),
          upstream: perCall(cpuSpent[way].upstream),
        },
      });
      const cut = summary.completed < scenario.count ? ' (cut short by the time limit)' : '';
      console.log(
        `  measured ${way.padEnd(6)} c=${String(scenario.concurrency).padEnd(2)}  ${summary.completed} calls in ${(summary.wallMs / 1000).toFixed(2)} s${cut}`,
      );
    }
  }
  const memoryAfter = { proxy: rssMb(pids.proxy), upstream: rssMb(pids.upstream), client: rssMb(pids.client) };

  console.log(
    '\nPer call: direct = SDK Client → Streamable HTTP → upstream; proxy = SDK Client → stdio → proxy → upstream\n',
  );
  const rows: string[][] = [['c', 'metric', 'direct', 'proxy', 'proxy − direct', 'proxy / direct']];
  for (const scenario of SCENARIOS) {
    const d = results.get(`direct:${scenario.concurrency}`)!;
    const p = results.get(`proxy:${scenario.concurrency}`)!;
    const c = String(scenario.concurrency);
    const compare = (metric: string, direct: number | undefined, proxied: number | undefined, digits: number) =>
      rows.push([
        c,
        metric,
        fmt(direct, digits),
        fmt(proxied, digits),
        direct === undefined || proxied === undefined ? '' : signed(proxied - direct, digits),
        direct === undefined || proxied === undefined ? '' : `${fmt(proxied / direct, 2)}×`,
      ]);
    rows.push([c, 'calls measured', String(d.load.completed), String(p.load.completed), '', '']);
    rows.push([c, 'calls failed', String(d.load.errors), String(p.load.errors), '', '']);
    compare('latency p50 (ms)', d.load.p50Ms, p.load.p50Ms, 3);
    compare('latency p99 (ms)', d.load.p99Ms, p.load.p99Ms, 3);
    compare('calls/s', d.load.callsPerSecond, p.load.callsPerSecond, 0);
    rows.push([c, 'CPU ms/call: client', fmt(d.cpu.client, 3), fmt(p.cpu.client, 3), '', '']);
    rows.push([c, 'CPU ms/call: proxy', '—', fmt(p.cpu.proxy, 3), '', '']);
    rows.push([c, 'CPU ms/call: upstream', fmt(d.cpu.upstream, 3), fmt(p.cpu.upstream, 3), '', '']);
    const total = (cpu: CpuPerCall, withProxy: boolean) =>
      cpu.client === undefined || cpu.upstream === undefined || (withProxy && cpu.proxy === undefined)
        ? undefined
        : cpu.client + cpu.upstream + (withProxy ? cpu.proxy! : 0);
    compare('CPU ms/call: all', total(d.cpu, false), total(p.cpu, true), 3);
  }
  printTable(rows, 2);

  const overhead = results.get('proxy:1')!.load.p50Ms - results.get('direct:1')!.load.p50Ms;
  const ratio = results.get('proxy:64')!.load.callsPerSecond / results.get('direct:64')!.load.callsPerSecond;
  const proxyCpu = results.get('proxy:64')!.cpu.proxy;
  if (failures.length > 0) {
    console.log('\nFailed calls (counted above when measured; a failed call is timed like the others)');
    for (const failure of failures) {
      console.log(`  ${failure.what}: ${failure.errors} of ${failure.count}, first: ${failure.first}`);
    }
  }

  console.log('\nTargets');
  printTable(
    [
      ['target', 'measured', ''],
      [
        `proxy p50 − direct p50 at c=1 ≤ ${TARGET_OVERHEAD_P50_MS} ms`,
        `${signed(overhead, 3)} ms`,
        overhead <= TARGET_OVERHEAD_P50_MS ? 'PASS' : 'MISS',
      ],
      [
        `proxy calls/s ≥ ${TARGET_THROUGHPUT_RATIO * 100} % of direct at c=64`,
        `${(100 * ratio).toFixed(1)} %`,
        ratio >= TARGET_THROUGHPUT_RATIO ? 'PASS' : 'MISS',
      ],
      [
        `proxy CPU per call at c=64 ≤ ${TARGET_PROXY_CPU_MS} ms`,
        `${fmt(proxyCpu, 3)} ms`,
        proxyCpu !== undefined && proxyCpu <= TARGET_PROXY_CPU_MS ? 'PASS' : 'MISS',
      ],
    ],
    1,
  );

  console.log('\nMemory (VmRSS in MB, after the warm-up / after the last scenario)');
  printTable(
    [
      ['process', 'pid', 'before', 'after'],
      ['proxy', String(pids.proxy), fmt(memoryBefore.proxy, 1), fmt(memoryAfter.proxy, 1)],
      ['upstream', String(pids.upstream), fmt(memoryBefore.upstream, 1), fmt(memoryAfter.upstream, 1)],
      ['bench (both clients)', String(pids.client), fmt(memoryBefore.client, 1), fmt(memoryAfter.client, 1)],
    ],
    2,
  );
  console.log(`load average now ${loadavg()[0]!.toFixed(2)} (other processes on this machine skew wall-clock numbers)`);

  // Before the closers: the peers call the same upstream process.
  if (!flags['no-peers']) {
    const quick = Boolean(flags.quick);
    const { coldStartup } = await runPeers({ url: upstream.url, sseUrl: upstream.sseUrl, quick });
    await runScaling({ url: upstream.url, quick, coldStartup });
    await runReload({ url: upstream.url, quick });
  }

  for (const close of state.closers.splice(0)) await close();
  // Anything but the usual startup lines is worth seeing: a warning under load reaches every user's client log.
  const unusual = state.proxyLog.filter(
    (line) => !/^\[mcp-upstream-proxy\] (upstream "bench": |started with )/.test(line),
  );
  if (unusual.length > 0) {
    console.log(`\nThe proxy wrote ${unusual.length} more line(s) on stderr:`);
    for (const line of [...new Set(unusual)].slice(0, 6)) console.log(`  ${line}`);
  }
  if (profileDir) printProfile(profileDir);
  console.log(`\nBenchmark finished in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
}

function printProfile(profileDir: string): void {
  // The proxy writes its profile as it exits, which closing its stdin (client.close) made it do.
  const summary = summarizeProfiles(profileDir, ROOT);
  if (summary.busyMs === 0) {
    console.log(`\nNo CPU profile found in ${profileDir}.`);
    return;
  }
  console.log(`\nProxy CPU profile, ${(summary.busyMs / 1000).toFixed(2)} s busy: ${profileDir}`);
  console.log("\n  self time by origin (and with node's internals given to the package that called them)");
  const attributed = new Map(summary.byOriginAttributed.map((entry) => [entry.origin, entry.percent]));
  const origins = [...new Set([...summary.byOriginAttributed, ...summary.byOrigin].map((entry) => entry.origin))];
  const own = new Map(summary.byOrigin.map((entry) => [entry.origin, entry.percent]));
  for (const origin of origins.slice(0, 12)) {
    const percent = (value: number | undefined) => `${(value ?? 0).toFixed(1).padStart(5)} %`;
    console.log(`  ${percent(own.get(origin))}  ${percent(attributed.get(origin))}  ${origin}`);
  }
  console.log('\n  functions by self time (← the caller accounting for most of it)');
  for (const spot of summary.bySelf) {
    console.log(`  ${spot.percent.toFixed(1).padStart(5)} %  ${spot.name}  ${spot.location}`);
    if (spot.caller) console.log(`           ← ${spot.caller}`);
  }
  console.log('\n  project functions by total time (self + callees)');
  for (const spot of summary.projectByTotal) {
    console.log(`  ${spot.percent.toFixed(1).padStart(5)} %  ${spot.name}  ${spot.location}`);
  }
}

async function main(): Promise<number> {
  const state: BenchState = { closers: [], proxyLog: [] };
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BenchError(`not done after ${benchDeadlineMs() / 1000} s`)),
        benchDeadlineMs(),
      );
    });
    await Promise.race([bench(state), deadline]);
    return 0;
  } catch (error) {
    console.error(`\nbench failed: ${error instanceof BenchError ? error.message : describeError(error)}`);
    if (!(error instanceof BenchError) && error instanceof Error && error.stack) console.error(error.stack);
    if (state.proxyLog.length > 0) console.error(`\nThe proxy's stderr (last lines):\n${state.proxyLog.join('\n')}`);
    for (const close of state.closers.splice(0)) await close().catch(() => {});
    return 1;
  } finally {
    clearTimeout(timer);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${describeError(error)}`);
    process.exit(1);
  },
);
