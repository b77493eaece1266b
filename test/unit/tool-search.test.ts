/** The ranking of the search tool mode's index (src/server/tool-search.ts), over a registry built as the proxy does. */
import type { Tool } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { buildToolRegistry } from '../../src/tools/registry.js';
import { ToolIndex } from '../../src/tools/tool-index.js';

function tool(name: string, description: string, extra: Partial<Tool> = {}, args: Record<string, string> = {}): Tool {
  const properties = Object.fromEntries(
    Object.entries(args).map(([arg, about]) => [arg, { type: 'string', ...(about !== '' && { description: about }) }]),
  );
  return { name, description, inputSchema: { type: 'object', properties }, ...extra };
}

const TOOLS: Tool[] = [
  tool('getJiraIssue', 'Fetches one issue by its key.', {}, { issueKey: 'The key, e.g. PROJ-1.' }),
  tool('createJiraIssue', 'Creates an issue in a project.', { title: 'Create Jira issue' }, { projectKey: '' }),
  tool('searchConfluence', 'Full-text search over pages; mentions jira only in passing.', {}, { cql: 'A query.' }),
  tool('weather', 'The forecast for a city.', {}, { city: '', units: 'metric or imperial' }),
  tool('archive', 'Moves a page away.', {}, { pageId: 'Which page; mentions the forecast.' }),
];

function indexOf(tools: Tool[], toolPrefix?: string): ToolIndex {
  return new ToolIndex(
    buildToolRegistry([
      { upstream: 'up', ...(toolPrefix !== undefined && { toolPrefix }), filter: () => true, items: tools },
    ]),
  );
}

const names = (index: ToolIndex, query: string, limit?: number) =>
  index.search(query, limit).map((found) => found.exposedName);

describe('ToolIndex', () => {
  const index = indexOf(TOOLS);

  it('ranks a match in the name above one in the description', () => {
    expect(names(index, 'jira')[0]).toMatch(/Jira/);
    expect(names(index, 'jira').at(-1)).toBe('searchConfluence');
  });

  it('ranks a match in the description above one in an argument description', () => {
    expect(names(index, 'forecast')).toEqual(['weather', 'archive']);
  });

  it('finds words of camel-cased names and argument names', () => {
    expect(names(index, 'confluence')).toEqual(['searchConfluence']);
    expect(names(index, 'projectKey')).toEqual(['createJiraIssue']);
    expect(names(index, 'units')).toEqual(['weather']);
  });

  it('takes the title into account', () => {
    expect(names(index, 'create')[0]).toBe('createJiraIssue');
  });

  it('matches a prefix of three letters or more, and a small typo in a longer word', () => {
    expect(names(index, 'confl')).toEqual(['searchConfluence']);
    expect(names(index, 'forcast')).toEqual(['weather', 'archive']);
    expect(names(index, 'we')).toEqual([]);
  });

  it('searches the exposed names (prefixed) and keeps to the limit', () => {
    const prefixed = indexOf(TOOLS, 'atl_');
    expect(names(prefixed, 'atl_weather')).toContain('atl_weather');
    expect(names(index, 'issue', 1)).toHaveLength(1);
  });
});
