/**
 * stderr with DEBUG=1: each line about an upstream names it, every HTTP exchange with an upstream is a line of its
 * own (method, URL without query, status, time), and no configured header value or query secret shows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream, type UpstreamFixture } from '../fixtures/upstreams.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

let proxy: TestProxy | undefined;
let fixture: UpstreamFixture | undefined;

afterEach(async () => {
  await proxy?.close();
  await fixture?.close();
  proxy = fixture = undefined;
});

describe('stderr with DEBUG=1', () => {
  it('logs each HTTP exchange under the upstream name, with nothing secret', async () => {
    fixture = await startUpstream({ kind: 'streamable-http', name: 'alpha', tools: ['echo'] });
    proxy = await startTestProxy([
      {
        name: 'alpha',
        url: `${fixture.url.href}?token=query-secret-42`,
        headers: { authorization: 'Bearer header-secret-42', 'x-api-key': 'api-key-secret-42' },
      },
    ]);
    await proxy.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    const exchanges = proxy.logs.filter((line) => / (GET|POST|DELETE) http/.test(line));
    expect(exchanges.length).toBeGreaterThan(0);
    for (const line of exchanges) {
      expect(line).toMatch(
        new RegExp(`^\\[mcp-upstream-proxy\\] debug: upstream "alpha": (GET|POST|DELETE) ${fixture.url.href} → \\d{3}`),
      );
    }
    expect(exchanges.some((line) => line.includes('POST') && line.includes('→ 200'))).toBe(true);
    const all = proxy.logs.join('\n');
    expect(all).not.toMatch(/query-secret-42|header-secret-42|api-key-secret-42/);
  });
});
