#!/usr/bin/env node
/**
 * `npm run conformance`: the official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned at 0.1.13,
 * the last release that runs on Node 20), client scenarios, with the built proxy as the client under test. The
 * suite's runner starts `host.mjs` (an MCP host that spawns `dist/src/cli.js` over stdio) once per scenario.
 *
 * Every client scenario the suite lists runs (except those in NOT_RUN, each with its reason), one runner invocation
 * per scenario rather than `--suite auth`: the suite mode starts all 15 auth scenarios at once (30 node processes,
 * plus test browsers), which on a 2-core machine under load pushed hosts past the runner's timeout, and it ignores
 * the host's exit code. Here sse-retry (timing-sensitive) runs first and alone, then the others CONCURRENCY at a
 * time (with the few that only wait beside them), each run bounded by RUN_TIMEOUT_MS.
 *
 * The runner's mock servers listen on every interface, so each run goes inside a private network namespace with
 * only loopback up (`unshare -rn`, which works without root): nothing is reachable from outside, and nothing outside
 * is reached. The runner's output and results go to a temp folder, kept and named on stderr when something failed;
 * a short summary goes to stderr. Exit code 1 on any unexpected failure (or an expected one that now passes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = join(ROOT, 'test/conformance');
const CONFORMANCE_BIN = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const EXPECTED_FAILURES = join(HERE, 'expected-failures.yml');
const PROXY_BIN = join(ROOT, 'dist/src/cli.js');
/** Each runner invocation (one scenario) is killed after this long. */
const RUN_TIMEOUT_MS = 120_000;
/** The runner's own limit for one host process (its --timeout); generous, for a loaded machine. */
const SCENARIO_TIMEOUT_MS = 60_000;
/** Scenarios run at once, after sse-retry (which runs alone). */
const CONCURRENCY = Number(process.env.CONFORMANCE_CONCURRENCY ?? 3);
/** Timing-sensitive (it measures the reconnection delay): runs first, with nothing of ours beside it. */
const ALONE = ['sse-retry'];
/**
 * Scenarios whose tool never appears through the proxy (it refuses the upstream, or cannot sign in to it), so the
 * host waits its whole tool wait: they run beside the pool from the start, as they mostly sleep.
 */
const WAITING = ['auth/resource-mismatch', 'auth/scope-retry-limit'];

/** Client scenarios the suite lists that are deliberately not run, with the reason. */
const NOT_RUN = {};
/** CONFORMANCE_ONLY=a,b: run just these scenarios (to work on them); the others are reported as skipped. */
const ONLY = process.env.CONFORMANCE_ONLY?.split(',').filter(Boolean);

const log = (line = '') => process.stderr.write(`${line}\n`);

function fail(message) {
  log(`conformance: ${message}`);
  process.exit(1);
}

