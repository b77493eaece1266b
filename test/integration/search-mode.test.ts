/**
 * PROXY_TOOL_MODE=search: the client lists three tools of the proxy's own that search, describe and call the upstream
 * tools, through the proxy in front of real upstreams on 127.0.0.1 (the fixtures and server-everything).
 */
import { ProtocolError } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EverythingServer, startEverything } from '../fixtures/everything.js';
import { listDirect } from '../helpers/direct.js';
import { eventually, type TestUpstream } from '../helpers/proxy.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();
const upstream = scope.upstream;
const searchProxy = (...upstreams: TestUpstream[]) => scope.proxy(upstreams, { toolMode: 'search' });

interface Match {
  name: string;
  upstream: string;
  description: string;
}

function matchesOf(result: unknown): Match[] {
  return (result as { structuredContent: { tools: Match[] } }).structuredContent.tools;
}

function textOf(result: unknown): string {
  return ((result as { content: Array<{ text: string }> }).content[0] as { text: string }).text;
}

describe('tools/list', () => {
  it('lists exactly the three tools of search mode, and the prompts and resources as before', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['search_tools', 'describe_tools', 'call_tool']);
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toContain('proxy://status');
  });

  it('sends no tools/list_changed for an upstream change, and the next search sees the change', async () => {
    const fixture = await upstream('streamable-http', { tools: ['echo'] });
    const { client, listChanged, proxy } = await searchProxy({ name: 'live', url: fixture.url });
    await client.listTools();
    expect(matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'thermometer' } }))).toEqual([]);
    await eventually(() => fixture.openStreams > 0);
    fixture.addTool({ name: 'read_thermometer', description: 'Reads the thermometer in the greenhouse.' });
    await eventually(() => proxy.supervisor().getSnapshot().context.catalog.tools.byName.has('read_thermometer'));
    const found = matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'thermometer' } }));
    expect(found.map((match) => match.name)).toEqual(['read_thermometer']);
    expect(listChanged()).toBe(0);
  });
});

describe('search_tools', () => {
  it('finds first the tool whose description alone has the word, and says which upstream has it', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url, toolPrefix: 'p_' });
    // "milliseconds" is in the description of `slow` only.
    const result = await client.callTool({ name: 'search_tools', arguments: { query: 'milliseconds' } });
    expect(result.isError).toBeFalsy();
    const found = matchesOf(result);
    expect(found[0]).toEqual({
      name: 'p_slow',
      upstream: 'plain',
      description: 'Waits `ms` milliseconds, or until cancelled.',
    });
    expect(textOf(result)).toContain('- p_slow (plain): Waits `ms` milliseconds, or until cancelled.');
  });

  it('finds a tool by the name of one of its arguments', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    // `delayMs` is an argument of `progress` only, and in no description.
    const found = matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'delayMs' } }));
    expect(found.map((match) => match.name)).toEqual(['progress']);
  });

  it('ranks over the tools of every upstream, after filters and naming, within the limit', async () => {
    const jira = await upstream('streamable-http', {
      name: 'jira',
      tools: [
        { name: 'create_issue', description: 'Creates a Jira issue in a project.' },
        { name: 'delete_issue', description: 'Deletes a Jira issue.' },
        { name: 'list_projects', description: 'Lists projects.' },
      ],
    });
    const wiki = await upstream('sse', {
      name: 'wiki',
      tools: [{ name: 'create_page', description: 'Creates a wiki page; mentions no issue.' }],
    });
    const { client } = await searchProxy(
      { name: 'jira', url: jira.url, toolPrefix: 'jira_', ignoreTools: ['delete_*'] },
      { name: 'wiki', url: wiki.url, transport: 'sse' },
    );
    const all = matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'create issue' } }));
    expect(all.map((match) => match.name).slice(0, 2)).toEqual(['jira_create_issue', 'create_page']);
    expect(all.map((match) => match.name)).not.toContain('jira_delete_issue');
    const one = matchesOf(
      await client.callTool({ name: 'search_tools', arguments: { query: 'create issue', limit: 1 } }),
    );
    expect(one.map((match) => match.name)).toEqual(['jira_create_issue']);
  });

  it('answers a bad query with a tool error naming the argument', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const result = await client.callTool({ name: 'search_tools', arguments: { query: '  ' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Invalid arguments for search_tools: query:/);
  });
});

