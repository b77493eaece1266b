/**
 * The catalog is rebuilt on every list of every upstream, and what depends on one upstream's list alone is kept
 * per list: a build after some upstreams changed must be exactly the build of the same lists seen for the first
 * time, collisions still settled in config order whatever order the lists came in.
 */
import { describe, expect, it } from 'vitest';
import {
  buildCatalog,
  type Catalog,
  changedKinds,
  EMPTY_CATALOG,
  type UpstreamCatalog,
  type UpstreamCatalogSource,
} from '../../src/catalog/index.js';
import { createToolFilter } from '../../src/tools/filter.js';

const tool = (name: string, description = name) => ({ name, description, inputSchema: { type: 'object' as const } });

const upstreams = [
  { upstream: 'first', toolPrefix: 'f_', filter: createToolFilter({ ignore: ['secret*'] }) },
  { upstream: 'second', filter: createToolFilter({}) },
  { upstream: 'third', filter: createToolFilter({ include: ['echo', 'get*'] }) },
];

function sources(catalogs: Record<string, UpstreamCatalog>): UpstreamCatalogSource[] {
  return upstreams.map((config) => ({ ...config, catalog: catalogs[config.upstream] ?? EMPTY_CATALOG }));
}

/** The same lists as new objects: nothing kept from an earlier build can apply. */
function fresh(catalogs: Record<string, UpstreamCatalog>): Record<string, UpstreamCatalog> {
  return structuredClone(catalogs);
}

/** Everything a client or a router sees of a catalog. */
function visible(catalog: Catalog) {
  return {
    tools: catalog.tools.items,
    toolNames: [...catalog.tools.byName.keys()],
    filteredOut: [...catalog.tools.filteredOut],
    prompts: catalog.prompts.items,
    resources: catalog.resources.resources,
    resourceTemplates: catalog.resources.resourceTemplates,
    owner: catalog.resources.ownerOf('file:///third/readme'),
    warnings: catalog.warnings,
    cacheHints: catalog.cacheHints,
  };
}

const lists: Record<string, UpstreamCatalog> = {
  first: {
    ...EMPTY_CATALOG,
    tools: [tool('echo'), tool('secret_key'), tool('echo', 'twice')],
    prompts: [{ name: 'greet' }],
  },
  second: {
    ...EMPTY_CATALOG,
    tools: [tool('f_echo'), tool('echo'), tool('get issue')],
    prompts: [{ name: 'f_greet' }],
  },
  third: {
    ...EMPTY_CATALOG,
    tools: [tool('echo'), tool('get_issue'), tool('delete')],
    resourceTemplates: [{ uriTemplate: 'file:///third/{name}', name: 'files' }],
  },
};

describe('building the catalog list by list', () => {
  it('gives at every step the catalog a first build of the same lists gives, whatever order they come in', () => {
    for (const order of [
      ['first', 'second', 'third'],
      ['third', 'second', 'first'],
      ['second', 'third', 'first'],
    ]) {
      let catalogs: Record<string, UpstreamCatalog> = {};
      buildCatalog(sources(catalogs));
      for (const name of order) {
        catalogs = { ...catalogs, [name]: lists[name]! };
        const incremental = buildCatalog(sources(catalogs));
        expect(visible(incremental)).toEqual(visible(buildCatalog(sources(fresh(catalogs)))));
      }
    }
  });

  it('settles collisions in config order even when the earlier upstream lists last', () => {
    let catalogs: Record<string, UpstreamCatalog> = { second: lists.second!, third: lists.third! };
    const before = buildCatalog(sources(catalogs));
    expect(before.tools.byName.get('echo')?.upstream).toBe('second');
    // first's `f_echo` is its own name: second's tool of that name loses it now.
    catalogs = { ...catalogs, first: lists.first! };
    const after = buildCatalog(sources(catalogs));
    expect(after.tools.byName.get('f_echo')?.upstream).toBe('first');
    expect(after.tools.byName.get('second_f_echo')?.originalName).toBe('f_echo');
    expect(after.tools.byName.get('echo')?.upstream).toBe('second');
    expect(after.tools.byName.get('third_echo')?.upstream).toBe('third');
    expect(visible(after)).toEqual(visible(buildCatalog(sources(fresh(catalogs)))));
  });

  it('keeps an unchanged upstream’s entries as they were, so a list that changed nothing is no change', () => {
    const catalogs = { ...lists };
    const before = buildCatalog(sources(catalogs));
    const relisted = buildCatalog(
      sources({ ...catalogs, second: { ...lists.second!, tools: [...lists.second!.tools] } }),
    );
    expect(relisted.tools.items.filter((item) => item.upstream !== 'second')).toEqual(
      before.tools.items.filter((item) => item.upstream !== 'second'),
    );
    const firstEcho = (catalog: Catalog) => catalog.tools.byName.get('f_echo')!;
    expect(firstEcho(relisted)).toBe(firstEcho(before));
    expect(changedKinds(before, relisted)).toEqual([]);
    const renamed = buildCatalog(sources({ ...catalogs, second: { ...lists.second!, tools: [tool('other')] } }));
    expect(changedKinds(before, renamed)).toEqual(['tools']);
  });
});
