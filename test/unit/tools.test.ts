/**
 * src/tools: which tools are exposed (glob filters), under which names (client-safe, collision-free), and the
 * registry that puts them together. Pure functions: no servers needed.
 */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { createToolFilter, type ToolFilterPatterns } from '../../src/tools/filter.js';
import { MAX_TOOL_NAME_LENGTH, toClientSafeName } from '../../src/tools/naming.js';
import { buildToolRegistry, type UpstreamToolSource } from '../../src/tools/registry.js';

const CLIENT_SAFE = /^[A-Za-z0-9_-]{1,64}$/;

/** The names `patterns` let through, out of `names`. */
function kept(patterns: ToolFilterPatterns, names: string[]): string[] {
  const filter = createToolFilter(patterns);
  return names.filter((name) => filter(name));
}

describe('createToolFilter', () => {
  it('exposes everything when no pattern is given', () => {
    expect(kept({}, ['a', 'B', '.', '..', 'x/y', ''])).toEqual(['a', 'B', '.', '..', 'x/y', '']);
    expect(kept({ include: [], ignore: [] }, ['a', 'b'])).toEqual(['a', 'b']);
  });

  it('include: a tool must match one of the patterns', () => {
    const names = ['getIssue', 'createIssue', 'listProjects', 'search'];
    expect(kept({ include: ['get*', 'search'] }, names)).toEqual(['getIssue', 'search']);
    expect(kept({ include: ['nothing*'] }, names)).toEqual([]);
    // A whole-name match: a pattern without wildcards is not a substring search.
    expect(kept({ include: ['Issue'] }, names)).toEqual([]);
  });

  it('ignore: a tool matching any pattern is dropped', () => {
    const names = ['getIssue', 'deleteIssue', 'deleteProject', 'search'];
    expect(kept({ ignore: ['delete*'] }, names)).toEqual(['getIssue', 'search']);
    expect(kept({ ignore: ['search', '*Project'] }, names)).toEqual(['getIssue', 'deleteIssue']);
  });

  it('both: include first, then ignore wins over include', () => {
    const names = ['getIssue', 'getSecret', 'deleteIssue', 'search'];
    expect(kept({ include: ['get*', 'delete*'], ignore: ['*Secret', 'delete*'] }, names)).toEqual(['getIssue']);
  });

  it('matches case-insensitively, in names and in patterns', () => {
    const names = ['getJiraIssue', 'getJIRATicket', 'confluence_page'];
    expect(kept({ include: ['*jira*'] }, names)).toEqual(['getJiraIssue', 'getJIRATicket']);
    expect(kept({ include: ['*JIRA*'] }, names)).toEqual(['getJiraIssue', 'getJIRATicket']);
    expect(kept({ ignore: ['CONFLUENCE_*'] }, names)).toEqual(['getJiraIssue', 'getJIRATicket']);
    expect(kept({ include: ['[a-c]*'] }, ['Bob', 'bob', 'Dave'])).toEqual(['Bob', 'bob']);
  });

  it('`*` matches across `/` and `.`, which are ordinary characters in tool names', () => {
    const names = ['jira/get/issue', 'jira.get.issue', '.hidden', '.', '..', 'a/../b', 'other'];
    expect(kept({ include: ['jira*'] }, names)).toEqual(['jira/get/issue', 'jira.get.issue']);
    expect(kept({ include: ['*issue'] }, names)).toEqual(['jira/get/issue', 'jira.get.issue']);
    expect(kept({ include: ['*'] }, names)).toEqual(names);
    expect(kept({ include: ['jira/*'] }, names)).toEqual(['jira/get/issue']);
    expect(kept({ include: ['*/../*'] }, names)).toEqual(['a/../b']);
    expect(kept({ ignore: ['.*'] }, names)).toEqual(['jira/get/issue', 'jira.get.issue', 'a/../b', 'other']);
  });

  it('`?` matches exactly one character, `/` and `.` included', () => {
    const names = ['get', 'get1', 'getX', 'get12', 'a/b', 'a.b', 'ab'];
    expect(kept({ include: ['get?'] }, names)).toEqual(['get1', 'getX']);
    expect(kept({ include: ['a?b'] }, names)).toEqual(['a/b', 'a.b']);
    expect(kept({ include: ['?'] }, ['.', '/', 'x', 'xy'])).toEqual(['.', '/', 'x']);
  });

  it('character classes: ranges, sets, negated sets and POSIX classes', () => {
    const names = ['tool_1', 'tool_2', 'tool_5', 'tool_a', 'tool_'];
    expect(kept({ include: ['tool_[1-3]'] }, names)).toEqual(['tool_1', 'tool_2']);
    expect(kept({ include: ['tool_[15a]'] }, names)).toEqual(['tool_1', 'tool_5', 'tool_a']);
    expect(kept({ include: ['tool_[!1-3]'] }, names)).toEqual(['tool_5', 'tool_a']);
    expect(kept({ include: ['tool_[^a]'] }, names)).toEqual(['tool_1', 'tool_2', 'tool_5']);
    expect(kept({ include: ['tool_[[:digit:]]'] }, names)).toEqual(['tool_1', 'tool_2', 'tool_5']);
  });

  it('braces: alternatives and numeric ranges', () => {
    const names = ['get_issue', 'LIST_issue', 'put_issue', 'tool_1', 'tool_3', 'tool_4'];
    expect(kept({ include: ['{get,list}_*'] }, names)).toEqual(['get_issue', 'LIST_issue']);
    expect(kept({ include: ['tool_{1..3}'] }, names)).toEqual(['tool_1', 'tool_3']);
    expect(kept({ ignore: ['{get,put}_issue', 'tool_*'] }, names)).toEqual(['LIST_issue']);
  });

  it('a leading `!` is a literal character, not a negation (exclusions belong in ignore)', () => {
    const names = ['!important', 'important', 'other'];
    expect(kept({ include: ['!important'] }, names)).toEqual(['!important']);
    expect(kept({ include: ['!*'] }, names)).toEqual(['!important']);
    expect(kept({ ignore: ['!important'] }, names)).toEqual(['important', 'other']);
  });

  it('`#` is a literal character, not a comment', () => {
    const names = ['#channel', 'channel', 'a#b', 'ab'];
    expect(kept({ include: ['#channel'] }, names)).toEqual(['#channel']);
    expect(kept({ include: ['#*'] }, names)).toEqual(['#channel']);
    expect(kept({ include: ['a#b'] }, names)).toEqual(['a#b']);
  });

  it('a backslash escapes the next character, `\\/` included', () => {
    const names = ['a*', 'ab', 'a?', 'a[1]', 'a1', 'a/b', 'a{b}', 'a\\b'];
    expect(kept({ include: ['a\\*'] }, names)).toEqual(['a*']);
    expect(kept({ include: ['a\\?'] }, names)).toEqual(['a?']);
    expect(kept({ include: ['a\\[1\\]'] }, names)).toEqual(['a[1]']);
    expect(kept({ include: ['a\\/b'] }, names)).toEqual(['a/b']);
    expect(kept({ include: ['a\\{b\\}'] }, names)).toEqual(['a{b}']);
    expect(kept({ include: ['a\\\\b'] }, names)).toEqual(['a\\b']);
  });

  it('compiles the patterns once: the filter gives the same answer every time', () => {
    const filter = createToolFilter({ include: ['get*'], ignore: ['*secret*'] });
    for (let round = 0; round < 3; round++) {
      expect([filter('getIssue'), filter('getSecretKey'), filter('list')]).toEqual([true, false, false]);
    }
  });
});

