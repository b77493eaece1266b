/**
 * The peers part of `npm run bench`: this proxy beside other stdio bridges to a remote MCP server, with the direct
 * SDK client as the baseline, all calling the same upstream process.
 *
 * - mcp-remote (devDependency): `proxy.js <url> --allow-http`; with no auth on the upstream it connects directly.
 *   Its config dir and HOME point at a temporary folder, so nothing lands in the real home.
 * - supergateway (devDependency): `--streamableHttp <url>`, stdio ← Streamable HTTP; in that mode it listens on
 *   nothing. `--logLevel none`, because at its default level it logs every message (10 MB results too) on stderr.
 *
 * Each subject is a fresh child process with an SDK client over its stdio, as an MCP host runs it. Measured like the
 * main table (warm-up, then rounds that rotate which subject goes first), with fewer calls, so that four subjects,
 * four payload sizes, an SSE upstream and the startup runs fit in under a minute. The subject's own CPU
 * per call comes from /proc; its peak RSS from VmHWM, reset before each payload size (clear_refs) and read after it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { upstreamFetch } from '../src/upstream/http.js';
import { VERSION } from '../src/version.js';
import { cpuMs, peakRssMb, resetPeakRss } from './proc.js';
import { describeError, type LoadRun, runLoad, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI_PATH = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const MCP_REMOTE_PATH = join(ROOT, 'node_modules/mcp-remote/dist/proxy.js');
const FLOOR_PATH = fileURLToPath(new URL('./stdio-floor.js', import.meta.url));
const SUPERGATEWAY_PATH = join(ROOT, 'node_modules/supergateway/dist/index.js');

/** A subject that is not connected and listing `echo` by then is reported as not running, and skipped. */
const CONNECT_TIMEOUT_MS = 20_000;
/** Per measured run: calls stop starting after this (the output says when a run was cut short). */
const RUN_BUDGET_MS = 4_000;
const ROUNDS = 2;
const MAX_ERROR_RATE = 0.05;
/**
 * The SDK's stdio client drops the connection at a message over 10 MiB (its default read buffer), which a 10 MiB
 * result plus its JSON framing is: the bench's clients take more, since what is measured is the subject, not that limit.
 */
const STDIO_MAX_BUFFER_BYTES = 64 * 2 ** 20;

export interface PeerOptions {
  /** The upstream process's Streamable HTTP and SSE URLs. */
  url: string;
  sseUrl: string;
  /** A tenth of the calls. */
  quick: boolean;
}

interface Subject {
  name: string;
  client: Client;
  /** The subject's process; none for the direct client, which runs in the bench process. */
  pid?: number;
  stderr: string[];
  close(): Promise<void>;
}

type Spawn = () => Promise<Subject>;

class PeerError extends Error {}

