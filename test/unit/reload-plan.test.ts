/** What a reload of --config changes, upstream by upstream (src/config/reload-plan.ts). */
import { describe, expect, it } from 'vitest';
import { planReload, type UpstreamConfig } from '../../src/config/index.js';

function upstream(name: string, more: Partial<UpstreamConfig> = {}): UpstreamConfig {
  return {
    name,
    url: new URL(`https://${name}.example.com/mcp`),
    transport: 'http-first',
    headers: {},
    timeoutMs: 60_000,
    maxCallMs: 1_800_000,
    allowHttp: false,
    ...more,
  };
}

const names = (plan: ReturnType<typeof planReload>) => ({
  added: plan.added.map((each) => each.name),
  removed: plan.removed,
  restarted: plan.restarted.map(({ upstream: each, changed }) => [each.name, changed]),
  updated: plan.updated.map(({ upstream: each, changed }) => [each.name, changed]),
  changed: plan.changed,
});

describe('planReload', () => {
  it('finds nothing to do in the same configuration, built anew', () => {
    const before = [upstream('a', { headers: { a: '1', b: '2' }, includeTools: ['x*'] })];
    const after = [upstream('a', { headers: { b: '2', a: '1' }, includeTools: ['x*'] })];
    expect(names(planReload(before, after))).toEqual({
      added: [],
      removed: [],
      restarted: [],
      updated: [],
      changed: false,
    });
  });

  it('adds and removes by name', () => {
    expect(names(planReload([upstream('a'), upstream('b')], [upstream('a'), upstream('c')]))).toMatchObject({
      added: ['c'],
      removed: ['b'],
      changed: true,
    });
  });

  it('restarts an upstream whose connection changed, naming the fields as written', () => {
    const before = [upstream('a'), upstream('b'), upstream('c')];
    const after = [
      upstream('a', { url: new URL('https://other.example.com/mcp') }),
      upstream('b', { headers: { Authorization: 'Bearer x' }, pinTools: true }),
      upstream('c', { oauth: { clientId: 'mine' } }),
    ];
    expect(names(planReload(before, after)).restarted).toEqual([
      ['a', ['url']],
      ['b', ['headers', 'pin_tools']],
      ['c', ['oauth']],
    ]);
  });

  it('updates in place an upstream of which only what is exposed changed', () => {
    const before = [upstream('a', { includeTools: ['x*'] })];
    const after = [upstream('a', { includeTools: ['y*'], toolPrefix: 'a_', readOnly: true, timeoutMs: 5_000 })];
    expect(names(planReload(before, after))).toMatchObject({
      restarted: [],
      updated: [['a', ['include_tools', 'tool_prefix', 'read_only', 'timeout_ms']]],
    });
  });

  it('counts a new order of the same upstreams as a change (collisions go by order)', () => {
    expect(names(planReload([upstream('a'), upstream('b')], [upstream('b'), upstream('a')]))).toEqual({
      added: [],
      removed: [],
      restarted: [],
      updated: [],
      changed: true,
    });
  });
});