describe('toClientSafeName', () => {
  it('leaves names that are already safe untouched', () => {
    for (const name of ['echo', 'get_issue', 'get-issue', 'A', 'Tool_42-x', 'x'.repeat(MAX_TOOL_NAME_LENGTH)]) {
      expect(toClientSafeName(name)).toBe(name);
    }
  });

  it('replaces each unsafe code point with `_`', () => {
    expect(toClientSafeName('jira.get issue/v2')).toBe('jira_get_issue_v2');
    expect(toClientSafeName('a:b@c#d!e')).toBe('a_b_c_d_e');
    expect(toClientSafeName('café')).toBe('caf_');
    expect(toClientSafeName('日本語')).toBe('___');
    expect(toClientSafeName('..')).toBe('__');
  });

  it('turns an emoji (a surrogate pair) into one `_`, a sequence of code points into one each', () => {
    expect(toClientSafeName('😀')).toBe('_');
    expect(toClientSafeName('thumbs👍up')).toBe('thumbs_up');
    // Thumbs up + skin tone modifier: two code points.
    expect(toClientSafeName('👍🏽')).toBe('__');
  });

  it('gives an empty name one `_`', () => {
    expect(toClientSafeName('')).toBe('_');
  });

  it('shortens long names to 64 characters: a readable head, `_` and a stable 8-hex hash', () => {
    const long = 'a'.repeat(70);
    const safe = toClientSafeName(long);
    expect(safe).toHaveLength(MAX_TOOL_NAME_LENGTH);
    expect(safe).toMatch(/^a{55}_[0-9a-f]{8}$/);
    // Pinned: exposed names must not change between versions (clients and users refer to them).
    expect(safe).toBe(`${'a'.repeat(55)}_6bd5e503`);
    // The limit is inclusive: 64 stays as it is (above), 65 is shortened.
    expect(toClientSafeName('b'.repeat(MAX_TOOL_NAME_LENGTH + 1))).toMatch(/^b{55}_[0-9a-f]{8}$/);
    // The length counts after replacement: 64 emoji are 64 `_`, not 128 UTF-16 units.
    expect(toClientSafeName('😀'.repeat(MAX_TOOL_NAME_LENGTH))).toBe('_'.repeat(MAX_TOOL_NAME_LENGTH));
    const unsafe = `jira.${'search_issues_by_jql_'.repeat(4)}`;
    expect(toClientSafeName(unsafe)).toBe('jira_search_issues_by_jql_search_issues_by_jql_search_i_19db912c');
  });

  it('keeps long names that share a head distinct', () => {
    const head = 'x'.repeat(80);
    const names = [`${head}_a`, `${head}_b`, `${head}.`, `${head}_`, `${'x'.repeat(64)}y`];
    const safe = names.map((name) => toClientSafeName(name));
    expect(new Set(safe).size).toBe(names.length);
    for (const name of safe) expect(name).toMatch(CLIENT_SAFE);
  });

  it('depends on nothing but its input', () => {
    const inputs = ['echo', 'a.b', '😀', 'y'.repeat(100), `z${'é'.repeat(70)}`];
    const first = inputs.map((name) => toClientSafeName(name));
    expect(inputs.map((name) => toClientSafeName(name))).toEqual(first);
    for (const name of first) expect(name).toMatch(CLIENT_SAFE);
  });
});

