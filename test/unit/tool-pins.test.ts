/**
 * Tool pins on their own, on real files in a temp folder: what counts as a change (and what does not), and the
 * configuration that turns pinning on (`pin_tools`, PROXY_PIN_TOOLS).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/client';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptPins, ToolPins } from '../../src/catalog/index.js';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors/index.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function pinsIn(): Promise<{ root: string; pins: ToolPins; warnings: string[] }> {
  const root = await mkdtemp(join(tmpdir(), 'tool-pins-'));
  dirs.push(root);
  const warnings: string[] = [];
  return { root, pins: new ToolPins({ root, upstream: 'docs', onWarning: (line) => warnings.push(line) }), warnings };
}

const tool: Tool = {
  name: 'search',
  description: 'Searches.',
  inputSchema: { type: 'object', properties: { q: { type: 'string' }, limit: { type: 'number' } }, required: ['q'] },
};

describe('ToolPins', () => {
  it('pins new tools and exposes them; the same definition with its keys in another order is no change', async () => {
    const { pins } = await pinsIn();
    expect(await pins.check([tool])).toEqual({ tools: [tool], withheld: [] });
    const reordered: Tool = {
      inputSchema: {
        required: ['q'],
        properties: { limit: { type: 'number' }, q: { type: 'string' } },
        type: 'object',
      },
      description: 'Searches.',
      name: 'search',
    };
    expect(await pins.check([reordered])).toEqual({ tools: [reordered], withheld: [] });
  });

  it('names each part that changed: description, input schema, output schema', async () => {
    const { pins } = await pinsIn();
    await pins.check([tool, { ...tool, name: 'other' }]);
    const changed: Tool = {
      ...tool,
      inputSchema: { type: 'object', properties: { q: { type: 'string' }, path: { type: 'string' } } },
      outputSchema: { type: 'object' },
    };
    const other = { ...tool, name: 'other', description: 'Now does something else.' };
    expect(await pins.check([changed, other])).toEqual({
      tools: [],
      withheld: [
        { name: 'search', changed: ['inputSchema', 'outputSchema'] },
        { name: 'other', changed: ['description'] },
      ],
    });
  });

  it('forgets what is accepted, one tool or every tool, and pins the next definition seen', async () => {
    const { root, pins } = await pinsIn();
    await pins.check([tool, { ...tool, name: 'other' }]);
    const changed = { ...tool, description: 'New.' };
    expect(await acceptPins(root, 'docs', 'search')).toBe(1);
    expect(await acceptPins(root, 'docs', 'search')).toBe(0);
    expect((await pins.check([changed])).tools).toEqual([changed]);
    expect((await pins.check([tool])).withheld).toEqual([{ name: 'search', changed: ['description'] }]);
    expect(await acceptPins(root, 'docs')).toBe(2);
  });
});

describe('configuration', () => {
  const env = (extra: NodeJS.ProcessEnv) => ({
    ENABLE_ADDITIONAL_TOOLS: 'proxy',
    PROXY_UPSTREAMS: JSON.stringify([
      { name: 'a', url: 'https://a.example/mcp' },
      { name: 'b', url: 'https://b.example/mcp', pin_tools: false },
      { name: 'c', url: 'https://c.example/mcp', pin_tools: true },
    ]),
    ...extra,
  });

  it('is off unless an upstream or PROXY_PIN_TOOLS turns it on; an upstream that says false stays off', async () => {
    const pinned = async (extra: NodeJS.ProcessEnv) =>
      (await loadConfig({ env: env(extra) })).upstreams.map((upstream) => upstream.pinTools ?? false);
    expect(await pinned({})).toEqual([false, false, true]);
    expect(await pinned({ PROXY_PIN_TOOLS: '1' })).toEqual([true, false, true]);
  });

  it('rejects a value that is not a switch, naming it', async () => {
    const error = await loadConfig({ env: env({ PROXY_PIN_TOOLS: 'maybe' }) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(['PROXY_PIN_TOOLS must be 1 or 0 (true/false, yes/no, on/off)']);
    const bad = {
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify([{ name: 'a', url: 'https://a.example/mcp', pin_tools: 'yes' }]),
    };
    const field = await loadConfig({ env: bad }).catch((caught: unknown) => caught);
    expect((field as ConfigError).problems.join('\n')).toMatch(/pin_tools must be true or false/);
  });
});
