/**
 * The ranked full-text index of the exposed tools, for the search tool mode (src/server/tool-search.ts): MiniSearch
 * over names, titles, descriptions and argument names and descriptions, weighted in that order.
 */
import MiniSearch, { type SearchResult } from 'minisearch';
import type { ExposedTool, ToolRegistry } from './registry.js';

/** How many matches a search gives unless asked for another number. */
export const DEFAULT_LIMIT = 10;

/** One exposed tool as indexed: the fields searched, by weight. */
interface IndexedTool {
  id: string;
  name: string;
  title: string;
  description: string;
  argumentNames: string;
  argumentDescriptions: string;
}

/** name > title > description > arguments. */
const BOOSTS = { name: 4, title: 3, description: 2, argumentNames: 1.5, argumentDescriptions: 1 };

const WORD_SEPARATORS = /[\n\r\p{Z}\p{P}\p{S}]+/u;

/** Words split at spaces and punctuation (`_` and `-` too); `getJiraIssue` also as `get`, `jira`, `issue`. */
function tokenize(text: string): string[] {
  const terms: string[] = [];
  for (const word of text.split(WORD_SEPARATORS)) {
    if (word === '') continue;
    terms.push(word);
    const parts = word.split(/(?<=\p{Ll})(?=\p{Lu})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/u);
    if (parts.length > 1) terms.push(...parts);
  }
  return terms;
}

function documentOf({ exposedName, definition }: ExposedTool): IndexedTool {
  const properties = (definition.inputSchema?.properties ?? {}) as Record<string, unknown>;
  const argumentDescriptions = Object.values(properties).map((property) => {
    const description = (property as { description?: unknown } | null)?.description;
    return typeof description === 'string' ? description : '';
  });
  return {
    id: exposedName,
    name: exposedName,
    title: definition.title ?? definition.annotations?.title ?? '',
    description: definition.description ?? '',
    argumentNames: Object.keys(properties).join(' '),
    argumentDescriptions: argumentDescriptions.join('\n'),
  };
}

/** The ranked full-text index of one tool registry. */
export class ToolIndex {
  readonly #search: MiniSearch<IndexedTool>;

  constructor(readonly tools: ToolRegistry) {
    this.#search = new MiniSearch<IndexedTool>({
      fields: ['name', 'title', 'description', 'argumentNames', 'argumentDescriptions'],
      tokenize,
      searchOptions: {
        // A query is taken as written (`delayMs` is one word): only the indexed names are split at their cases.
        tokenize: (text) => text.split(WORD_SEPARATORS).filter((word) => word !== ''),
        boost: BOOSTS,
        // Modest: a prefix of 3 letters or more, one typo in a word of 5 or more (two from 10).
        prefix: (term) => term.length >= 3,
        fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
        maxFuzzy: 2,
      },
    });
    this.#search.addAll(tools.items.map(documentOf));
  }

  /** The best matches first, at most `limit`. */
  search(query: string, limit = DEFAULT_LIMIT): ExposedTool[] {
    return this.#search
      .search(query)
      .slice(0, limit)
      .flatMap((result: SearchResult) => {
        const tool = this.tools.byName.get(result.id as string);
        return tool ? [tool] : [];
      });
  }
}
