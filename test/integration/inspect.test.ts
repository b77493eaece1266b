/**
 * `--inspect`: the Stately inspector feed (the supervisor, upstreams and calls as actors, sanitised) and the status
 * page's server (`/status.json`, `/events`, loopback names only), against a real upstream on 127.0.0.1.
 */
import { request as httpRequest } from 'node:http';
import { createParser } from 'eventsource-parser';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusEvent } from '../../src/observe/status-page.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let fixture: UpstreamFixture | undefined;
const aborts: AbortController[] = [];

afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort();
  await proxy?.close();
  await fixture?.close();
  proxy = fixture = undefined;
});

/** Follows a server-sent event stream; `raw` is every byte received, as text. */
async function follow(url: string) {
  const abort = new AbortController();
  aborts.push(abort);
  const response = await fetch(url, { signal: abort.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream');
  const stream = { raw: '', events: [] as unknown[] };
  const parser = createParser({ onEvent: (event) => stream.events.push(JSON.parse(event.data)) });
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of response.body!) {
        const text = decoder.decode(chunk, { stream: true });
        stream.raw += text;
        parser.feed(text);
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  return stream;
}

/** A GET with headers fetch would not send as given (Host): a forged request, as a web page could make one. */
function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      // A stream that was let through stays open: what came first is enough.
      response.on('data', (chunk: string) => {
        body += chunk;
        if (response.headers['content-type'] === 'text/event-stream') request.destroy();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('close', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject).end();
  });
}

interface Stately {
  type: string;
  sessionId: string;
  name?: string;
  parentId?: string;
  snapshot?: { status?: string; value?: unknown; context?: Record<string, unknown> };
  event?: Record<string, unknown>;
}

describe('--inspect', () => {
  it('feeds the Stately inspector every actor, with sanitised context and events', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'add'] });
    proxy = await startTestProxy(
      [{ name: 'alpha', url: fixture.url, headers: { authorization: 'Bearer s3cret-token' }, ignoreTools: ['add'] }],
      { inspect: true },
    );
    const urls = proxy.proxy.watching!;
    expect(urls.statusPage).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(proxy.logs).toContain(`[mcp-upstream-proxy] status page: ${urls.statusPage}`);
    expect(proxy.logs.some((line) => line.includes(`Stately inspector: ${urls.inspector}`))).toBe(true);

    await proxy.client.listTools();
    const feed = await follow(`${urls.inspector}/events`);
    // Answered on the ready path (no call actor); then one made while reconnecting waits in a call actor.
    await proxy.client.callTool({ name: 'echo', arguments: { text: 'private words' } });
    await fixture.kill();
    await proxy.waitForState('alpha', 'reconnecting');
    const events = () => feed.events as Stately[];
    await eventually(() =>
      events().some((event) => event.type === '@xstate.snapshot' && event.snapshot?.value === 'reconnecting'),
    );
    const waiting = proxy.client.callTool({ name: 'echo', arguments: { text: 'private words' } });
    await fixture.restart();
    await waiting;
    await eventually(() =>
      events().some((event) => event.type === '@xstate.snapshot' && event.snapshot?.status === 'done'),
    );

    // A late follower first gets every live actor, then what happens.
    const actors = events().filter((event) => event.type === '@xstate.actor');
    const supervisor = actors.find((event) => event.name === 'supervisor');
    const alpha = actors.find((event) => event.name === 'alpha');
    const call = actors.find((event) => event.name?.startsWith('call:'));
    expect(supervisor).toBeDefined();
    expect(alpha?.parentId).toBe(supervisor?.sessionId);
    expect(call?.parentId).toBe(alpha?.sessionId);
    // No promise or callback actor (their input holds connections, arguments, tokens).
    expect(actors).toHaveLength(3);

    const callSnapshots = events().filter(
      (event) => event.type === '@xstate.snapshot' && event.sessionId === call?.sessionId,
    );
    expect(callSnapshots.at(-1)?.snapshot?.status).toBe('done');
    expect(callSnapshots[0]?.snapshot?.context).toEqual({
      id: expect.any(String),
      upstream: 'alpha',
      method: 'tools/call',
      name: 'echo',
      retried: false,
    });
    const reconnecting = events().find(
      (event) => event.type === '@xstate.snapshot' && event.snapshot?.value === 'reconnecting',
    );
    expect(reconnecting?.event).toEqual({
      type: 'connection.lost',
      failure: { kind: 'network', code: expect.any(String), message: expect.stringContaining('upstream "alpha"') },
    });
    expect(reconnecting?.snapshot?.context).toMatchObject({ name: 'alpha', attempt: 1, tools: ['echo', 'add'] });
    expect(Object.keys(reconnecting?.snapshot ?? {}).sort()).toEqual(['context', 'status', 'value']);
    const forwarded = events().find(
      (event) => event.type === '@xstate.event' && event.event?.type === 'request.forward',
    );
    expect(forwarded?.event).toEqual({ type: 'request.forward', id: expect.any(String) });

    expect(feed.raw).not.toContain('s3cret');
    expect(feed.raw).not.toContain('private words');
    expect(feed.raw).not.toContain('alpha:echo'); // the result
  });

  it('serves the status as JSON and as a live stream, to loopback names only', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo', 'add'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url, ignoreTools: ['add'] }], { inspect: true });
    const page = proxy.proxy.watching!.statusPage;
    await proxy.client.listTools();

    const json = await fetch(`${page}status.json`).then((response) => response.json());
    expect(json).toEqual({ ...proxy.proxy.status(), time: expect.any(String) });
    expect(json.upstreams[0]).toMatchObject({ state: 'connected.ready.idle', tools: ['echo'], filteredOut: ['add'] });

    const html = await fetch(page).then(async (response) => {
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      return response.text();
    });
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // nothing from elsewhere
    // The inspector page embeds the Stately UI (from the network) and feeds it from here only.
    const bridge = await fetch(proxy.proxy.watching!.inspector).then((response) => response.text());
    expect(bridge).toContain('<iframe id="inspector" src="https://stately.ai/inspect"');
    expect(bridge).toContain("new EventSource('inspector/events')");

    const stream = await follow(`${page}events`);
    await eventually(() => stream.events.length > 0);
    const first = stream.events[0] as StatusEvent;
    expect(first.status.upstreams[0]?.state).toBe('connected.ready.idle');
    expect(first.charts.alpha).toContain('class="sc-state');
    await fixture.kill();
    await eventually(() =>
      (stream.events as StatusEvent[]).some((event) => event.status.upstreams[0]?.state === 'reconnecting'),
    );
    const down = (stream.events as StatusEvent[]).find((event) => event.status.upstreams[0]?.state === 'reconnecting');
    expect(down?.status.upstreams[0]?.lastError?.message).toContain('upstream "alpha"');
    expect(down?.charts.alpha).toMatch(/class="sc-state[^"]* active[^"]*" data-state="reconnecting"/);

    // Another name for this address (DNS rebinding) gets nothing.
    const { port } = new URL(page);
    expect((await rawGet(Number(port), '/status.json', { host: `evil.example:${port}` })).status).toBe(421);

    // stop() ends the streams and closes the server.
    await proxy.close();
    proxy = undefined;
    await expect(fetch(`${page}status.json`)).rejects.toThrow();
  });

  it('answers only requests addressed to its loopback name and port, from no other site', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url }], { inspect: true });
    const port = Number(new URL(proxy.proxy.watching!.statusPage).port);
    const own = `http://127.0.0.1:${port}`;
    const refused: Array<[string, Record<string, string>, number]> = [
      ['another name', { host: `evil.example:${port}` }, 421],
      ['another port', { host: `127.0.0.1:${port + 1}` }, 421],
      ['a cross-site Origin', { host: `127.0.0.1:${port}`, origin: 'https://evil.example' }, 403],
      ['Origin: null', { host: `127.0.0.1:${port}`, origin: 'null' }, 403],
      ['an Origin on another port', { host: `localhost:${port}`, origin: `http://localhost:${port + 1}` }, 403],
    ];
    for (const path of ['/status.json', '/events', '/inspector/events']) {
      for (const [what, headers, status] of refused) {
        const answer = await rawGet(port, path, headers);
        expect({ path, what, status: answer.status }).toEqual({ path, what, status });
        expect(answer.body).not.toContain('alpha');
      }
    }
    const served: Array<[string, Record<string, string>]> = [
      ['127.0.0.1, no Origin', { host: `127.0.0.1:${port}` }],
      ['localhost, no Origin', { host: `localhost:${port}` }],
      ['its own Origin', { host: `127.0.0.1:${port}`, origin: own }],
      ['the localhost Origin', { host: `localhost:${port}`, origin: `http://localhost:${port}` }],
    ];
    for (const [what, headers] of served) {
      const answer = await rawGet(port, '/status.json', headers);
      expect({ what, status: answer.status }).toEqual({ what, status: 200 });
      expect(answer.body).toContain('"alpha"');
    }
  });

  it('is off by default: no server, no URL', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy([{ name: 'alpha', url: fixture.url }]);
    await proxy.client.listTools();
    expect(proxy.proxy.watching).toBeUndefined();
    expect(proxy.logs.some((line) => line.includes('status page'))).toBe(false);
  });
});
