/**
 * `npm run demo`: the built proxy between a real MCP client and two example upstreams, all on this machine.
 *
 * Starts a Streamable HTTP upstream ("weather") and a legacy-SSE-only one ("notes") on 127.0.0.1, runs
 * dist/src/cli.js over stdio with both in PROXY_UPSTREAMS (the SSE one with the default http-first transport,
 * so the fallback shows), prints each upstream's state transitions from the proxy's stderr, the aggregated
 * tools, and one call per upstream; then closes everything. Exit 0 when all of that worked, 1 otherwise.
 */
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { VERSION } from '../version.js';
import { type ExampleUpstream, startNotesUpstream, startWeatherUpstream } from './upstreams.js';

const DEMO_TIMEOUT_MS = 30_000;
/** stdout (the replies) and stderr (the log) are separate pipes: give the log a moment to catch up. */
const LOG_CATCH_UP_MS = 1_000;
const CLI_PATH = fileURLToPath(new URL('../cli.js', import.meta.url));

const LOG_PREFIX = '[mcp-upstream-proxy] ';
const TRANSITION_LINE = /^(?:(warning|error): )?upstream "([^"]+)": (.*)$/;

interface ProxyLogLine {
  /** Milliseconds since the proxy was spawned. */
  at: number;
  level: 'info' | 'warning' | 'error';
  /** Set for upstream state transitions. */
  upstream?: string;
  text: string;
}

/** What the proxy said on stderr, line by line, with a way to wait for a line. */
class ProxyLog {
  readonly lines: ProxyLogLine[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly startedAt: number) {}

  follow(stream: Readable): void {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (raw) => {
      const body = raw.startsWith(LOG_PREFIX) ? raw.slice(LOG_PREFIX.length) : raw;
      const match = TRANSITION_LINE.exec(body);
      const line: ProxyLogLine = match
        ? {
            at: Date.now() - this.startedAt,
            level: (match[1] as 'warning' | 'error' | undefined) ?? 'info',
            upstream: match[2],
            text: match[3]!,
          }
        : {
            at: Date.now() - this.startedAt,
            level: body.startsWith('error: ') ? 'error' : body.startsWith('warning: ') ? 'warning' : 'info',
            text: body.replace(/^(error|warning): /, ''),
          };
      this.lines.push(line);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves when `done` holds for the lines so far, or after `timeoutMs` (the caller checks again). */
  async waitFor(done: (lines: readonly ProxyLogLine[]) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.lines) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

class DemoError extends Error {}

/** Runs one step of the demo; a failure says which step it was. */
async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DemoError) throw error;
    throw new DemoError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

function section(title: string): void {
  console.log(`\n${title}\n${'─'.repeat(title.length)}`);
}

function printLogLine(line: ProxyLogLine, nameWidth: number): void {
  const at = `+${line.at} ms`.padStart(9);
  const level = line.level === 'info' ? '' : `${line.level.toUpperCase()}: `;
  if (line.upstream === undefined) {
    console.log(`  ${at}  ${'(proxy)'.padEnd(nameWidth)}  ${level}${line.text}`);
    return;
  }
  let text = line.text;
  // The first state has no "from": say where it came from.
  if (!text.includes(' → ')) text = `(start) → ${text}`;
  let note = '';
  if (/connecting\.http → connecting\.sse/.test(text)) note = '   ← no Streamable HTTP there: falling back to SSE';
  console.log(`  ${at}  ${line.upstream.padEnd(nameWidth)}  ${level}${text}${note}`);
}

function resultText(result: Awaited<ReturnType<Client['callTool']>>): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((block) => (block.type === 'text' ? (block.text ?? '') : `[${block.type} content]`)).join('\n');
}

interface DemoState {
  transport?: StdioClientTransport;
  log?: ProxyLog;
  /** Log lines already shown. */
  printed: number;
}

async function runDemo(upstreams: ExampleUpstream[], state: DemoState): Promise<void> {
  console.log(`mcp-upstream-proxy ${VERSION}: demo`);
  console.log('Everything runs on 127.0.0.1; no network, no browser, no configuration.');

  section('Example upstreams');
  const nameWidth = Math.max('UPSTREAM'.length, ...upstreams.map((upstream) => upstream.name.length));
  for (const upstream of upstreams) {
    const kind = upstream.transport === 'sse' ? 'legacy SSE only' : 'Streamable HTTP';
    console.log(
      `  ${upstream.name.padEnd(nameWidth)}  ${kind.padEnd(15)}  ${upstream.url}  tools: ${upstream.tools.join(', ')}`,
    );
  }

  if (!existsSync(CLI_PATH)) throw new DemoError(`${CLI_PATH} is missing: run \`npm run build\` first`);
  // No transport given: each upstream uses the default, Streamable HTTP first with a fallback to SSE.
  const proxyUpstreams = upstreams.map((upstream) => ({ name: upstream.name, url: upstream.url }));
  section('Starting the proxy');
  console.log(`  node ${relative(process.cwd(), CLI_PATH)}`);
  console.log('  ENABLE_ADDITIONAL_TOOLS=proxy');
  console.log(`  PROXY_UPSTREAMS=${JSON.stringify(proxyUpstreams)}`);

  const startedAt = Date.now();
  const log = new ProxyLog(startedAt);
  state.log = log;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_PATH],
    // Only the safe defaults (PATH, HOME, ...): the user's own PROXY_* or DEBUG must not change the demo.
    env: {
      ...getDefaultEnvironment(),
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify(proxyUpstreams),
      // The demo's upstreams live for one run: nothing of them is saved in the user's token folder.
      PROXY_CATALOG_CACHE: '0',
    },
    stderr: 'pipe',
  });
  state.transport = transport;
  log.follow(transport.stderr as Readable);
  const client = new Client({ name: 'mcp-upstream-proxy-demo', version: VERSION });
  await step('starting an MCP session with the proxy', () => client.connect(transport));
  console.log(`  connected over stdio in ${Date.now() - startedAt} ms (pid ${transport.pid})`);

  // The first tools/list waits until every upstream is ready or has failed.
  const { tools } = await step('listing the tools (tools/list)', () => client.listTools());
  const allReady = (lines: readonly ProxyLogLine[]) =>
    upstreams.every((upstream) =>
      lines.some((line) => line.upstream === upstream.name && /→ connected\.ready|^connected\.ready/.test(line.text)),
    );
  await log.waitFor(allReady, LOG_CATCH_UP_MS);

  section("Upstream state transitions (the proxy's stderr)");
  for (const line of log.lines) printLogLine(line, nameWidth);
  state.printed = log.lines.length;

  section(`Aggregated tools (${tools.length})`);
  const owner = new Map(upstreams.flatMap((upstream) => upstream.tools.map((tool) => [tool, upstream.name] as const)));
  const toolWidth = Math.max('TOOL'.length, ...tools.map((tool) => tool.name.length));
  console.log(`  ${'TOOL'.padEnd(toolWidth)}  ${'UPSTREAM'.padEnd(nameWidth)}  DESCRIPTION`);
  for (const tool of tools) {
    console.log(
      `  ${tool.name.padEnd(toolWidth)}  ${(owner.get(tool.name) ?? '?').padEnd(nameWidth)}  ${tool.description ?? ''}`,
    );
  }
  const missing = upstreams.flatMap((upstream) =>
    upstream.tools
      .filter((name) => !tools.some((tool) => tool.name === name))
      .map((name) => `${upstream.name}/${name}`),
  );
  if (missing.length > 0) throw new DemoError(`the proxy does not expose ${missing.join(', ')}`);

  section('Calls through the proxy');
  const calls: { upstream: string; name: string; arguments: Record<string, unknown>; expect: string }[] = [
    { upstream: 'weather', name: 'forecast', arguments: { city: 'Lisbon' }, expect: 'Lisbon: sunny' },
    { upstream: 'notes', name: 'add_note', arguments: { title: 'Demo', text: 'Sent through the proxy' }, expect: '#2' },
    { upstream: 'notes', name: 'list_notes', arguments: {}, expect: '#2 Demo' },
  ];
  for (const call of calls) {
    const began = process.hrtime.bigint();
    const result = await step(`calling ${call.name}`, () =>
      client.callTool({ name: call.name, arguments: call.arguments }),
    );
    const ms = Number(process.hrtime.bigint() - began) / 1e6;
    const text = resultText(result);
    console.log(`  ${call.upstream} › ${call.name} ${JSON.stringify(call.arguments)}  (${ms.toFixed(1)} ms)`);
    for (const line of text.split('\n')) console.log(`      ${line}`);
    if (result.isError) throw new DemoError(`${call.name} answered an error: ${text}`);
    if (!text.includes(call.expect)) throw new DemoError(`${call.name} answered ${JSON.stringify(text)}`);
  }

  section('Closing');
  await step('closing the session', () => client.close());
  state.transport = undefined;
  for (const line of log.lines.slice(state.printed)) printLogLine(line, nameWidth);
  state.printed = log.lines.length;
  console.log('  proxy stopped (stdin closed)');
}

