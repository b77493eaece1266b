/**
 * The audit log (`--audit FILE`): one JSON line per forwarded request that ended, with its outcome, against real
 * upstreams on 127.0.0.1 (a fixture with the standard tools, and a faulty one whose tool answers 500). No
 * arguments or results unless `--audit-arguments`, and then redacted; the file is appended to and private.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import type { AuditLine } from '../../src/observe/audit.js';
import { type FaultyUpstream, startFaultyUpstream } from '../fixtures/faulty-upstream.js';
import { startUpstream, THROW_RPC_ERROR_CODE, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let fixture: UpstreamFixture | undefined;
let faulty: FaultyUpstream | undefined;
let dir: string | undefined;

afterEach(async () => {
  await proxy?.close();
  await Promise.allSettled([fixture?.close(), faulty?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
  proxy = fixture = faulty = dir = undefined;
});

async function auditLines(file: string): Promise<AuditLine[]> {
  const text = await readFile(file, 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as AuditLine);
}

describe('audit log', () => {
  it('has one line per request with its outcome, sizes and no arguments; the file is private', async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-audit-'));
    const file = join(dir, 'audit.jsonl');
    fixture = await startUpstream({
      kind: 'streamable-http',
      name: 'alpha',
      tools: ['echo', 'fail', 'throw_rpc', 'slow'],
    });
    faulty = await startFaultyUpstream({ name: 'faulty', faults: { boom: 'status-500' } });
    proxy = await startTestProxy(
      [
        { name: 'alpha', url: fixture.url, toolPrefix: 'a_' },
        { name: 'faulty', url: faulty.url, timeoutMs: 5_000 },
      ],
      { audit: { file, arguments: false } },
    );
    await proxy.waitForState('faulty', /^connected\.ready/);
    await proxy.client.listTools();

    const ok = await proxy.client.callTool({ name: 'a_echo', arguments: { text: 'private words' } });
    expect(ok.isError).toBeFalsy();
    expect((await proxy.client.callTool({ name: 'a_fail', arguments: {} })).isError).toBe(true);
    await expect(proxy.client.callTool({ name: 'a_throw_rpc', arguments: {} })).rejects.toThrow(/failed on purpose/);
    await expect(proxy.client.callTool({ name: 'nowhere', arguments: {} })).rejects.toThrow(/Unknown tool/);
    const failed = await proxy.client.callTool({ name: 'boom', arguments: { text: 'private words' } });
    expect(failed.isError).toBe(true);
    const abort = new AbortController();
    const cancelled = proxy.client.callTool({ name: 'a_slow', arguments: { ms: 60_000 } }, { signal: abort.signal });
    await eventually(() => fixture!.counters.callTool >= 4);
    abort.abort();
    await expect(cancelled).rejects.toThrow();
    // The proxy answers the cancelled call when the upstream's request has ended: then its line is written.
    await eventually(() => proxy!.proxy.status().upstreams[0]?.inFlight === 0);
    await proxy.close();
    proxy = undefined;

    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('private words');
    expect(text).not.toContain('alpha:'); // no result either
    const lines = await auditLines(file);
    expect(lines.map((line) => [line.tool?.name, line.outcome])).toEqual([
      ['a_echo', 'result'],
      ['a_fail', 'tool-error'],
      ['a_throw_rpc', 'rpc-error'],
      ['nowhere', 'unknown-target'],
      ['boom', 'failure'],
      ['a_slow', 'cancelled'],
    ]);
    const [echo, fail, rpc, unknown, boom, slow] = lines;
    expect(echo).toEqual({
      time: expect.any(String),
      upstream: 'alpha',
      method: 'tools/call',
      tool: { name: 'a_echo', upstreamName: 'echo' },
      durationMs: expect.any(Number),
      outcome: 'result',
      requestBytes: expect.any(Number),
      responseBytes: expect.any(Number),
    });
    expect(new Date(echo!.time).toISOString()).toBe(echo!.time);
    expect(echo!.requestBytes).toBeGreaterThanOrEqual(
      JSON.stringify({ name: 'a_echo', arguments: { text: 'private words' } }).length,
    );
    expect(echo!.responseBytes).toBeGreaterThan('private words'.length);
    expect(fail).toMatchObject({
      upstream: 'alpha',
      tool: { upstreamName: 'fail' },
      responseBytes: expect.any(Number),
    });
    expect(rpc).toMatchObject({ upstream: 'alpha', code: THROW_RPC_ERROR_CODE, responseBytes: 0 });
    expect(unknown).toMatchObject({ upstream: null, tool: { name: 'nowhere' } });
    expect(unknown!.tool).not.toHaveProperty('upstreamName');
    expect(boom).toMatchObject({
      upstream: 'faulty',
      tool: { name: 'boom', upstreamName: 'boom' },
      code: expect.stringMatching(/^ERR_/),
    });
    expect(slow).toMatchObject({ upstream: 'alpha', tool: { upstreamName: 'slow' } });
    expect(slow).not.toHaveProperty('code');
    for (const line of lines) {
      expect(line).not.toHaveProperty('arguments');
      expect(line).not.toHaveProperty('result');
    }

    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('with --audit-arguments, has the arguments and the result, redacted, appended to what the file held', async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-audit-'));
    const file = join(dir, 'audit.jsonl');
    await writeFile(file, 'an earlier line\n', { mode: 0o600 });
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy(
      [{ name: 'alpha', url: fixture.url, headers: { 'x-api-key': 'header-s3cret-value' } }],
      { audit: { file, arguments: true } },
    );
    await proxy.client.callTool({
      name: 'echo',
      arguments: { text: 'key header-s3cret-value, Authorization: Bearer abc.def.ghi', api_key: 'sk-live-0123456789' },
    });
    await proxy.close();
    proxy = undefined;

    const text = await readFile(file, 'utf8');
    expect(text.startsWith('an earlier line\n')).toBe(true);
    expect(text).not.toContain('header-s3cret-value');
    expect(text).not.toContain('abc.def.ghi');
    expect(text).not.toContain('sk-live-0123456789');
    const [line] = await auditLines(file);
    expect(line).toMatchObject({ upstream: 'alpha', outcome: 'result', tool: { name: 'echo', upstreamName: 'echo' } });
    const args = line!.arguments as { text: string; api_key: string };
    expect(args.text).toContain('[redacted]');
    expect(args.text.startsWith('key ')).toBe(true);
    expect(args.api_key).toBe('[redacted]');
    const result = line!.result as { content: Array<{ text: string }> };
    expect(result.content[0]?.text).toContain('[redacted]');
    expect(result.content[0]?.text).not.toContain('abc.def.ghi');
  });

  it('has one line per request of a 2026-07-28 client too', async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-audit-'));
    const file = join(dir, 'audit.jsonl');
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'fail'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url }], {
      audit: { file, arguments: false },
      client: { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    });
    await proxy.client.callTool({ name: 'echo', arguments: { text: 'modern' } });
    await proxy.client.callTool({ name: 'fail', arguments: {} });
    await proxy.close();
    proxy = undefined;
    expect((await auditLines(file)).map((line) => [line.tool?.upstreamName, line.outcome])).toEqual([
      ['echo', 'result'],
      ['fail', 'tool-error'],
    ]);
  });

  it('a file that cannot be opened is a startup error naming it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-audit-'));
    const file = join(dir, 'no-such-dir', 'audit.jsonl');
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    const starting = startTestProxy([{ name: 'alpha', url: fixture.url }], { audit: { file, arguments: false } });
    await expect(starting).rejects.toBeInstanceOf(ConfigError);
    await expect(starting).rejects.toThrow(file);
  });
});
