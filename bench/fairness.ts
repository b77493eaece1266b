/**
 * `node dist/bench/fairness.js`: does one upstream's notification flood slow the other upstreams' calls?
 *
 * The built proxy (over stdio, as a host runs it) fronts two upstreams in a process of their own: a healthy one
 * (echo) and a flooder whose tools send 10,000 log messages or progress notifications in about a second. The
 * healthy upstream's echo is called at concurrency 8 with no flood (baseline), then while a flood runs, in
 * alternating rounds; latencies are pooled per scenario. Also reported: log messages the client received (and any
 * the proxy said it dropped), and MaxListenersExceededWarning lines on the proxy's stderr.
 *
 *   node dist/bench/fairness.js [--rounds 3] [--profile] [--cli PATH]
 *   (--profile: node --cpu-prof for the proxy; --cli: another build's dist/src/cli.js, to compare)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarizeProfiles } from './profile.js';
import { spawnProxy } from './proxy-process.js';
import { type LoadRun, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UPSTREAMS_PATH = fileURLToPath(new URL('./fault-upstreams.js', import.meta.url));
const CONCURRENCY = 8;
const BASELINE_MS = 1_500;
/** The whole bench gives up after this. */
const DEADLINE_MS = 180_000;

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, profile: { type: 'boolean' }, cli: { type: 'string' } },
  strict: true,
});
const rounds = Math.max(1, Math.min(10, Number(flags.rounds) || 3));

async function startUpstreams() {
  const child = spawn(process.execPath, [UPSTREAMS_PATH], { stdio: ['pipe', 'pipe', 'inherit'] });
  const urls = await new Promise<{ healthy: string; faulty: string }>((resolve, reject) => {
    setTimeout(() => reject(new Error('the upstreams did not start within 10 s')), 10_000).unref();
    child.once('exit', (code) => reject(new Error(`the upstreams exited (code ${code})`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
  });
  child.removeAllListeners('exit');
  return { ...urls, stop: () => void child.kill('SIGTERM') };
}

/** Closed-loop echo calls at CONCURRENCY until `until` settles; each call timed. */
async function callsUntil(call: () => Promise<void>, until: Promise<unknown>): Promise<LoadRun> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const worker = async () => {
    while (!done) {
      const begin = performance.now();
      try {
        await call();
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies: Float64Array.from(latencies), errors, firstError, wallMs: performance.now() - started };
}

async function main(): Promise<void> {
  const upstreams = await startUpstreams();
  const profileDir = flags.profile ? mkdtempSync(join(tmpdir(), 'fairness-profile-')) : undefined;
  let logged = 0;
  let droppedSaid = 0;
  const proxy = await spawnProxy(
    [
      { name: 'healthy', url: upstreams.healthy, transport: 'http', timeout_ms: 10_000 },
      { name: 'flooder', url: upstreams.faulty, transport: 'http', timeout_ms: 30_000, tool_prefix: 'flood_' },
    ],
    {
      ...(flags.cli && { cliPath: flags.cli }),
      nodeArgs: ['--trace-warnings', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
      onNotification: (client) =>
        client.setNotificationHandler('notifications/message', ({ params }) => {
          const dropped = /dropped (\d+)/i.exec(JSON.stringify(params.data));
          if (dropped) droppedSaid += Number(dropped[1]);
          else logged++;
        }),
    },
  );
  const { client } = proxy;
  try {
    await client.listTools();
    const echo = async () => {
      const result = await client.callTool({ name: 'echo', arguments: { text: 'x' } });
      if (result.isError) throw new Error(JSON.stringify(result.content));
    };
    const flood = (tool: 'log_flood' | 'progress_flood') =>
      client.callTool({ name: `flood_${tool}`, arguments: {} }, { timeout: 60_000, onprogress: () => {} });
    await callsUntil(echo, new Promise((resolve) => setTimeout(resolve, 2_000))); // warm-up
    const runs: Record<string, LoadRun[]> = { 'no flood': [], 'log flood': [], 'progress flood': [] };
    for (let round = 0; round < rounds; round++) {
      runs['no flood']!.push(await callsUntil(echo, new Promise((resolve) => setTimeout(resolve, BASELINE_MS))));
      runs['log flood']!.push(await callsUntil(echo, flood('log_flood')));
      runs['progress flood']!.push(await callsUntil(echo, flood('progress_flood')));
      // Let the proxy deliver what it still holds before the next baseline.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const base = summarize(runs['no flood']!);
    console.log(`healthy upstream's echo at concurrency ${CONCURRENCY}, ${rounds} round(s) each:`);
    for (const [scenario, scenarioRuns] of Object.entries(runs)) {
      const s = summarize(scenarioRuns);
      console.log(
        `  ${scenario.padEnd(15)} ${String(s.completed).padStart(6)} calls  p50 ${s.p50Ms.toFixed(2).padStart(7)} ms` +
          `  p99 ${s.p99Ms.toFixed(2).padStart(8)} ms  (p99 ×${(s.p99Ms / base.p99Ms).toFixed(1)})  errors ${s.errors}` +
          (s.firstError ? ` first: ${s.firstError}` : ''),
      );
    }
    console.log(`log messages received by the client: ${logged} of ${rounds * 10_000}, said dropped: ${droppedSaid}`);
    console.log(`MaxListenersExceededWarning lines on the proxy's stderr: ${proxy.maxListenerWarnings()}`);
    const warning = proxy.stderr.findIndex((line) => line.includes('MaxListenersExceededWarning'));
    if (warning !== -1) console.log(proxy.stderr.slice(warning, warning + 12).join('\n'));
  } finally {
    await proxy.close();
    upstreams.stop();
  }
  if (profileDir) {
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the profile is written at exit
    const summary = summarizeProfiles(profileDir, ROOT);
    console.log(`proxy CPU profile (${profileDir}): busy ${summary.busyMs.toFixed(0)} ms`);
    for (const { origin, percent } of summary.byOriginAttributed.slice(0, 8)) {
      console.log(`  ${percent.toFixed(1).padStart(5)} %  ${origin}`);
    }
    for (const spot of summary.bySelf.slice(0, 15)) console.log(`  self ${JSON.stringify(spot)}`);
    for (const spot of summary.projectByTotal.slice(0, 10)) console.log(`  project total ${JSON.stringify(spot)}`);
  }
}

setTimeout(() => {
  console.error('fairness: gave up after the deadline');
  process.exit(1);
}, DEADLINE_MS).unref();
await main();
process.exit(0);