async function main(): Promise<number> {
  const started = Date.now();
  const state: DemoState = { printed: 0 };
  const upstreams: ExampleUpstream[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    upstreams.push(
      await step('starting the weather upstream', () => startWeatherUpstream('weather')),
      await step('starting the notes upstream', () => startNotesUpstream('notes')),
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DemoError(`timed out after ${DEMO_TIMEOUT_MS / 1000} s`)), DEMO_TIMEOUT_MS);
    });
    await Promise.race([runDemo(upstreams, state), timeout]);
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    console.log(`  upstreams closed\n\nDemo finished in ${Date.now() - started} ms.`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`\ndemo failed: ${message}`);
    // A bug in the demo itself, rather than a step that failed: the stack helps.
    if (!(error instanceof DemoError) && error instanceof Error && error.stack) console.error(error.stack);
    const unseen = state.log?.lines.slice(state.printed) ?? [];
    if (unseen.length > 0) {
      console.error("\nThe proxy's stderr:");
      for (const line of unseen)
        console.error(
          `  +${line.at} ms  ${line.level === 'info' ? '' : `${line.level}: `}${line.upstream ? `upstream "${line.upstream}": ` : ''}${line.text}`,
        );
    }
    // Cleanup is bounded too: a proxy that ignores stdin and SIGTERM is SIGKILLed by close() within 4 s.
    await state.transport?.close().catch(() => {});
    await Promise.allSettled(upstreams.map((upstream) => upstream.close()));
    return 1;
  } finally {
    clearTimeout(timer);
  }
}

// Whatever still holds the event loop (a socket, a child), the demo ends here.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo failed: ${String(error)}`);
    process.exit(1);
  },
);
