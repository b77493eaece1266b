/**
 * Each transport through the proxy against real SDK servers on 127.0.0.1: definitions and results pass through
 * untouched, errors keep their kind, lists are followed across pages, and sessions are ended on shutdown.
 */
import { ProtocolError } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { THROW_RPC_ERROR_CODE, type UpstreamFixture, type UpstreamKind } from '../fixtures/upstreams.js';
import { listDirect } from '../helpers/direct.js';
import { startTestProxy, type TestUpstream } from '../helpers/proxy.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();
const upstream = scope.upstream;
const proxyFor = (...upstreams: TestUpstream[]) => scope.proxy(upstreams);

const CASES: Array<{ kind: UpstreamKind; transport: 'http' | 'sse' | 'http-first' }> = [
  { kind: 'streamable-http', transport: 'http' },
  { kind: 'streamable-http-stateless', transport: 'http' },
  { kind: 'sse', transport: 'sse' },
  // The default mode against an SSE-only server: Streamable HTTP gets 405, then SSE works.
  { kind: 'sse', transport: 'http-first' },
];

describe.each(CASES)('$kind upstream with transport $transport', ({ kind, transport }) => {
  it('lists the upstream tools with definitions unchanged and forwards calls', async () => {
    const fixture = await upstream(kind);
    const { client, transitions } = await proxyFor({ name: 'up', url: fixture.url, transport });

    const direct = await listDirect(fixture.url, kind === 'sse' ? 'sse' : 'http');
    const { tools } = await client.listTools();
    expect(tools).toEqual(direct);

    const echo = await client.callTool({ name: 'echo', arguments: { text: 'hello' }, _meta: { trace: 'abc-1' } });
    expect(echo).toEqual({ content: [{ type: 'text', text: 'hello' }], _meta: { received: { trace: 'abc-1' } } });

    const add = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    expect(add.structuredContent).toEqual({ sum: 42 });

    const media = await client.callTool({ name: 'image', arguments: {} });
    expect((media.content as Array<{ type: string }>).map((block) => block.type)).toEqual(['image', 'audio']);

    const failed = await client.callTool({ name: 'fail', arguments: {} });
    expect(failed.isError).toBe(true);

    const error = await client.callTool({ name: 'throw_rpc', arguments: {} }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe(THROW_RPC_ERROR_CODE);

    const used = transitions.filter((t) => t.actor === 'up' && t.state !== 'waitingForClient').map((t) => t.state);
    expect(used).toContain(transport === 'http' ? 'connecting.http' : 'connecting.sse');
    if (transport === 'http-first') expect(used.slice(0, 2)).toEqual(['connecting.http', 'connecting.sse']);
  });
});

describe('tool lists', () => {
  it('follows nextCursor across pages', async () => {
    const fixture = await upstream('streamable-http', { many: 35, tools: [], pageSize: 10 });
    const { client } = await proxyFor({ name: 'paged', url: fixture.url });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(35);
    expect(tools.at(-1)?.name).toBe('tool_034');
    expect(fixture.counters.listTools).toBeGreaterThanOrEqual(4);
  });

  it('passes title, annotations, icons and _meta through', async () => {
    const spec = {
      name: 'described',
      title: 'A described tool',
      annotations: { readOnlyHint: true, openWorldHint: false },
      icons: [{ src: 'https://example.invalid/icon.png', mimeType: 'image/png' }],
      _meta: { 'example.com/owner': 'team-a' },
    };
    const fixture = await upstream('streamable-http', { tools: [spec] });
    const { client } = await proxyFor({ name: 'meta', url: fixture.url });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(1);
    expect(tools[0]).toMatchObject(spec);
  });
});

describe('shutdown', () => {
  it('ends the Streamable HTTP session with a DELETE', async () => {
    const fixture: UpstreamFixture = await upstream('streamable-http');
    const proxy = await startTestProxy([{ name: 'up', url: fixture.url }]);
    await proxy.client.listTools();
    expect(fixture.sessionCount).toBe(1);
    await proxy.close();
    expect(fixture.sessionsDeleted).toBe(1);
    expect(fixture.sessionCount).toBe(0);
  });
});
