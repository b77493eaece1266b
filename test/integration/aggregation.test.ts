/**
 * Several upstreams behind one proxy: filters, prefixes, name collisions settled by config order, unknown tools,
 * and an upstream that fails for good without taking the others with it.
 */
import { ProtocolError } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import type { TestUpstream } from '../helpers/proxy.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();
const upstream = scope.upstream;
const proxyFor = (...upstreams: TestUpstream[]) => scope.proxy(upstreams);

function textOf(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0] as { text: string }).text;
}

describe('filters', () => {
  it('applies include_tools then ignore_tools, case-insensitively, on the upstream name', async () => {
    const fixture = await upstream('streamable-http', {
      tools: ['getJiraIssue', 'getConfluencePage', 'searchJIRA', 'createJiraIssue', 'search'],
    });
    const { client } = await proxyFor({
      name: 'atlassian',
      url: fixture.url,
      includeTools: ['get*', 'search*'],
      ignoreTools: ['*jira*'],
    });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['getConfluencePage', 'search']);
  });

  it('refuses calls to a filtered-out tool as unknown', async () => {
    const fixture = await upstream('streamable-http', { tools: ['keep', 'drop_me'] });
    const { client } = await proxyFor({ name: 'f', url: fixture.url, ignoreTools: ['drop_*'] });
    await client.listTools();
    const error = await client.callTool({ name: 'drop_me', arguments: {} }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toMatch(/Unknown tool: "drop_me"/);
    expect(fixture.counters.callTool).toBe(0);
  });
});

describe('names', () => {
  it('gives a name to the upstream earlier in the config, whichever connects first', async () => {
    // "second" is up at once; "first" is down at startup and only comes up later.
    const first = await upstream('streamable-http', { name: 'first', tools: ['search', 'only_first'] });
    const second = await upstream('sse', { name: 'second', tools: ['search', 'only_second'] });
    await first.kill();
    const { client, logs, waitForState } = await proxyFor(
      { name: 'first', url: first.url },
      { name: 'second', url: second.url },
    );
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['search', 'only_second']);
    await first.restart();
    await waitForState('first', /^connected\.ready/, 15_000);
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(['search', 'only_first', 'second_search', 'only_second']);
    expect(textOf(await client.callTool({ name: 'search', arguments: {} }))).toBe('first:search');
    expect(textOf(await client.callTool({ name: 'second_search', arguments: {} }))).toBe('second:search');
    expect(logs.filter((line) => line.includes('collides')).length).toBe(1);
  });

  it('prefixes names with tool_prefix and calls the upstream by its own name', async () => {
    const fixture = await upstream('streamable-http', { name: 'jira', tools: ['search'] });
    const { client } = await proxyFor({ name: 'jira', url: fixture.url, toolPrefix: 'jira_' });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['jira_search']);
    expect(textOf(await client.callTool({ name: 'jira_search', arguments: {} }))).toBe('jira:search');
  });

  it('makes names every client accepts and still calls the original', async () => {
    const long = `very.long/tool name ${'x'.repeat(80)}`;
    const fixture = await upstream('streamable-http', { name: 'odd', tools: ['dotted.name', long] });
    const { client } = await proxyFor({ name: 'odd', url: fixture.url });
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names[0]).toBe('dotted_name');
    expect(names[1]).toMatch(/^very_long_tool_name_x+_[0-9a-f]{8}$/);
    expect(names[1]!.length).toBe(64);
    expect(textOf(await client.callTool({ name: names[1]!, arguments: {} }))).toBe(`odd:${long}`);
  });
});

describe('isolation', () => {
  it('keeps serving the other upstreams when one fails for good', async () => {
    const good = await upstream('streamable-http', { name: 'good', tools: ['ping_good'] });
    // A URL with no MCP server on either transport (the fixture answers 404 on other paths): retrying cannot fix it.
    const wrong = new URL('/nothing-here', good.url);
    const { client, waitForState, logs } = await proxyFor(
      { name: 'good', url: good.url },
      { name: 'wrong', url: wrong },
    );
    await waitForState('wrong', 'failed');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['ping_good']);
    expect(textOf(await client.callTool({ name: 'ping_good', arguments: {} }))).toBe('good:ping_good');
    expect(logs.some((line) => line.includes('upstream "wrong"') && line.includes('failed'))).toBe(true);
  });
});

describe('configured headers', () => {
  it.each(['streamable-http', 'sse'] as const)('sends them on every request over %s', async (kind) => {
    const fixture = await upstream(kind, { tools: ['echo'] });
    const { client } = await proxyFor({
      name: 'keyed',
      url: fixture.url,
      transport: kind === 'sse' ? 'sse' : 'http',
      headers: { 'X-Api-Key': 'key-123' },
    });
    await client.callTool({ name: 'echo', arguments: { text: 'k' } });
    // Stream, initialize, list and call requests all carried it.
    expect(fixture.apiKeysSeen.length).toBeGreaterThanOrEqual(3);
    expect(fixture.apiKeysSeen.length).toBe(fixture.counters.httpRequests);
    expect(new Set(fixture.apiKeysSeen)).toEqual(new Set(['key-123']));
  });
});
