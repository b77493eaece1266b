/**
 * The built bin, spawned over stdio with a real SDK client, as an MCP client would run it. `npm test` builds first.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type ClientOptions } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEverything } from '../fixtures/everything.js';
import { startModernUpstream } from '../fixtures/modern-upstream.js';
import { startUpstream } from '../fixtures/upstreams.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Only what the proxy needs, so the developer's own PROXY_* or DEBUG variables can't change a test. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    PROXY_TOKEN_DIR: tokenDir,
    BROWSER: 'none',
    ...extra,
  };
}

// Tokens never come from (or go to) the developer's own store.
let tokenDir = '';
beforeAll(async () => {
  tokenDir = await mkdtemp(join(tmpdir(), 'proxy-e2e-tokens-'));
});
afterAll(() => rm(tokenDir, { recursive: true, force: true }));

async function connectBin(env: Record<string, string>, args: string[] = [], options: ClientOptions = {}) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, ...args], env, stderr: 'pipe' });
  const stderr: string[] = [];
  transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const client = new Client({ name: 'e2e', version: '1.0.0' }, options);
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport, stderr: () => stderr.join('') };
}

/** `promise`, or a failure if it has not settled after `seconds` (a hang, not a slow machine). */
function withinSeconds<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

/** Runs the bin to completion with no stdin, for the cases where it refuses to start. */
async function runBin(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = await once(child, 'exit');
  return { code: code as number, stdout, stderr };
}

