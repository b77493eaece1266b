/**
 * What a hot reload of --config costs while the client works: the built proxy with a config file, echo calls to an
 * upstream the edits never touch running the whole time, and the file edited over and over: another upstream added
 * and removed, and a tool re-described in place. Reported: how long after the save the client sees the change, whether
 * a single call of the untouched upstream failed or slowed, and the proxy's memory after the cycles (retired actors
 * and sessions must not pile up).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printTable } from './peers.js';
import { type ProxyProcess, rssMb, spawnProxy } from './proxy-process.js';
import { percentile, runLoad, summarize } from './stats.js';

export interface ReloadOptions {
  /** The upstream process's Streamable HTTP URL (both configured upstreams are sessions of it). */
  url: string;
  quick: boolean;
}

const LOAD_CONCURRENCY = 8;
/** No step waits longer than this for the client to see a change: a hang, not a slow machine. */
const CHANGE_DEADLINE_MS = 10_000;

const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

export async function runReload({ url, quick }: ReloadOptions): Promise<void> {
  const cycles = quick ? 5 : 25;
  console.log(
    `\nHot reload (--config): ${cycles} cycles of adding and removing an upstream, and of re-describing a tool in place, while ${LOAD_CONCURRENCY} clients call an untouched upstream`,
  );
  const dir = await mkdtemp(join(tmpdir(), 'mcp-upstream-proxy-reload-'));
  const path = join(dir, 'proxy.json');
  const steady = { name: 'steady', url, transport: 'http', tool_prefix: 's_' };
  const churn = { name: 'churn', url, transport: 'http', tool_prefix: 'c_' };
  const save = (upstreams: object[]) => writeFile(path, JSON.stringify({ upstreams }));
  await save([steady]);
  let changes = 0;
  const proxy = await spawnProxy([], {
    args: ['--config', path],
    env: { PROXY_UPSTREAMS: '' },
    onNotification: (client) =>
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        changes++;
      }),
  });
  try {
    await until(proxy, (names) => names.includes('s_echo'));
    const call = async () => {
      const result = await proxy.client.callTool({ name: 's_echo', arguments: { text: 'x' } });
      if (result.isError) throw new Error(JSON.stringify(result.content).slice(0, 200));
    };
    const baseline = summarize([
      await runLoad(call, { count: 100_000, concurrency: LOAD_CONCURRENCY, deadlineMs: quick ? 1_000 : 3_000 }),
    ]);
    const rssBefore = rssMb(proxy.pid);

    const added: number[] = [];
    const removed: number[] = [];
    const updated: number[] = [];
    let reloading = true;
    // Read by runLoad's workers before each call: set to 0, it stops them once the edits are done.
    const duringOptions = { count: 1_000_000, concurrency: LOAD_CONCURRENCY, deadlineMs: 120_000 };
    const during = runLoad(call, duringOptions).finally(() => {
      reloading = false;
    });
    let rssHalfway = Number.NaN;
    for (let cycle = 0; cycle < cycles && reloading; cycle++) {
      if (cycle === Math.floor(cycles / 2)) rssHalfway = rssMb(proxy.pid);
      added.push(
        await timed(
          () => save([steady, churn]),
          proxy,
          (names) => names.includes('c_echo'),
        ),
      );
      removed.push(
        await timed(
          () => save([steady]),
          proxy,
          (names) => !names.includes('c_echo'),
        ),
      );
      const before = changes;
      updated.push(
        await timed(
          () => save([{ ...steady, tools: { echo: { description: `Echoes, edit ${cycle}.` } } }]),
          proxy,
          () => changes > before,
        ),
      );
    }
    duringOptions.count = 0;
    const load = summarize([await during]);
    const rssAfter = rssMb(proxy.pid);
    const sorted = (values: number[]) => Float64Array.from(values).sort();
    const row = (what: string, values: number[]) => [
      what,
      String(values.length),
      fmt(percentile(sorted(values), 0.5), 0),
      fmt(percentile(sorted(values), 1), 0),
    ];
    printTable(
      [
        ['edit saved → the client sees it', 'edits', 'p50 ms', 'max ms'],
        row('upstream added: its tools listed', added),
        row('upstream removed: its tools gone', removed),
        row('description changed: list_changed', updated),
      ],
      1,
    );
    printTable(
      [
        ['calls of the untouched upstream', 'calls', 'errors', 'p50 ms', 'p99 ms'],
        [
          'before the edits',
          String(baseline.completed),
          String(baseline.errors),
          fmt(baseline.p50Ms, 2),
          fmt(baseline.p99Ms, 2),
        ],
        ['during the edits', String(load.completed), String(load.errors), fmt(load.p50Ms, 2), fmt(load.p99Ms, 2)],
      ],
      1,
    );
    if (load.firstError) console.log(`  first error during the edits: ${load.firstError}`);
    // Growth that stops is the heap settling; growth that goes on would be retired actors or sessions kept.
    console.log(
      `  proxy RSS: ${fmt(rssBefore, 1)} MB before the edits, ${fmt(rssHalfway, 1)} MB halfway, ${fmt(rssAfter, 1)} MB after ${cycles * 3} of them`,
    );
  } finally {
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Lists until `seen` holds of the exposed tool names (or a list_changed count), within the deadline. */
async function until(proxy: ProxyProcess, seen: (names: string[]) => boolean): Promise<void> {
  const deadline = Date.now() + CHANGE_DEADLINE_MS;
  for (;;) {
    const { tools } = await proxy.client.listTools();
    if (seen(tools.map((tool) => tool.name))) return;
    if (Date.now() > deadline) throw new Error(`reload bench: the change was not seen within ${CHANGE_DEADLINE_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Milliseconds from the start of the save until the client sees the change. */
async function timed(edit: () => Promise<void>, proxy: ProxyProcess, seen: (names: string[]) => boolean) {
  const started = performance.now();
  await edit();
  await until(proxy, seen);
  return performance.now() - started;
}