describe('describe_tools', () => {
  it('gives the full definitions of the named tools and names the unknown ones', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const result = await client.callTool({ name: 'describe_tools', arguments: { names: ['add', 'nope'] } });
    expect(result.isError).toBeFalsy();
    const { tools, unknown } = result.structuredContent as { tools: Array<Record<string, unknown>>; unknown: string[] };
    expect(unknown).toEqual(['nope']);
    expect(tools).toHaveLength(1);
    expect(tools[0]).toMatchObject({
      name: 'add',
      upstream: 'plain',
      description: 'Adds `a` and `b`; structured output `{ sum }`.',
      inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } } },
    });
    expect(JSON.stringify(result.content)).toContain('Unknown tool(s): \\"nope\\"');
  });
});

describe('call_tool', () => {
  it('forwards to the named tool and returns its result, and an upstream tool error stays a tool error', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url, toolPrefix: 'p_' });
    const sum = await client.callTool({ name: 'call_tool', arguments: { name: 'p_add', arguments: { a: 2, b: 3 } } });
    expect(sum).toMatchObject({ content: [{ type: 'text', text: '5' }], structuredContent: { sum: 5 } });
    expect(sum.isError).toBeFalsy();
    const failed = await client.callTool({ name: 'call_tool', arguments: { name: 'p_fail' } });
    expect(failed.isError).toBe(true);
    expect(fixture.counters.callTool).toBe(2);
  });

  it('passes a JSON-RPC error of the upstream on, as a direct call would', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const error = await client
      .callTool({ name: 'call_tool', arguments: { name: 'throw_rpc', arguments: {} } })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(-32099);
  });

  it('relays progress and cancellation as a direct call does', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const seen: number[] = [];
    const done = await client.callTool(
      { name: 'call_tool', arguments: { name: 'progress', arguments: { steps: 3, delayMs: 10 } } },
      { onprogress: (progress) => seen.push(progress.progress) },
    );
    expect(textOf(done)).toBe('done');
    expect(seen).toEqual([1, 2, 3]);

    const controller = new AbortController();
    const call = client.callTool(
      { name: 'call_tool', arguments: { name: 'slow', arguments: { ms: 10_000 } } },
      { signal: controller.signal },
    );
    await eventually(() => fixture.counters.callTool === 2);
    controller.abort();
    await expect(call).rejects.toThrow();
    await eventually(() => fixture.cancellations.includes('slow'));
  });

  it('answers an unknown tool with a tool error, sending nothing upstream', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await searchProxy({ name: 'plain', url: fixture.url });
    const result = await client.callTool({ name: 'call_tool', arguments: { name: 'nope' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Unknown tool: "nope"/);
    expect(fixture.counters.callTool).toBe(0);
  });
});

describe('a 2026-07-28 client', () => {
  it('lists the three tools, searches and calls through them', async () => {
    const fixture = await upstream('streamable-http');
    const { client } = await scope.proxy([{ name: 'plain', url: fixture.url }], {
      toolMode: 'search',
      client: { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    });
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual([
      'search_tools',
      'describe_tools',
      'call_tool',
    ]);
    const found = matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'echoes' } }));
    expect(found[0]?.name).toBe('echo');
    const echoed = await client.callTool({ name: 'call_tool', arguments: { name: 'echo', arguments: { text: 'hi' } } });
    expect(textOf(echoed)).toBe('hi');
  });
});

describe('server-everything in search mode', () => {
  let everything: EverythingServer;

  beforeAll(async () => {
    everything = await startEverything('streamableHttp');
  });
  afterAll(async () => {
    await everything?.close();
  });

  it('describes its tools with their schemas unchanged, and calls them', async () => {
    const direct = await listDirect(everything.url, 'http');
    const { client } = await searchProxy({ name: 'everything', url: everything.url, transport: 'http' });
    const names = direct.map((tool) => tool.name);
    const result = await client.callTool({ name: 'describe_tools', arguments: { names } });
    const { tools, unknown } = result.structuredContent as { tools: Array<Record<string, unknown>>; unknown: string[] };
    expect(unknown).toEqual([]);
    expect(tools.map((tool) => tool.name)).toEqual(names);
    for (const [i, tool] of tools.entries()) {
      expect(tool.inputSchema).toEqual(direct[i]!.inputSchema);
      expect(tool.outputSchema).toEqual(direct[i]!.outputSchema);
      expect(tool.description).toEqual(direct[i]!.description);
    }
    const found = matchesOf(await client.callTool({ name: 'search_tools', arguments: { query: 'echo' } }));
    expect(found[0]?.name).toBe('echo');
    const echoed = await client.callTool({
      name: 'call_tool',
      arguments: { name: 'echo', arguments: { message: 'through search mode' } },
    });
    expect(echoed.content).toEqual([{ type: 'text', text: 'Echo: through search mode' }]);
  });
});
