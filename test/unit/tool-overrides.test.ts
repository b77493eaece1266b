/**
 * What an upstream's tools look like to the client beyond its filter: `tools` overrides (name, description,
 * hidden), read_only, and PROXY_MAX_TOOL_NAME. Pure functions: no servers needed.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { createToolFilter } from '../../src/tools/filter.js';
import { toClientSafeName } from '../../src/tools/naming.js';
import { buildToolRegistry, type UpstreamToolSource } from '../../src/tools/registry.js';
import { createToolView, isReadOnlyTool, type ToolViewOptions } from '../../src/tools/view.js';

function tool(name: string, extra: Partial<Tool> = {}): Tool {
  return { name, description: `the ${name} tool`, inputSchema: { type: 'object' }, ...extra };
}

function source(
  upstream: string,
  tools: Tool[],
  view: ToolViewOptions = {},
  options: Partial<UpstreamToolSource> = {},
): UpstreamToolSource {
  return { upstream, filter: () => true, items: tools, view: createToolView(view), ...options };
}

const readOnly = (extra: Tool['annotations'] = {}) => ({ annotations: { readOnlyHint: true, ...extra } });

describe('tools overrides', () => {
  it('renames a tool to the name as written, without the prefix, and calls it by the upstream’s name', () => {
    const registry = buildToolRegistry([
      source(
        'jira',
        [tool('get issue'), tool('search')],
        { overrides: { 'get issue': { name: 'read_ticket' } } },
        {
          toolPrefix: 'jira_',
        },
      ),
    ]);
    expect(registry.items.map((t) => [t.exposedName, t.originalName])).toEqual([
      ['read_ticket', 'get issue'],
      ['jira_search', 'search'],
    ]);
    expect(registry.byName.get('read_ticket')?.definition).toMatchObject({
      name: 'read_ticket',
      description: 'the get issue tool',
    });
    expect(registry.byName.has('jira_get_issue')).toBe(false);
    expect(registry.warnings).toEqual([]);
  });

  it('replaces the description and keeps the rest of the definition', () => {
    const original = tool('search', { title: 'Search', annotations: { readOnlyHint: true } });
    const registry = buildToolRegistry([
      source('a', [original], { overrides: { search: { description: 'Finds issues by JQL.' } } }),
    ]);
    expect(registry.items[0]?.definition).toEqual({ ...original, description: 'Finds issues by JQL.' });
    // The upstream's own definition is never changed.
    expect(original.description).toBe('the search tool');
  });

  it('leaves a hidden tool out, like the ignore filter, and says why', () => {
    const registry = buildToolRegistry([
      source(
        'a',
        [tool('keep'), tool('drop'), tool('secret')],
        { overrides: { drop: { hidden: true } } },
        {
          filter: createToolFilter({ ignore: ['secret'] }),
        },
      ),
    ]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['keep']);
    expect(registry.byName.has('drop')).toBe(false);
    expect(registry.filteredOut.get('a')).toEqual(['drop', 'secret']);
    expect(registry.filteredOutReasons.get('a')).toEqual({ drop: 'hidden', secret: 'filter' });
  });

  it('keeps a tool shown when hidden is false', () => {
    const registry = buildToolRegistry([source('a', [tool('keep')], { overrides: { keep: { hidden: false } } })]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['keep']);
  });

  it('warns, without failing, about an override for a tool the upstream does not list', () => {
    const registry = buildToolRegistry([
      source('a', [tool('keep')], { overrides: { gone: { hidden: true }, keep: { name: 'kept' } } }),
    ]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['kept']);
    expect(registry.warnings).toEqual(['upstream "a" has a tools override for "gone", which it does not list']);
  });

  it('says nothing about overrides while the upstream has listed nothing yet', () => {
    const registry = buildToolRegistry([source('a', [], { overrides: { gone: { hidden: true } } })]);
    expect(registry.warnings).toEqual([]);
  });

  it('settles a renamed tool’s collision like any other: the earlier upstream keeps the name', () => {
    const registry = buildToolRegistry([
      source('first', [tool('search')]),
      source('second', [tool('find')], { overrides: { find: { name: 'search' } } }),
    ]);
    expect(registry.items.map((t) => `${t.exposedName} <- ${t.upstream}:${t.originalName}`)).toEqual([
      'search <- first:search',
      'second_search <- second:find',
    ]);
    expect(registry.warnings).toEqual([
      'tool "find" of upstream "second" collides with upstream "first"; exposed as "second_search"',
    ]);
  });
});

describe('read_only', () => {
  it('exposes only tools annotated readOnlyHint, never a destructive one', () => {
    const registry = buildToolRegistry([
      source(
        'a',
        [
          tool('get', readOnly()),
          tool('list', readOnly({ destructiveHint: false })),
          tool('wipe', readOnly({ destructiveHint: true })),
          tool('write', { annotations: { readOnlyHint: false } }),
          tool('plain'),
        ],
        { readOnly: true },
      ),
    ]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['get', 'list']);
    expect(registry.filteredOutReasons.get('a')).toEqual({ wipe: 'read_only', write: 'read_only', plain: 'read_only' });
  });

  it('changes nothing when off', () => {
    const registry = buildToolRegistry([source('a', [tool('get', readOnly()), tool('write')], { readOnly: false })]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['get', 'write']);
  });

  it('gives the filter and hidden precedence as the reason', () => {
    const registry = buildToolRegistry([
      source(
        'a',
        [tool('x'), tool('y')],
        { readOnly: true, overrides: { y: { hidden: true } } },
        {
          filter: (name) => name !== 'x',
        },
      ),
    ]);
    expect(registry.filteredOutReasons.get('a')).toEqual({ x: 'filter', y: 'hidden' });
  });

  it('gives the reason of a tool named like an object property as its own', () => {
    const registry = buildToolRegistry([source('a', [tool('__proto__'), tool('constructor')], { readOnly: true })]);
    const reasons = registry.filteredOutReasons.get('a')!;
    expect(Object.entries(reasons)).toEqual([
      ['__proto__', 'read_only'],
      ['constructor', 'read_only'],
    ]);
  });

  it('reads annotations defensively', () => {
    expect(isReadOnlyTool({ annotations: { readOnlyHint: 'true' } })).toBe(false);
    expect(isReadOnlyTool({})).toBe(false);
    expect(isReadOnlyTool({ annotations: { readOnlyHint: true } })).toBe(true);
  });
});

describe('PROXY_MAX_TOOL_NAME', () => {
  it('shortens names over the limit with a hash, as at 64, and keeps shorter ones', () => {
    const name = 'x'.repeat(61);
    expect(toClientSafeName(name)).toBe(name);
    const short = toClientSafeName(name, { maxLength: 60 });
    expect(short).toHaveLength(60);
    expect(short).toMatch(/^x{51}_[0-9a-f]{8}$/);
    expect(toClientSafeName('x'.repeat(60), { maxLength: 60 })).toBe('x'.repeat(60));
    expect(toClientSafeName('y'.repeat(17), { maxLength: 16 })).toMatch(/^y{7}_[0-9a-f]{8}$/);
  });

  it('keeps every exposed name within the limit, fallbacks and suffixes included, and drops none', () => {
    const long = (suffix: string) => `${'search_issues_by_jql_'.repeat(3)}${suffix}`;
    const sources = [
      source('first', [tool(long('a')), tool(long('b')), tool('echo')], { maxNameLength: 20 }, { toolPrefix: 'f_' }),
      source('second', [tool('echo'), tool('echo_2')], {
        maxNameLength: 20,
        overrides: { echo_2: { name: 'f_echo' } },
      }),
      source('a_rather_long_upstream_name', [tool('echo'), tool('f_echo')], { maxNameLength: 20 }),
    ];
    const registry = buildToolRegistry(sources);
    expect(registry.items).toHaveLength(7);
    expect(new Set(registry.items.map((t) => t.exposedName)).size).toBe(7);
    for (const { exposedName } of registry.items) expect(exposedName.length).toBeLessThanOrEqual(20);
    expect(registry.items.map((t) => t.exposedName).slice(2, 4)).toEqual(['f_echo', 'echo']);
  });

  it('keeps 64 without a view, as before', () => {
    const registry = buildToolRegistry([{ upstream: 'a', filter: () => true, items: [tool('z'.repeat(70))] }]);
    expect(registry.items[0]?.exposedName).toHaveLength(64);
  });
});
