/**
 * Upstreams whose lists or results are unusual: 5,000 tools (in pages or in one answer), tools with invalid input
 * schemas among valid ones, odd names, a 20 MB result. Each time beside a healthy upstream, which must not notice.
 */
import type { CallToolResult, Client, Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { startFaultyUpstream } from '../fixtures/faulty-upstream.js';
import { useTestScope } from '../helpers/scope.js';

const TIMEOUT_MS = 1_500;
const scope = useTestScope();

function textOf(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

/** Every page of the proxy's tools/list. */
async function allTools(client: Client): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor === undefined ? undefined : { cursor });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return tools;
}

async function beside(faulty: { url: URL }, timeoutMs = TIMEOUT_MS) {
  const healthy = await scope.upstream('streamable-http', { name: 'healthy' });
  const proxy = await scope.proxy([
    { name: 'healthy', url: healthy.url, timeoutMs: TIMEOUT_MS },
    { name: 'faulty', url: faulty.url, timeoutMs, toolPrefix: 'bad_' },
  ]);
  await proxy.waitForState('healthy', /^connected\.ready/);
  return proxy;
}

async function faultyFixture(options: Parameters<typeof startFaultyUpstream>[0]) {
  const faulty = await startFaultyUpstream(options);
  scope.defer(() => faulty.close());
  return faulty;
}

describe.each([
  ['in pages of 100', 100],
  ['in one answer', undefined],
])('5,000 tools %s', (_how, pageSize) => {
  it('arrive whole, beside the healthy upstream’s', async () => {
    const faulty = await faultyFixture({ many: 5_000, pageSize });
    const { client, waitForState } = await beside(faulty);
    await waitForState('faulty', /^connected\.ready/, 15_000);
    const names = (await allTools(client)).map((tool) => tool.name);
    const theirs = names.filter((name) => name.startsWith('bad_tool_'));
    expect(theirs).toHaveLength(5_000);
    expect(new Set(theirs).size).toBe(5_000);
    expect(theirs.at(-1)).toBe('bad_tool_4999');
    expect(names).toContain('echo');
    expect(textOf(await client.callTool({ name: 'bad_tool_4321', arguments: {} }))).toBe('faulty:tool_4321');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).toBe('fine');
  });
});

describe('tools with invalid input schemas among valid ones', () => {
  const INVALID = [
    { name: 'string_schema', inputSchema: { type: 'string' } },
    { name: 'no_schema' },
    { name: 'null_schema', inputSchema: null },
    { name: 'array_schema', inputSchema: ['not', 'a', 'schema'] },
  ];

  it('exposes the valid ones, names the dropped ones in a warning, and does not reconnect', async () => {
    const faulty = await faultyFixture({ rawTools: [...INVALID, { name: 'valid', inputSchema: { type: 'object' } }] });
    const { client, logs, transitions, waitForState } = await beside(faulty);
    await waitForState('faulty', /^connected\.ready/);
    const names = (await allTools(client)).map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['bad_echo', 'bad_valid', 'echo']));
    for (const { name } of INVALID) expect(names).not.toContain(`bad_${name}`);
    for (const { name } of INVALID) {
      expect(logs.some((line) => /warn/i.test(line) && line.includes('faulty') && line.includes(name))).toBe(true);
    }
    expect(textOf(await client.callTool({ name: 'bad_valid', arguments: {} }))).toBe('faulty:valid');
    // One session, kept: the bad tools are not the connection's failure.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(faulty.initializations).toBe(1);
    expect(transitions.filter((t) => t.actor === 'faulty' && t.state === 'reconnecting')).toEqual([]);
  });
});

describe('odd tool names', () => {
  /** Odd but callable: renamed client-safe, called under their own names. */
  const ODD = ['has spaces', 'é-ü', 'x'.repeat(200)];
  /** Names nobody can call (empty, control characters): left out, each with a warning. */
  const UNUSABLE = ['', 'bell\u0007and\ttab', 'new\nline'];

  it('are exposed under client-safe, distinct names, and each call reaches the right tool', async () => {
    const faulty = await faultyFixture({
      rawTools: [...ODD, ...UNUSABLE].map((name) => ({ name, inputSchema: { type: 'object' } })),
    });
    const { client, waitForState, logs } = await beside(faulty);
    await waitForState('faulty', /^connected\.ready/);
    const theirs = (await allTools(client))
      .map((tool) => tool.name)
      .filter((name) => name.startsWith('bad_') && name !== 'bad_echo');
    expect(theirs).toHaveLength(ODD.length);
    expect(new Set(theirs).size).toBe(ODD.length);
    const dropped = logs.filter((line) => /upstream "faulty": tool .* is left out: its name/.test(line));
    expect(dropped).toHaveLength(UNUSABLE.length);
    for (const name of theirs) expect(name).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    const answers = await Promise.all(
      theirs.map(async (name) => textOf(await client.callTool({ name, arguments: {} }))),
    );
    expect(answers.sort()).toEqual(ODD.map((name) => `faulty:${name}`).sort());
  });
});

describe('a 20 MB tool result', () => {
  it('arrives intact', async () => {
    const bytes = 20 * 2 ** 20;
    const faulty = await faultyFixture({ faults: { big: 'big-result' }, bigResultBytes: bytes });
    // 20 MB through JSON on both sides of the proxy takes a while on a shared 2-core machine.
    const { client, waitForState } = await beside(faulty, 10_000);
    await waitForState('faulty', /^connected\.ready/);
    const healthyCall = client.callTool({ name: 'echo', arguments: { text: 'meanwhile' } });
    const result = await client.callTool({ name: 'bad_big', arguments: {} });
    expect(result.isError).toBeFalsy();
    const text = textOf(result);
    expect(text.length).toBe(bytes);
    expect(/^x+$/.test(text)).toBe(true);
    expect(textOf(await healthyCall)).toBe('meanwhile');
  }, 40_000);
});
