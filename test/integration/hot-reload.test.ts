/**
 * Hot reload of --config against real upstreams on 127.0.0.1: the file is edited under a running proxy and a real
 * SDK client sees the result. Added upstreams start, removed ones stop (a call sent finishes, a call waiting fails
 * saying why), changed ones restart, the others keep their sessions, `list_changed` tells the client, and a bad
 * edit changes nothing and says why.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually } from '../helpers/proxy.js';
import { useTestScope } from '../helpers/scope.js';

const scope = useTestScope();

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

type Entry = Record<string, unknown> & { name: string };

/** A config file of these upstreams; `write` replaces its content as an editor saving it would. */
async function configFile(upstreams: Entry[]) {
  const dir = await mkdtemp(join(tmpdir(), 'proxy-reload-'));
  dirs.push(dir);
  const path = join(dir, 'proxy.json');
  const write = (entries: Entry[]) => writeFile(path, JSON.stringify({ upstreams: entries }, null, 2));
  await write(upstreams);
  return { path, write, writeText: (text: string) => writeFile(path, text) };
}

const entry = (name: string, fixture: UpstreamFixture, more: Record<string, unknown> = {}): Entry => ({
  name,
  url: fixture.url.href,
  ...more,
});

async function toolNames(client: { listTools(): Promise<{ tools: Array<{ name: string }> }> }) {
  return (await client.listTools()).tools.map((tool) => tool.name).sort();
}

function textOf(result: unknown): string {
  return (result as { content: Array<{ text: string }> }).content.map((item) => item.text).join('\n');
}

