/**
 * The trace log: one JSON line per actor transition (supervisor, upstreams, calls), with time, actor, machine,
 * event, from and state, and nothing from the context (no arguments, results or header values).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TraceLine } from '../../src/observe/trace.js';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let fixture: UpstreamFixture | undefined;
let dir: string | undefined;

afterEach(async () => {
  await proxy?.close();
  await fixture?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  proxy = fixture = dir = undefined;
});

describe('trace log', () => {
  it('has a line per transition of every actor, and no secret', async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-trace-'));
    const file = join(dir, 'trace.jsonl');
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy(
      [{ name: 'alpha', url: fixture.url, headers: { authorization: 'Bearer s3cret-token' } }],
      {
        trace: file,
      },
    );
    // Answered on the ready path: no call actor.
    await proxy.client.callTool({ name: 'echo', arguments: { text: 'private words' } });
    await fixture.kill();
    await proxy.waitForState('alpha', 'reconnecting');
    // Made while reconnecting: a call actor waits for the new session, then runs on it.
    const waiting = proxy.client.callTool({ name: 'echo', arguments: { text: 'private words' } });
    await fixture.restart();
    await waiting;
    await proxy.close();
    proxy = undefined;

    const text = await readFile(file, 'utf8');
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as TraceLine);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(['actor', 'event', 'from', 'machine', 'state', 'time']);
      expect(new Date(line.time).toISOString()).toBe(line.time);
    }
    const upstream = lines.filter((line) => line.actor === 'alpha').map((line) => `${line.from} → ${line.state}`);
    expect(upstream.slice(0, 5)).toEqual([
      'null → waitingForClient',
      'waitingForClient → connecting.http',
      'connecting.http → connected.listing',
      'connected.listing → connected.ready.idle',
      'connected.ready.idle → reconnecting',
    ]);
    expect(upstream.at(-1)).toBe('connected.listing → connected.ready.idle');
    expect(lines.find((line) => line.actor === 'alpha' && line.state === 'reconnecting')?.event).toBe(
      'connection.lost',
    );
    expect(lines.some((line) => line.actor === 'supervisor' && line.state === 'running')).toBe(true);
    const call = lines.filter((line) => line.machine === 'call').map((line) => line.state);
    expect(call).toEqual(['waiting', 'running.active', 'done']);
    expect(text).not.toContain('s3cret-token');
    expect(text).not.toContain('private words');
  });
});