/** A command on PATH, or in the sbin folders a non-root PATH often lacks (`ip` lives in /usr/sbin on Debian). */
function findCommand(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function preflight() {
  const unshare = findCommand('unshare');
  if (!unshare) fail('`unshare` not found: install the Debian package util-linux (apt-get install util-linux)');
  const ip = findCommand('ip');
  if (!ip) fail('`ip` not found: install the Debian package iproute2 (apt-get install iproute2)');
  if (!existsSync(CONFORMANCE_BIN)) fail('@modelcontextprotocol/conformance is not installed: run npm ci');
  if (!existsSync(PROXY_BIN)) fail(`${relative(ROOT, PROXY_BIN)} is missing: run npm run build first`);
  const probe = spawnSync(unshare, ['-rn', ip, 'link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    fail(
      `cannot create a private network namespace (unshare -rn: ${(probe.stderr || probe.error?.message || '').trim()}); ` +
        'unprivileged user namespaces must be allowed (sysctl kernel.unprivileged_userns_clone=1, or a container ' +
        'run with a seccomp/AppArmor profile that permits unshare)',
    );
  }
  return { unshare, ip };
}

/** Quoted for the runner, which splits --command on spaces and hands it to a shell. */
const shellQuote = (value) => `'${value.replaceAll("'", `'\\''`)}'`;

/** One runner invocation inside `unshare -rn`; resolves with its exit code (or 'timeout') and output. */
function runConformance({ unshare, ip }, args, logFile) {
  const command = `${shellQuote(process.execPath)} ${shellQuote(join(HERE, 'host.mjs'))}`;
  const runner = [process.execPath, CONFORMANCE_BIN, 'client', '--command', command, ...args];
  return new Promise((resolve) => {
    // A group of its own, so that a timeout ends the runner, the hosts and the proxies together.
    const child = spawn(
      unshare,
      ['-rn', 'sh', '-c', `${shellQuote(ip)} link set lo up && exec "$@"`, 'sh', ...runner],
      {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, RUN_TIMEOUT_MS);
    running.add(child);
    child.on('close', async (code) => {
      clearTimeout(timer);
      running.delete(child);
      await writeFile(logFile, output);
      resolve({ code: timedOut ? 'timeout' : code, output });
    });
  });
}

const running = new Set();
function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) killGroup(child);
    process.exit(130);
  });
}

/** Every `checks.json` the runner wrote under `dir`, as scenario → checks. */
async function readResults(dir) {
  const results = new Map();
  for (const entry of await readdir(dir, { recursive: true })) {
    if (!entry.endsWith('checks.json')) continue;
    // <out>/<scenario>-<ISO timestamp with - for : and .>/checks.json; auth scenarios sit in <out>/auth/.
    const scenario = entry.replace(/-\d{4}-\d\d-\d\dT[\d-]+Z\/checks\.json$/, '');
    results.set(scenario, JSON.parse(await readFile(join(dir, entry), 'utf8')));
  }
  return results;
}

/** The client scenarios this version of the suite has. */
function listedScenarios() {
  const listing = spawnSync(process.execPath, [CONFORMANCE_BIN, 'list', '--client'], { encoding: 'utf8' });
  if (listing.status !== 0) fail(`cannot list the client scenarios: ${listing.stderr.trim()}`);
  return [...listing.stdout.matchAll(/^\s+- (\S+)$/gm)].map((match) => match[1]);
}

async function expectedFailures() {
  const text = await readFile(EXPECTED_FAILURES, 'utf8');
  return new Set([...text.matchAll(/^\s*-\s*(\S+)\s*$/gm)].map((match) => match[1]));
}

const started = Date.now();
const tools = preflight();
const expected = await expectedFailures();
const listed = listedScenarios();
const work = await mkdtemp(join(tmpdir(), 'mcp-upstream-proxy-conformance-'));
const resultsDir = join(work, 'results');
/** scenario → the runner's exit code (or 'timeout'), wall time and log file. */
const runs = new Map();

/**
 * One scenario, one runner. The runner's exit code counts the host's own exit code too (a host that could not
 * call its tool fails the scenario, unless the scenario expects that), except with --expected-failures, which is
 * given only for the scenarios listed there, so that they fail as expected, or fail the run once they pass.
 */
async function runScenario(scenario) {
  const args = ['--scenario', scenario, '--timeout', String(SCENARIO_TIMEOUT_MS), '--output-dir', resultsDir];
  if (expected.has(scenario)) args.push('--expected-failures', EXPECTED_FAILURES);
  const runStarted = Date.now();
  const logFile = join(work, `${scenario.replace(/[^\w.-]+/g, '_')}.log`);
  const { code } = await runConformance(tools, args, logFile);
  runs.set(scenario, { code, seconds: (Date.now() - runStarted) / 1000, logFile });
}

const scenarios = listed.filter((scenario) => !(scenario in NOT_RUN) && (!ONLY || ONLY.includes(scenario)));
for (const scenario of scenarios.filter((s) => ALONE.includes(s))) await runScenario(scenario);
const queue = scenarios.filter((s) => !ALONE.includes(s) && !WAITING.includes(s));
await Promise.all([
  ...scenarios.filter((s) => WAITING.includes(s)).map(runScenario),
  ...Array.from({ length: CONCURRENCY }, async () => {
    for (let scenario = queue.shift(); scenario !== undefined; scenario = queue.shift()) await runScenario(scenario);
  }),
]);

const results = await readResults(resultsDir);
let problems = 0;
log('');
log('MCP conformance, client scenarios (@modelcontextprotocol/conformance 0.1.13), the proxy as the client:');
for (const scenario of [...listed].sort()) {
  const run = runs.get(scenario);
  if (!run) {
    if (scenario in NOT_RUN || (ONLY && !ONLY.includes(scenario))) {
      log(`  skip  ${scenario}: ${NOT_RUN[scenario] ?? 'not in CONFORMANCE_ONLY'}`);
    } else {
      problems++;
      log(`  FAIL  ${scenario}: listed by the suite but not run`);
    }
    continue;
  }
  const checks = results.get(scenario) ?? [];
  const count = (status) => checks.filter((check) => check.status === status).length;
  const failedChecks = checks.filter((check) => check.status === 'FAILURE' || check.status === 'WARNING');
  const counts = `${count('SUCCESS')} passed, ${count('FAILURE')} failed${count('WARNING') ? `, ${count('WARNING')} warnings` : ''}`;
  const time = `${run.seconds.toFixed(1)} s`;
  if (run.code === 0) {
    const mark = expected.has(scenario) ? 'xfail' : 'pass ';
    const note = expected.has(scenario) ? ', expected (see expected-failures.yml)' : '';
    log(`  ${mark} ${scenario}: ${counts}${note} (${time})`);
    continue;
  }
  problems++;
  const why =
    run.code === 'timeout'
      ? `killed after ${RUN_TIMEOUT_MS / 1000} s`
      : expected.has(scenario) && failedChecks.length === 0
        ? 'passes but is listed in expected-failures.yml: remove it there'
        : failedChecks.length === 0
          ? 'the host failed'
          : counts;
  log(`  FAIL  ${scenario}: ${why} (${time}; ${run.logFile})`);
  for (const check of failedChecks) {
    log(`          ${check.status}: ${check.name}: ${check.errorMessage ?? check.description}`);
  }
}
const total = ((Date.now() - started) / 1000).toFixed(1);
if (problems > 0) {
  log(`conformance: ${problems} unexpected result(s) in ${total} s; the runner's output and results are in ${work}`);
  process.exit(1);
}
await rm(work, { recursive: true, force: true });
log(`conformance: passed in ${total} s`);