describe('the built bin over stdio', () => {
  it("asks a 2026-07-28 client the upstream's questions as input_required rounds, from either era of upstream", async () => {
    const modern = await startModernUpstream('modern');
    const everything = await startEverything('streamableHttp');
    cleanups.push(
      () => modern.close(),
      () => everything.close(),
    );
    const env = cleanEnv({
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify([
        { name: 'modern', url: modern.url.href },
        { name: 'everything', url: everything.url.href },
      ]),
    });
    const asked: string[] = [];
    const { client } = await connectBin(env, [], {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    });
    client.setRequestHandler('elicitation/create', ({ params }) => {
      asked.push(params.message);
      return { action: 'accept', content: { name: 'Ada', check: true } };
    });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['ask_name', 'trigger-elicitation-request']));

    // A 2026-07-28 upstream asks in its own input_required round; the proxy asks the client in one of its own.
    const named = await client.callTool({ name: 'ask_name', arguments: {} });
    expect(named.content).toEqual([{ type: 'text', text: 'hello Ada' }]);
    // A 2025-era upstream sends elicitation/create mid-call and waits; the proxy turns it into a round too.
    const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    expect(JSON.stringify(elicited.content)).toContain('Name: Ada');
    expect(asked).toEqual(['What is your name?', 'Please provide inputs for the following fields:']);
  });

  it('serves a 2026-07-28 client (per-request envelopes, no initialize) as well as a 2025-era one', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    cleanups.push(() => http.close());
    const env = cleanEnv({
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify([{ name: 'alpha', url: http.url.href }]),
    });
    for (const options of [{ versionNegotiation: { mode: { pin: '2026-07-28' } } }, {}] as ClientOptions[]) {
      const { client } = await connectBin(env, [], options);
      const era = options.versionNegotiation ? 'modern' : 'legacy';
      expect(client.getProtocolEra()).toBe(era);
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(['echo']);
      const result = await client.callTool({ name: 'echo', arguments: { text: era } });
      expect(result.content).toEqual([{ type: 'text', text: era }]);
    }
  });

  it('proxies two upstreams, one over SSE, with the mcp-devtools configuration', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['alpha_tool'] });
    const sse = await startUpstream({ kind: 'sse', name: 'beta', tools: ['beta_tool'] });
    cleanups.push(
      () => http.close(),
      () => sse.close(),
    );
    // As pasted into an env block: newlines and a trailing comma.
    const upstreams = `[
      {"name": "alpha", "url": "${http.url}", "transport": "http"},
      {"name": "beta", "url": "${sse.url}", "transport": "http-first",},
    ]`;
    const { client, stderr } = await connectBin(
      cleanEnv({ ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: upstreams }),
    );
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['alpha_tool', 'beta_tool']);
    const result = await client.callTool({ name: 'beta_tool', arguments: {} });
    expect(result.content).toEqual([{ type: 'text', text: 'beta:beta_tool' }]);
    expect(stderr()).toMatch(/upstream "beta": connecting\.http → connecting\.sse/);
  });

  it('ends upstream sessions and exits when stdin closes', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['alpha_tool'] });
    cleanups.push(() => http.close());
    const child = spawn(process.execPath, [BIN], {
      env: cleanEnv({
        ENABLE_ADDITIONAL_TOOLS: 'proxy',
        PROXY_UPSTREAMS: JSON.stringify([{ name: 'a', url: http.url }]),
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const deadline = Date.now() + 10_000;
    while (!stdout.join('').includes('"id":2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Everything on stdout is JSON-RPC.
    for (const line of stdout.join('').trim().split('\n')) expect(JSON.parse(line).jsonrpc).toBe('2.0');
    expect(http.sessionCount).toBe(1);

    child.stdin.end();
    // The 2 s deadline is the proxy's own timer; a test on a loaded machine only checks that it does not hang.
    const [code] = await withinSeconds(10, once(child, 'exit'));
    expect(code).toBe(0);
    expect(http.sessionsDeleted).toBe(1);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('ends upstream sessions and exits on %s', async (signal) => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['alpha_tool'] });
    cleanups.push(() => http.close());
    const { client, transport } = await connectBin(
      cleanEnv({ ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: JSON.stringify([{ name: 'a', url: http.url }]) }),
    );
    await client.listTools();
    const pid = transport.pid!;
    const exited = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
    });
    process.kill(pid, signal);
    await withinSeconds(10, exited);
    expect(http.sessionsDeleted).toBe(1);
  });

  it('contacts no upstream when the gate is off, and says how to enable it', async () => {
    const http = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['alpha_tool'] });
    cleanups.push(() => http.close());
    const { client, stderr } = await connectBin(
      cleanEnv({
        ENABLE_ADDITIONAL_TOOLS: 'search,memory',
        PROXY_UPSTREAMS: JSON.stringify([{ name: 'a', url: http.url }]),
      }),
    );
    expect((await client.listTools()).tools).toEqual([]);
    expect(http.counters.httpRequests).toBe(0);
    expect(stderr()).toMatch(/ENABLE_ADDITIONAL_TOOLS/);
  });

  it('exits 2 with one line per problem for a bad configuration, and nothing on stdout', async () => {
    const { code, stdout, stderr } = await runBin(
      cleanEnv({
        ENABLE_ADDITIONAL_TOOLS: 'proxy',
        PROXY_UPSTREAMS: '[{"name": "atlassian", "url": "ftp://example.com"}, {"url": "https://x.example"}]',
      }),
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('upstream "atlassian": url must be an http(s) URL');
    expect(stderr).toContain('upstream #2: name is required');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for a trace file it cannot write and for a PROXY_INSPECT it cannot read', async () => {
    const env = cleanEnv({ ENABLE_ADDITIONAL_TOOLS: 'proxy', PROXY_UPSTREAMS: '[]' });
    const trace = await runBin(env, ['--trace', join(tokenDir, 'no-such-dir', 'trace.jsonl')]);
    expect(trace.code).toBe(2);
    expect(trace.stdout).toBe('');
    expect(trace.stderr).toContain('trace file (--trace or PROXY_TRACE): cannot write');
    expect(trace.stderr).toContain('no-such-dir');

    const inspect = await runBin({ ...env, PROXY_INSPECT: 'maybe' });
    expect(inspect.code).toBe(2);
    expect(inspect.stderr).toContain('PROXY_INSPECT must be 1 or 0');
  });

  it('reads --config FILE without the gate', async () => {
    const http = await startUpstream({ kind: 'streamable-http-stateless', name: 'filed', tools: ['from_file'] });
    const dir = await mkdtemp(join(tmpdir(), 'proxy-e2e-'));
    cleanups.push(
      () => http.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    const path = join(dir, 'proxy.json');
    await writeFile(path, JSON.stringify({ upstreams: [{ name: 'filed', url: http.url }] }));
    const { client } = await connectBin(cleanEnv({}), ['--config', path]);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['from_file']);
  });

  it('applies an edit of --config FILE without a restart, and tells the client with list_changed', async () => {
    const first = await startUpstream({ kind: 'streamable-http', name: 'first', tools: ['first_tool'] });
    const added = await startUpstream({ kind: 'streamable-http', name: 'added', tools: ['added_tool'] });
    const dir = await mkdtemp(join(tmpdir(), 'proxy-e2e-'));
    cleanups.push(
      () => first.close(),
      () => added.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    const path = join(dir, 'proxy.json');
    await writeFile(path, JSON.stringify({ upstreams: [{ name: 'first', url: first.url }] }));
    const { client, stderr } = await connectBin(cleanEnv({}), ['--config', path]);
    let changes = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      changes++;
    });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['first_tool']);

    await writeFile(path, JSON.stringify({ upstreams: [{ name: 'added', url: added.url }] }));
    // The removed upstream's tools go at once, the added one's come once it has listed: a list_changed for each.
    await withinSeconds(
      10,
      (async () => {
        while (changes < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
    );
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['added_tool']);
    expect(stderr()).toContain(`config ${path} reloaded: added "added"; removed "first"`);
    expect(first.counters.initialized).toBe(1);
  });
});