function collectLines(stream: Readable | null, into: string[]): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    into.push(line);
    if (into.length > 100) into.shift();
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PeerError(`${what}: not ready within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function connectDirect(name: string, url: string, sse: boolean): Promise<Subject> {
  const client = new Client({ name: 'bench-direct', version: VERSION });
  await client.connect(
    sse
      ? new SSEClientTransport(new URL(url), { fetch: upstreamFetch })
      : new StreamableHTTPClientTransport(new URL(url), { fetch: upstreamFetch }),
  );
  return { name, client, stderr: [], close: () => client.close().catch(() => {}) };
}

async function spawnStdio(name: string, args: string[], env: Record<string, string>): Promise<Subject> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: { ...getDefaultEnvironment(), ...env },
    stderr: 'pipe',
    maxBufferSize: STDIO_MAX_BUFFER_BYTES,
  });
  const stderr: string[] = [];
  collectLines(transport.stderr as Readable | null, stderr);
  const client = new Client({ name: `bench-${name}`, version: VERSION });
  const close = () => client.close().catch(() => {});
  try {
    await withTimeout(client.connect(transport), CONNECT_TIMEOUT_MS, name);
    const { tools } = await withTimeout(client.listTools(), CONNECT_TIMEOUT_MS, name);
    if (!tools.some((tool) => tool.name === 'echo') || !tools.some((tool) => tool.name === 'blob')) {
      throw new PeerError(
        `${name} lists ${tools.map((tool) => tool.name).join(', ') || 'no tools'}, not echo and blob`,
      );
    }
  } catch (error) {
    await close();
    const last = stderr.slice(-3).join(' | ');
    throw new PeerError(`${describeError(error)}${last ? ` (stderr: ${last})` : ''}`);
  }
  return { name, client, pid: transport.pid ?? undefined, stderr, close };
}

function spawnProxy(url: string, transport: 'http' | 'sse'): Promise<Subject> {
  return spawnStdio('proxy', [CLI_PATH], {
    ENABLE_ADDITIONAL_TOOLS: 'proxy',
    PROXY_UPSTREAMS: JSON.stringify([{ name: 'bench', url, transport }]),
    PROXY_CATALOG_CACHE: '0',
  });
}

function spawnMcpRemote(url: string, transport: 'http-only' | 'sse-only', home: string): Promise<Subject> {
  return spawnStdio('mcp-remote', [MCP_REMOTE_PATH, url, '--allow-http', '--transport', transport], {
    HOME: home,
    MCP_REMOTE_CONFIG_DIR: join(home, '.mcp-auth'),
  });
}

/** No upstream: a raw stdio server answering itself (bench/stdio-floor.ts), the least any stdio bridge can cost. */
function spawnFloor(): Promise<Subject> {
  return spawnStdio('stdio floor', [FLOOR_PATH], {});
}

function spawnSupergateway(url: string): Promise<Subject> {
  return spawnStdio('supergateway', [SUPERGATEWAY_PATH, '--streamableHttp', url, '--logLevel', 'none'], {});
}

async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<number> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new PeerError(`${name} answered an error: ${JSON.stringify(result.content).slice(0, 200)}`);
  const text = (result.content as { type: string; text?: string }[])[0]?.text;
  return text?.length ?? 0;
}

interface Measured {
  p50Ms: number;
  callsPerSecond: number;
  completed: number;
  errors: number;
  cut: boolean;
  /** The subject process's CPU ms per call; undefined for the direct client or where /proc cannot be read. */
  cpuPerCall?: number;
}

/**
 * Measures each subject in `ROUNDS` rounds, the order rotated each round, after a warm-up of its own. A subject
 * that fails more than MAX_ERROR_RATE of its calls is reported as failing, not measured.
 */
async function measure(
  subjects: readonly Subject[],
  call: (subject: Subject, index: number) => Promise<unknown>,
  { concurrency, warmup, count }: { concurrency: number; warmup: number; count: number },
  problems: string[],
): Promise<Map<string, Measured>> {
  const runs = new Map<string, LoadRun[]>(subjects.map((subject) => [subject.name, []]));
  const cpu = new Map<string, number | undefined>(subjects.map((subject) => [subject.name, 0]));
  for (const subject of subjects) {
    await runLoad((index) => call(subject, index), { count: warmup, concurrency, deadlineMs: RUN_BUDGET_MS });
  }
  for (let round = 0; round < ROUNDS; round++) {
    const order = subjects.map((_, index) => subjects[(index + round) % subjects.length]!);
    for (const subject of order) {
      const before = cpuMs(subject.pid);
      const run = await runLoad((index) => call(subject, index), {
        count: Math.ceil(count / ROUNDS),
        concurrency,
        deadlineMs: RUN_BUDGET_MS,
      });
      const after = cpuMs(subject.pid);
      const spent = cpu.get(subject.name);
      cpu.set(
        subject.name,
        before === undefined || after === undefined || spent === undefined ? undefined : spent + after - before,
      );
      runs.get(subject.name)!.push(run);
    }
  }
  const results = new Map<string, Measured>();
  for (const subject of subjects) {
    const summary = summarize(runs.get(subject.name)!);
    if (summary.errors > summary.completed * MAX_ERROR_RATE) {
      problems.push(
        `${subject.name} c=${concurrency}: ${summary.errors} of ${summary.completed} calls failed, first: ${summary.firstError}`,
      );
      continue;
    }
    if (summary.errors > 0) problems.push(`${subject.name} c=${concurrency}: ${summary.errors} failed calls`);
    const spent = cpu.get(subject.name);
    results.set(subject.name, {
      p50Ms: summary.p50Ms,
      callsPerSecond: summary.callsPerSecond,
      completed: summary.completed,
      errors: summary.errors,
      cut: summary.completed < Math.ceil(count / ROUNDS) * ROUNDS,
      cpuPerCall: subject.pid === undefined || spent === undefined ? undefined : spent / summary.completed,
    });
  }
  return results;
}

export function fmt(value: number | undefined, digits: number, suffix = ''): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : `${value.toFixed(digits)}${suffix}`;
}

function signed(value: number | undefined, digits: number): string {
  if (value === undefined || Number.isNaN(value)) return 'n/a';
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
}

function ratio(value: number | undefined, baseline: number | undefined): string {
  return value === undefined || baseline === undefined ? 'n/a' : fmt(value / baseline, 2, '×');
}

export function printTable(rows: string[][], leftColumns: number): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    const cells = row.map((cell, column) =>
      column < leftColumns ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
    );
    console.log(`  ${cells.join('   ')}`.trimEnd());
    if (index === 0) console.log(`  ${widths.map((width) => '─'.repeat(width)).join('   ')}`);
  }
}

/** Starts each subject; one that cannot start is reported and left out, the others go on. */
async function startAll(spawns: [string, Spawn][], problems: string[]): Promise<Subject[]> {
  const subjects: Subject[] = [];
  for (const [name, start] of spawns) {
    try {
      subjects.push(await start());
    } catch (error) {
      problems.push(`${name} did not start: ${error instanceof PeerError ? error.message : describeError(error)}`);
    }
  }
  return subjects;
}

const PAYLOAD_SIZES = [
  { label: '1 KB', bytes: 1_024, calls: 40 },
  { label: '100 KB', bytes: 100 * 1_024, calls: 20 },
  { label: '1 MB', bytes: 2 ** 20, calls: 8 },
  { label: '10 MB', bytes: 10 * 2 ** 20, calls: 3 },
];

/** Time per call (p50, c=1) of each payload size, and the subject's peak RSS by then. */
async function measurePayloads(
  subjects: readonly Subject[],
  problems: string[],
): Promise<Map<string, { p50Ms?: number; peakMb?: number }[]>> {
  const results = new Map<string, { p50Ms?: number; peakMb?: number }[]>(subjects.map((subject) => [subject.name, []]));
  let sinceStart = false;
  for (const size of PAYLOAD_SIZES) {
    for (const subject of subjects) {
      if (subject.pid !== undefined && !resetPeakRss(subject.pid)) sinceStart = true;
      // One call first: the first large string through a process grows its heap, which is not the steady cost.
      const call = async () => {
        const length = await callTool(subject.client, 'blob', { bytes: size.bytes });
        if (length !== size.bytes) throw new PeerError(`blob answered ${length} bytes, not ${size.bytes}`);
      };
      await runLoad(call, { count: 1, concurrency: 1, deadlineMs: RUN_BUDGET_MS });
      const run = await runLoad(call, { count: size.calls, concurrency: 1, deadlineMs: 3 * RUN_BUDGET_MS });
      const summary = summarize([run]);
      if (summary.errors > 0)
        problems.push(`${subject.name} ${size.label}: ${summary.errors} failed, first: ${summary.firstError}`);
      results.get(subject.name)!.push({
        p50Ms: summary.errors === summary.completed ? undefined : summary.p50Ms,
        peakMb: peakRssMb(subject.pid),
      });
    }
  }
  if (sinceStart) problems.push('peak RSS could not be reset (clear_refs): it is the peak since the process started');
  return results;
}

/** The upstreams of a many-upstream proxy: all on the one bench upstream, told apart by name and tool prefix. */
export function manyUpstreams(url: string, upstreams: number) {
  return Array.from({ length: upstreams }, (_, index) => ({
    name: `u${index}`,
    url,
    transport: 'http',
    tool_prefix: `u${index}_`,
  }));
}

/** Lists until every upstream's echo is there: the proxy may answer before every upstream is listed. */
export async function untilAllListed(client: Client, upstreams: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { tools } = await client.listTools();
    if (tools.filter((tool) => tool.name.endsWith('echo')).length >= upstreams) return;
    if (Date.now() > deadline) {
      throw new PeerError(`${upstreams} upstreams: not all listed within ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Spawn to the first complete tools/list (every upstream's echo listed). Cold by default (no catalog cache); `env`
 * can turn the cache on, with PROXY_TOKEN_DIR at a folder of the bench's own.
 */
export async function measureStartup(
  url: string,
  upstreams: number,
  env: Record<string, string> = {},
): Promise<number> {
  const started = process.hrtime.bigint();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_PATH],
    env: {
      ...getDefaultEnvironment(),
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify(manyUpstreams(url, upstreams)),
      PROXY_CATALOG_CACHE: '0',
      ...env,
    },
    stderr: 'pipe',
  });
  const stderr: string[] = [];
  collectLines(transport.stderr as Readable | null, stderr);
  const client = new Client({ name: 'bench-startup', version: VERSION });
  try {
    await withTimeout(client.connect(transport), CONNECT_TIMEOUT_MS, 'proxy');
    await untilAllListed(client, upstreams);
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    await client.close().catch(() => {});
  }
}