function tool(name: string, extra: Partial<Tool> = {}): Tool {
  return { name, inputSchema: { type: 'object' }, ...extra };
}

function source(upstream: string, tools: Tool[], options: Partial<UpstreamToolSource> = {}): UpstreamToolSource {
  return { upstream, filter: () => true, items: tools, ...options };
}

/** Exposed name → "upstream:original", in registry order. */
function summary(sources: UpstreamToolSource[]): string[] {
  return buildToolRegistry(sources).items.map((t) => `${t.exposedName} <- ${t.upstream}:${t.originalName}`);
}

describe('buildToolRegistry', () => {
  it('exposes every tool under its own name, config order then each upstream’s order', () => {
    const registry = buildToolRegistry([source('a', [tool('one'), tool('two')]), source('b', [tool('three')])]);
    expect(registry.items.map((t) => [t.exposedName, t.upstream, t.originalName])).toEqual([
      ['one', 'a', 'one'],
      ['two', 'a', 'two'],
      ['three', 'b', 'three'],
    ]);
    expect([...registry.byName.keys()]).toEqual(['one', 'two', 'three']);
    for (const exposed of registry.items) expect(registry.byName.get(exposed.exposedName)).toBe(exposed);
    expect(registry.warnings).toEqual([]);
  });

  it('settles a collision by config order: the earlier upstream keeps the name, the later gets <upstream>_<tool>', () => {
    expect(summary([source('first', [tool('echo')]), source('second', [tool('echo')])])).toEqual([
      'echo <- first:echo',
      'second_echo <- second:echo',
    ]);
    expect(summary([source('second', [tool('echo')]), source('first', [tool('echo')])])).toEqual([
      'echo <- second:echo',
      'first_echo <- first:echo',
    ]);
    const { warnings } = buildToolRegistry([source('first', [tool('echo')]), source('second', [tool('echo')])]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"echo"');
    expect(warnings[0]).toContain('upstream "second"');
    expect(warnings[0]).toContain('upstream "first"');
    expect(warnings[0]).toContain('"second_echo"');
  });

  it('keeps the config order winner even when the earlier upstream has no tools yet and gets them later', () => {
    // Before: only the later upstream is ready, so it has the name; once the earlier one lists, the name moves.
    expect(summary([source('first', []), source('second', [tool('echo')])])).toEqual(['echo <- second:echo']);
    expect(summary([source('first', [tool('echo')]), source('second', [tool('echo')])])[0]).toBe('echo <- first:echo');
  });

  it('keeps the first of a tool listed twice by one upstream, with a warning', () => {
    const first = tool('echo', { description: 'first' });
    const registry = buildToolRegistry([source('dup', [first, tool('echo', { description: 'second' }), tool('x')])]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['echo', 'x']);
    expect(registry.byName.get('echo')?.definition).toBe(first);
    expect(registry.warnings).toEqual(['upstream "dup" lists tool "echo" more than once; the first is kept']);
  });

  it('puts the prefix in front of every tool name; the filter and the call use the original name', () => {
    const registry = buildToolRegistry([
      source('jira', [tool('search'), tool('delete')], {
        toolPrefix: 'jira_',
        filter: createToolFilter({ ignore: ['delete'] }),
      }),
    ]);
    expect(registry.items.map((t) => [t.exposedName, t.originalName])).toEqual([['jira_search', 'search']]);
    expect(registry.byName.get('jira_search')?.definition.name).toBe('jira_search');
    expect(registry.filteredOut.get('jira')).toEqual(['delete']);
  });

  it('makes prefixed names client-safe too', () => {
    const registry = buildToolRegistry([source('x', [tool('get issue')], { toolPrefix: 'my.' })]);
    expect(registry.items.map((t) => [t.exposedName, t.originalName])).toEqual([['my_get_issue', 'get issue']]);
  });

  it('reports what each filter removed, with an entry (possibly empty) for every source', () => {
    const registry = buildToolRegistry([
      source('a', [tool('keep'), tool('drop_1'), tool('drop_2')], { filter: createToolFilter({ ignore: ['drop*'] }) }),
      source('b', [tool('keep_too')]),
      source('c', []),
    ]);
    expect([...registry.filteredOut]).toEqual([
      ['a', ['drop_1', 'drop_2']],
      ['b', []],
      ['c', []],
    ]);
    expect(registry.items.map((t) => t.exposedName)).toEqual(['keep', 'keep_too']);
  });

  it('passes definitions through unchanged: the very same object when the name is unchanged', () => {
    const rich = tool('rich', {
      title: 'Rich',
      description: 'All the fields',
      inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
      outputSchema: { type: 'object', properties: { n: { type: 'number' } } },
      annotations: { readOnlyHint: true },
      _meta: { vendor: { x: 1 } },
    });
    const registry = buildToolRegistry([source('a', [rich])]);
    expect(registry.byName.get('rich')?.definition).toBe(rich);
  });

  it('copies a renamed definition with only its name changed, leaving the upstream’s object alone', () => {
    const theirs = tool('echo', { description: 'theirs', annotations: { idempotentHint: true } });
    const registry = buildToolRegistry([source('a', [tool('echo')]), source('b', [theirs])]);
    const renamed = registry.byName.get('b_echo')!;
    expect(renamed.definition).not.toBe(theirs);
    expect(renamed.definition).toEqual({ ...theirs, name: 'b_echo' });
    expect(renamed.definition.annotations).toBe(theirs.annotations);
    expect(theirs.name).toBe('echo');
  });

  it('gives a fallback name that is itself taken `_2`, then `_3`', () => {
    expect(
      summary([
        source('a', [tool('echo'), tool('c_echo')]),
        source('b', [tool('echo'), tool('c_echo_2')]),
        source('c', [tool('echo')]),
      ]),
    ).toEqual([
      'echo <- a:echo',
      'c_echo <- a:c_echo',
      'b_echo <- b:echo',
      'c_echo_2 <- b:c_echo_2',
      'c_echo_3 <- c:echo',
    ]);
  });

  it('never gives a fallback the base name of a tool listed later', () => {
    // b's "echo" would fall back to "b_echo", but c lists a tool of that very name: c keeps it.
    expect(summary([source('a', [tool('echo')]), source('b', [tool('echo')]), source('c', [tool('b_echo')])])).toEqual([
      'echo <- a:echo',
      'b_echo_2 <- b:echo',
      'b_echo <- c:b_echo',
    ]);
  });

  it('renames tools of one upstream whose names become equal once client-safe, keeping them callable', () => {
    const registry = buildToolRegistry([source('a', [tool('get.issue'), tool('get issue'), tool('get_issue')])]);
    // `get_issue` is that tool's own name: it keeps it, the made-safe ones take the next free names in order.
    expect(registry.items.map((t) => [t.exposedName, t.originalName])).toEqual([
      ['get_issue_2', 'get.issue'],
      ['get_issue_3', 'get issue'],
      ['get_issue', 'get_issue'],
    ]);
    expect(registry.warnings).toEqual([
      'tool "get.issue" of upstream "a" is "get_issue" once client-safe, the own name of tool "get_issue" of the same upstream; exposed as "get_issue_2"',
      'tool "get issue" of upstream "a" is "get_issue" once client-safe, the own name of tool "get_issue" of the same upstream; exposed as "get_issue_3"',
    ]);
  });

  it('a tool keeps a name it has as its own against a made-safe one of the same upstream, in either order', () => {
    expect(summary([source('a', [tool('a b'), tool('a_b')])])).toEqual(['a_b_2 <- a:a b', 'a_b <- a:a_b']);
    expect(summary([source('a', [tool('a_b'), tool('a b')])])).toEqual(['a_b <- a:a_b', 'a_b_2 <- a:a b']);
  });

  it('a made-safe name of an earlier upstream never takes the own name of a later one', () => {
    const registry = buildToolRegistry([source('first', [tool('a b')]), source('second', [tool('a_b')])]);
    expect(registry.items.map((t) => `${t.exposedName} <- ${t.upstream}:${t.originalName}`)).toEqual([
      'first_a_b <- first:a b',
      'a_b <- second:a_b',
    ]);
    expect(registry.warnings).toEqual([
      'tool "a b" of upstream "first" is "a_b" once client-safe, the own name of tool "a_b" of upstream "second"; exposed as "first_a_b"',
    ]);
  });

  it('among own names config order still decides, whatever made-safe names come before them', () => {
    expect(
      summary([source('first', [tool('x y')]), source('second', [tool('x_y')]), source('third', [tool('x_y')])]),
    ).toEqual(['first_x_y <- first:x y', 'x_y <- second:x_y', 'third_x_y <- third:x_y']);
  });

  it('among made-safe names config order decides, where no own name is in the way', () => {
    const sources = [source('first', [tool('a.b')]), source('second', [tool('a b')])];
    expect(summary(sources)).toEqual(['a_b <- first:a.b', 'second_a_b <- second:a b']);
    expect(buildToolRegistry(sources).warnings).toEqual([
      'tool "a b" of upstream "second" collides with upstream "first"; exposed as "second_a_b"',
    ]);
  });

  it('an own name wins against a prefixed made-safe one, and a fallback skips own names too', () => {
    expect(
      summary([
        source('first', [tool('get issue')], { toolPrefix: 'p_' }),
        source('second', [tool('p_get_issue')]),
        source('third', [tool('first_get_issue')]),
      ]),
    ).toEqual([
      'first_get_issue_2 <- first:get issue',
      'p_get_issue <- second:p_get_issue',
      'first_get_issue <- third:first_get_issue',
    ]);
  });

  it('keeps every exposed name unique and client-safe, long fallbacks included', () => {
    const long = `t${'o'.repeat(70)}`;
    const upstream = 'u'.repeat(64);
    const registry = buildToolRegistry([
      source('a', [tool(long), tool(`${upstream}_${long}`)]),
      source(upstream, [tool(long)]),
      source('b', [tool(long)]),
    ]);
    const names = registry.items.map((t) => t.exposedName);
    expect(new Set(names).size).toBe(4);
    expect(registry.byName.size).toBe(4);
    for (const name of names) expect(name).toMatch(CLIENT_SAFE);
    expect(registry.items.map((t) => t.originalName)).toEqual([long, `${upstream}_${long}`, long, long]);
  });

  it('does not mutate its input and depends on nothing else', () => {
    const make = () => [
      source('a', [tool('echo'), tool('drop')], { toolPrefix: 'p_', filter: (name) => name !== 'drop' }),
      source('b', [tool('p_echo'), tool('p_echo')]),
      source('c', [tool('x.y')]),
    ];
    const sources = make();
    const before = structuredClone(sources.map(({ filter: _filter, ...rest }) => rest));
    for (const s of sources) {
      for (const t of s.items) Object.freeze(t);
      Object.freeze(s.items);
      Object.freeze(s);
    }
    Object.freeze(sources);
    const first = buildToolRegistry(sources);
    expect(sources.map(({ filter: _filter, ...rest }) => rest)).toEqual(before);
    const again = buildToolRegistry(make());
    expect(again.items).toEqual(first.items);
    expect(again.warnings).toEqual(first.warnings);
    expect([...again.filteredOut]).toEqual([...first.filteredOut]);
  });
});
