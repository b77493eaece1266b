/** The map from task ids to the upstreams that own them: ids per upstream, lifetimes, the bound. */
import { describe, expect, it } from 'vitest';
import { MAX_ROUTE_MS, TaskRoutes } from '../../src/tasks/routes.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('task routes', () => {
  it("shows an upstream's id unchanged, and the same id of another upstream under a name of its own", () => {
    const routes = new TaskRoutes();
    expect(routes.remember('a', { taskId: 't1', status: 'working', ttl: 60_000 })).toBe('t1');
    expect(routes.remember('b', { taskId: 't1', status: 'working', ttl: 60_000 })).toBe('t1@b');
    expect(routes.remember('a', { taskId: 't1', status: 'completed', ttl: 60_000 })).toBe('t1');
    expect(routes.lookup('t1')).toMatchObject({ upstream: 'a', upstreamId: 't1', terminal: true });
    expect(routes.lookup('t1@b')).toMatchObject({ upstream: 'b', upstreamId: 't1', terminal: false });
    expect(routes.exposedId('b', 't1')).toBe('t1@b');
    expect(routes.lookup('t2')).toBeUndefined();
  });

  it("keeps a route for its task's ttl, terminal or not, and for at most MAX_ROUTE_MS without one", () => {
    const time = clock();
    const routes = new TaskRoutes(time.now);
    routes.remember('a', { taskId: 'short', status: 'completed', ttl: 1_000 });
    routes.remember('a', { taskId: 'forever', status: 'working', ttl: null });
    time.advance(999);
    expect(routes.lookup('short')).toBeDefined();
    time.advance(1);
    expect(routes.lookup('short')).toBeUndefined();
    time.advance(MAX_ROUTE_MS - 1_001);
    expect(routes.lookup('forever')).toBeDefined();
    time.advance(1);
    expect(routes.lookup('forever')).toBeUndefined();
    expect(routes.size).toBe(0);
  });

  it('holds at most its limit: the oldest terminal route goes first, then the oldest', () => {
    const routes = new TaskRoutes(Date.now, 3);
    routes.remember('a', { taskId: 'w1', status: 'working' });
    routes.remember('a', { taskId: 'c1', status: 'completed' });
    routes.remember('a', { taskId: 'w2', status: 'working' });
    routes.remember('a', { taskId: 'w3', status: 'working' });
    expect(['w1', 'c1', 'w2', 'w3'].filter((id) => routes.lookup(id))).toEqual(['w1', 'w2', 'w3']);
    routes.remember('a', { taskId: 'w4', status: 'working' });
    expect(['w1', 'w2', 'w3', 'w4'].filter((id) => routes.lookup(id))).toEqual(['w2', 'w3', 'w4']);
  });
});