describe('hot reload of --config', () => {
  it('starts added upstreams, stops removed ones, keeps the sessions of the others and tells the client', async () => {
    const alpha = await scope.upstream('streamable-http', { tools: ['alpha_one'] });
    const beta = await scope.upstream('streamable-http', { tools: ['beta_one'] });
    const gamma = await scope.upstream('streamable-http', { tools: ['gamma_one'] });
    const file = await configFile([entry('alpha', alpha), entry('beta', beta)]);
    const { client, logs, listChanged, waitForState } = await scope.proxy([], { configFile: file.path });
    expect(await toolNames(client)).toEqual(['alpha_one', 'beta_one']);
    expect(alpha.counters.initialized).toBe(1);

    await file.write([entry('alpha', alpha), entry('gamma', gamma)]);
    await waitForState('gamma', 'connected.ready.idle');
    await eventually(() => listChanged() > 0);
    expect(await toolNames(client)).toEqual(['alpha_one', 'gamma_one']);
    expect(logs.some((line) => line.includes(`config ${file.path} reloaded: added "gamma"; removed "beta"`))).toBe(
      true,
    );
    // The unchanged upstream kept its session; the removed one ended its own.
    expect(alpha.counters.initialized).toBe(1);
    await eventually(() => beta.sessionsDeleted === 1);
    expect(textOf(await client.callTool({ name: 'gamma_one', arguments: {} }))).toContain('gamma_one');
    const gone = await client.callTool({ name: 'beta_one', arguments: {} }).catch((error: Error) => error);
    expect(String(gone)).toMatch(/Unknown tool: "beta_one"/);

    const { contents } = await client.readResource({ uri: 'proxy://status' });
    const status = JSON.parse((contents[0] as { text: string }).text) as { upstreams: Array<{ name: string }> };
    expect(status.upstreams.map((upstream) => upstream.name)).toEqual(['alpha', 'gamma']);
  });

  it('lets a call sent to a removed upstream finish, and fails a call still waiting for it, saying why', async () => {
    const alpha = await scope.upstream('streamable-http', { tools: ['alpha_one'] });
    const slow = await scope.upstream('streamable-http', { tools: ['slow'] });
    const down = await scope.upstream('streamable-http', { tools: ['down_one'] });
    const file = await configFile([entry('alpha', alpha), entry('slow', slow), entry('down', down)]);
    const { client, waitForState } = await scope.proxy([], { configFile: file.path });
    expect(await toolNames(client)).toEqual(['alpha_one', 'down_one', 'slow']);

    // One call is on its way to `slow`; one waits for `down`, which reconnects.
    const running = client.callTool({ name: 'slow', arguments: { ms: 600 } });
    await eventually(() => slow.counters.callTool === 1);
    await down.kill();
    await waitForState('down', 'reconnecting');
    const waiting = client.callTool({ name: 'down_one', arguments: {} });

    await file.write([entry('alpha', alpha)]);
    const waited = await waiting;
    expect(waited.isError).toBe(true);
    expect(textOf(waited)).toMatch(
      /upstream "down" was removed from the configuration before the request was answered/,
    );
    const ran = await running;
    expect(ran.isError).toBeFalsy();
    expect(textOf(ran)).toContain('600');
    expect(await toolNames(client)).toEqual(['alpha_one']);
    await eventually(() => slow.sessionsDeleted === 1);
  });

  it('restarts an upstream whose connection changed and updates one whose filters changed in place', async () => {
    const alpha = await scope.upstream('streamable-http', { tools: ['echo', 'add'] });
    const beta = await scope.upstream('streamable-http', { name: 'first-beta', tools: ['about'] });
    const other = await scope.upstream('streamable-http', { name: 'second-beta', tools: ['about'] });
    const file = await configFile([
      entry('alpha', alpha, { include_tools: ['echo'] }),
      entry('beta', beta, { tool_prefix: 'beta_' }),
    ]);
    const { client, logs, listChanged } = await scope.proxy([], { configFile: file.path });
    expect(await toolNames(client)).toEqual(['beta_about', 'echo']);

    await file.write([
      entry('alpha', alpha, { include_tools: ['echo', 'add'] }),
      entry('beta', beta, { tool_prefix: 'beta_' }),
    ]);
    await eventually(() => listChanged() > 0);
    expect(await toolNames(client)).toEqual(['add', 'beta_about', 'echo']);
    expect(logs.some((line) => line.includes('updated "alpha" (include_tools changed)'))).toBe(true);
    expect(alpha.counters.initialized).toBe(1);

    await file.write([
      entry('alpha', alpha, { include_tools: ['echo', 'add'] }),
      entry('beta', other, { tool_prefix: 'beta_' }),
    ]);
    await eventually(() => other.counters.initialized === 1);
    await eventually(() => logs.some((line) => line.includes('restarted "beta" (url changed)')));
    const about = await client.callTool({ name: 'beta_about', arguments: {} });
    expect(about.structuredContent).toMatchObject({ name: 'second-beta' });
    await eventually(() => beta.sessionsDeleted === 1);
    expect(alpha.counters.initialized).toBe(1);
  });

  it('keeps the running configuration after a bad edit, says why, and applies the next good one', async () => {
    const alpha = await scope.upstream('streamable-http', { tools: ['alpha_one'] });
    const beta = await scope.upstream('streamable-http', { tools: ['beta_one'] });
    const file = await configFile([entry('alpha', alpha)]);
    const clientLog: string[] = [];
    const { client, logs, listChanged } = await scope.proxy([], {
      configFile: file.path,
      client: {
        capabilities: {},
        setup: (sdk) =>
          sdk.setNotificationHandler('notifications/message', (message) => {
            clientLog.push(String(message.params.data));
          }),
      },
    });
    expect(await toolNames(client)).toEqual(['alpha_one']);

    await file.writeText('{"upstreams": [{"name": "alpha", "url": ');
    const notApplied = `config ${file.path} not applied, the running configuration stays: ${file.path} is not valid JSON`;
    await eventually(() => logs.some((line) => line.includes(notApplied)));
    await eventually(() => clientLog.some((line) => line.includes(notApplied)));
    await file.write([entry('alpha', alpha), { name: 'beta', url: beta.url.href, tranport: 'sse' }]);
    await eventually(() => logs.some((line) => line.includes('upstream "beta": unknown field "tranport"')));
    await unlink(file.path);
    await eventually(() => logs.some((line) => line.includes(`cannot read config file ${file.path}`)));
    // Nothing of it was applied: the same tools, on the same session, still answer.
    expect(await toolNames(client)).toEqual(['alpha_one']);
    expect(textOf(await client.callTool({ name: 'alpha_one', arguments: {} }))).toContain('alpha_one');
    expect(alpha.counters.initialized).toBe(1);

    await file.write([entry('alpha', alpha), entry('beta', beta)]);
    await eventually(() => logs.some((line) => line.includes('reloaded: added "beta"')));
    await eventually(() => listChanged() > 0);
    expect(await toolNames(client)).toEqual(['alpha_one', 'beta_one']);
  });
});