/** Cold startup times (ms, undefined for a failed run) by number of upstreams, for the warm ones beside them. */
export type StartupTimes = Map<number, (number | undefined)[]>;

export const STARTUP_UPSTREAMS = [1, 20, 100] as const;

/** Runs the peer comparison, the payload sizes, the SSE upstream and the startup times, and prints their tables. */
export async function runPeers(options: PeerOptions): Promise<{ coldStartup: StartupTimes }> {
  const scale = options.quick ? 0.1 : 1;
  const n = (calls: number) => Math.max(10, Math.round(calls * scale));
  const problems: string[] = [];
  const home = mkdtempSync(join(tmpdir(), 'mcp-upstream-proxy-bench-home-'));
  const open: Subject[] = [];
  try {
    const c1 = { concurrency: 1, warmup: n(200), count: n(600) };
    const c64 = { concurrency: 64, warmup: n(1_000), count: n(3_000) };
    console.log(
      `\nPeers: fresh processes on the same upstream; c=1: ${c1.warmup} warm-up + ${c1.count} measured, ` +
        `c=64: ${c64.warmup} warm-up + ${c64.count} measured (fewer calls than above, in ${ROUNDS} rounds); ` +
        `payloads at c=1: ${PAYLOAD_SIZES.map((size) => `${size.label} ×${size.calls}`).join(', ')}`,
    );
    const subjects = await startAll(
      [
        ['direct', () => connectDirect('direct', options.url, false)],
        ['proxy', () => spawnProxy(options.url, 'http')],
        ['mcp-remote', () => spawnMcpRemote(options.url, 'http-only', home)],
        ['supergateway', () => spawnSupergateway(options.url)],
        ['stdio floor', () => spawnFloor()],
      ],
      problems,
    );
    open.push(...subjects);
    if (!subjects.some((subject) => subject.name === 'direct')) throw new PeerError(problems.join('; '));
    const echo = (subject: Subject, index: number) => callTool(subject.client, 'echo', { text: `hello ${index}` });
    const latency = await measure(subjects, echo, c1, problems);
    const throughput = await measure(subjects, echo, c64, problems);
    const payloads = await measurePayloads(subjects, problems);

    console.log(
      '\nPer subject (SDK Client → stdio → subject → Streamable HTTP → upstream; direct: SDK Client → upstream)\n',
    );
    const d1 = latency.get('direct');
    const d64 = throughput.get('direct');
    const d10 = payloads.get('direct')?.[3]?.p50Ms;
    const rows: string[][] = [
      [
        'subject',
        'p50 c=1 (ms)',
        'p50 − direct',
        'calls/s c=64',
        '÷ direct',
        'subject CPU ms/call c=64',
        '10 MB p50 (ms)',
        '÷ direct',
      ],
    ];
    for (const subject of subjects) {
      const l = latency.get(subject.name);
      const t = throughput.get(subject.name);
      const big = payloads.get(subject.name)?.[3]?.p50Ms;
      const isDirect = subject.name === 'direct';
      rows.push([
        isDirect
          ? 'direct (baseline)'
          : subject.name === 'supergateway'
            ? 'supergateway (stdio ← Streamable HTTP)'
            : subject.name === 'stdio floor'
              ? 'stdio floor (raw server, no upstream)'
              : subject.name,
        `${fmt(l?.p50Ms, 3)}${l?.cut ? '*' : ''}`,
        isDirect ? '' : signed(l && d1 ? l.p50Ms - d1.p50Ms : undefined, 3),
        `${fmt(t?.callsPerSecond, 0)}${t?.cut ? '*' : ''}`,
        isDirect ? '' : ratio(t?.callsPerSecond, d64?.callsPerSecond),
        isDirect ? '—' : fmt(t?.cpuPerCall, 3),
        fmt(big, 1),
        isDirect ? '' : ratio(big, d10),
      ]);
    }
    printTable(rows, 1);
    if ([...latency.values(), ...throughput.values()].some((result) => result.cut)) {
      console.log('  * cut short by the time limit (fewer calls measured)');
    }

    console.log(
      '\nPayload sizes: blob tool, p50 ms per call at c=1 (peak RSS of the subject process during that size, MB)\n',
    );
    const sizeRows: string[][] = [['subject', ...PAYLOAD_SIZES.map((size) => size.label)]];
    for (const subject of subjects) {
      sizeRows.push([
        subject.name,
        ...(payloads.get(subject.name) ?? []).map(
          (cell) => `${fmt(cell.p50Ms, 1)} (${subject.pid === undefined ? 'bench' : fmt(cell.peakMb, 0)})`,
        ),
      ]);
    }
    printTable(sizeRows, 1);
    for (const subject of open.splice(0)) await subject.close();

    // The legacy transport: the direct client, the proxy and mcp-remote (supergateway's SSE mode is another bridge).
    const sseSubjects = await startAll(
      [
        ['direct', () => connectDirect('direct', options.sseUrl, true)],
        ['proxy', () => spawnProxy(options.sseUrl, 'sse')],
        ['mcp-remote', () => spawnMcpRemote(options.sseUrl, 'sse-only', home)],
      ],
      problems,
    );
    open.push(...sseSubjects);
    const sse1 = { concurrency: 1, warmup: n(100), count: n(400) };
    const sse64 = { concurrency: 64, warmup: n(500), count: n(2_000) };
    const sseLatency = await measure(sseSubjects, echo, sse1, problems);
    const sseThroughput = await measure(sseSubjects, echo, sse64, problems);
    console.log(
      `\nSSE upstream (legacy HTTP+SSE): echo, c=1: ${sse1.count} calls, c=64: ${sse64.count} calls per subject\n`,
    );
    const sd1 = sseLatency.get('direct');
    const sd64 = sseThroughput.get('direct');
    const sseRows: string[][] = [
      ['subject', 'p50 c=1 (ms)', 'p50 − direct', 'calls/s c=64', '÷ direct', 'subject CPU ms/call c=64'],
    ];
    for (const subject of sseSubjects) {
      const l = sseLatency.get(subject.name);
      const t = sseThroughput.get(subject.name);
      const isDirect = subject.name === 'direct';
      sseRows.push([
        isDirect ? 'direct (baseline)' : subject.name,
        `${fmt(l?.p50Ms, 3)}${l?.cut ? '*' : ''}`,
        isDirect ? '' : signed(l && sd1 ? l.p50Ms - sd1.p50Ms : undefined, 3),
        `${fmt(t?.callsPerSecond, 0)}${t?.cut ? '*' : ''}`,
        isDirect ? '' : ratio(t?.callsPerSecond, sd64?.callsPerSecond),
        isDirect ? '—' : fmt(t?.cpuPerCall, 3),
      ]);
    }
    printTable(sseRows, 1);
    for (const subject of open.splice(0)) await subject.close();

    console.log('\nProxy startup: spawn to the first tools/list with every upstream, cold (PROXY_CATALOG_CACHE=0)\n');
    const startupRows: string[][] = [['upstreams', 'ms (each run)']];
    const coldStartup: StartupTimes = new Map();
    for (const upstreams of STARTUP_UPSTREAMS) {
      const times: (number | undefined)[] = [];
      for (let run = 0; run < 2; run++) {
        try {
          times.push(await measureStartup(options.url, upstreams));
        } catch (error) {
          problems.push(
            `startup with ${upstreams}: ${error instanceof PeerError ? error.message : describeError(error)}`,
          );
          times.push(undefined);
        }
      }
      coldStartup.set(upstreams, times);
      startupRows.push([String(upstreams), times.map((ms) => (ms === undefined ? 'failed' : fmt(ms, 0))).join(', ')]);
    }
    printTable(startupRows, 1);

    if (problems.length > 0) {
      console.log('\nPeer problems (the figures above leave these out)');
      for (const problem of problems) console.log(`  ${problem}`);
    }
    return { coldStartup };
  } finally {
    for (const subject of open.splice(0)) await subject.close();
    rmSync(home, { recursive: true, force: true });
  }
}
