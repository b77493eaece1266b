/**
 * What an upstream's tools look like to the client, through the proxy in front of a real upstream on 127.0.0.1:
 * `tools` overrides (renamed, re-described, hidden), read_only, and PROXY_MAX_TOOL_NAME.
 */
import { ProtocolError } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();

function textOf(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0] as { text: string }).text;
}

async function unknownToolError(call: Promise<unknown>): Promise<string> {
  const error = await call.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ProtocolError);
  return (error as ProtocolError).message;
}

describe('tools overrides', () => {
  it('lists a renamed tool under its new name and description, and calls the upstream’s tool', async () => {
    const fixture = await scope.upstream('streamable-http', { name: 'jira', tools: ['echo', 'search'] });
    const { client } = await scope.proxy([
      {
        name: 'jira',
        url: fixture.url,
        toolPrefix: 'jira_',
        tools: { search: { name: 'find_tickets', description: 'Finds tickets by JQL.' } },
      },
    ]);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['jira_echo', 'find_tickets']);
    expect(tools[1]?.description).toBe('Finds tickets by JQL.');
    expect(textOf(await client.callTool({ name: 'find_tickets', arguments: {} }))).toBe('jira:search');
    expect(fixture.counters.callTool).toBe(1);
    // Neither the upstream's name nor the prefixed one is a tool the client can call.
    for (const name of ['search', 'jira_search']) {
      expect(await unknownToolError(client.callTool({ name, arguments: {} }))).toMatch(/Unknown tool/);
    }
    expect(fixture.counters.callTool).toBe(1);
  });

  it('leaves a hidden tool out: not listed, unknown when called, and says why in proxy://status', async () => {
    const fixture = await scope.upstream('streamable-http', { name: 'h', tools: ['echo', 'delete_all', 'drop_me'] });
    const { client, proxy, logs } = await scope.proxy([
      {
        name: 'h',
        url: fixture.url,
        ignoreTools: ['drop_*'],
        tools: { delete_all: { hidden: true }, renamed_away: { name: 'never_there' } },
      },
    ]);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['echo']);
    const message = await unknownToolError(client.callTool({ name: 'delete_all', arguments: {} }));
    expect(message).toMatch(/Unknown tool: "delete_all"/);
    expect(fixture.counters.callTool).toBe(0);
    const [status] = proxy.status().upstreams;
    expect(status?.filteredOut).toEqual(['delete_all', 'drop_me']);
    expect(status?.filteredOutReasons).toEqual({ delete_all: 'hidden', drop_me: 'filter' });
    // An override for a tool the upstream does not list is a warning, once, not an error.
    await client.listTools();
    const warnings = logs.filter((line) => line.includes('tools override for "renamed_away"'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('upstream "h"');
  });
});

describe('read_only', () => {
  const tools = [
    { name: 'get_page', annotations: { readOnlyHint: true } },
    { name: 'list_pages', annotations: { readOnlyHint: true, destructiveHint: false } },
    { name: 'purge_cache', annotations: { readOnlyHint: true, destructiveHint: true } },
    { name: 'edit_page', annotations: { readOnlyHint: false } },
    'echo',
  ];

  it('lists only the read-only tools, never a destructive one, and calls them', async () => {
    const fixture = await scope.upstream('streamable-http', { name: 'wiki', tools });
    const { client, proxy } = await scope.proxy([{ name: 'wiki', url: fixture.url, readOnly: true }]);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['get_page', 'list_pages']);
    expect(textOf(await client.callTool({ name: 'get_page', arguments: {} }))).toBe('wiki:get_page');
    expect(await unknownToolError(client.callTool({ name: 'edit_page', arguments: {} }))).toMatch(/Unknown tool/);
    expect(proxy.status().upstreams[0]?.filteredOutReasons).toEqual({
      purge_cache: 'read_only',
      edit_page: 'read_only',
      echo: 'read_only',
    });
  });

  it('lists every tool when off, as before', async () => {
    const fixture = await scope.upstream('streamable-http', { name: 'wiki', tools });
    const { client } = await scope.proxy([{ name: 'wiki', url: fixture.url }]);
    expect((await client.listTools()).tools).toHaveLength(5);
  });
});

describe('PROXY_MAX_TOOL_NAME', () => {
  it('gives a client with a 60-character limit no name over 60, every tool still callable', async () => {
    const long = (tail: string) => `${'search_confluence_pages_'.repeat(3)}${tail}`;
    const names = [long('a'), long('b'), 'x'.repeat(61), 'x'.repeat(60), 'ping'];
    const first = await scope.upstream('streamable-http', { name: 'first', tools: names });
    const second = await scope.upstream('sse', { name: 'second', tools: names });
    const { client } = await scope.proxy(
      [
        { name: 'first', url: first.url, toolPrefix: 'confluence_' },
        { name: 'second', url: second.url, transport: 'sse', toolPrefix: 'confluence_' },
      ],
      { maxToolName: 60 },
    );
    const exposed = (await client.listTools()).tools.map((tool) => tool.name);
    expect(exposed).toHaveLength(names.length * 2);
    expect(new Set(exposed).size).toBe(exposed.length);
    for (const name of exposed) expect(name.length).toBeLessThanOrEqual(60);
    expect(exposed.filter((name) => name.length === 60).length).toBeGreaterThan(0);
    expect(exposed.slice(0, 5).map((name) => name.startsWith('confluence_'))).toEqual([true, true, true, true, true]);
    for (const [index, name] of exposed.entries()) {
      const upstream = index < names.length ? 'first' : 'second';
      const text = textOf(await client.callTool({ name, arguments: {} }));
      expect(text).toBe(`${upstream}:${names[index % names.length]}`);
    }
  });
});
