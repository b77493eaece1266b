/**
 * MCP clients often start the same server twice: two proxy processes sharing one token store sign in once (one
 * browser), the second using the tokens the first stored.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { startOAuthUpstream } from '../fixtures/oauth-upstream.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const TEST_BROWSER = fileURLToPath(new URL('../fixtures/test-browser.mjs', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((tool) => tool.name);
}

describe('two proxy processes, one token store', () => {
  it('open one browser between them and both end up signed in', async () => {
    const fixture = await startOAuthUpstream();
    const dir = await mkdtemp(join(tmpdir(), 'proxy-two-'));
    cleanups.push(
      () => fixture.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    const browserLog = join(dir, 'browser.log');
    const env = {
      PATH: process.env.PATH ?? '',
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify([{ name: 'shared', url: fixture.mcpUrl }]),
      PROXY_TOKEN_DIR: join(dir, 'tokens'),
      BROWSER: `/usr/bin/env TEST_BROWSER_LOG=${browserLog} TEST_BROWSER_DELAY_MS=300 ${process.execPath} ${TEST_BROWSER}`,
    };
    const clients = await Promise.all(
      [1, 2].map(async () => {
        const client = new Client({ name: 'e2e', version: '1.0.0' });
        await client.connect(
          new StdioClientTransport({ command: process.execPath, args: [BIN], env, stderr: 'ignore' }),
        );
        cleanups.push(() => client.close());
        return client;
      }),
    );
    const deadline = Date.now() + 20_000;
    for (const client of clients) {
      while (!(await toolNames(client)).includes('echo')) {
        if (Date.now() > deadline) throw new Error('a proxy never got its tools');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    const runs = (await readFile(browserLog, 'utf8')).split('\n').filter(Boolean);
    expect(runs).toHaveLength(1);
    expect(fixture.counters.authorizations).toBe(1);
    expect(fixture.counters.registrations).toBe(1);
  });
});
