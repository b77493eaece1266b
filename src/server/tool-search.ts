/**
 * The search tool mode (PROXY_TOOL_MODE=search): for clients that choke on hundreds of tools, the client lists three
 * tools of the proxy's own instead of every upstream tool. `search_tools` ranks the exposed tools (the catalog
 * `tools/list` serves in `all` mode) by a full-text search, `describe_tools` gives their full definitions and
 * `call_tool` calls one, through the same path as a direct `tools/call` (the caller's `callTool`).
 *
 * The index is built on the first search after the tools changed, never on the change itself: an upstream that
 * relists often costs nothing until someone searches.
 */
import type { CallToolResult, ServerContext, Tool } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Catalog, CatalogKind } from '../catalog/index.js';
import { DEFAULT_LIMIT, ToolIndex } from '../tools/tool-index.js';

export const SEARCH_TOOL = 'search_tools';
export const DESCRIBE_TOOL = 'describe_tools';
export const CALL_TOOL = 'call_tool';

const MAX_LIMIT = 50;
const SUMMARY_LENGTH = 160;

const matchSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: 'The name to call it by (with call_tool) and describe it by.' },
    upstream: { type: 'string', description: 'The upstream server that provides it.' },
    title: { type: 'string' },
    description: { type: 'string', description: 'The first line of its description.' },
  },
  required: ['name', 'upstream', 'description'],
} as const;

/** What the client lists in search mode, in this order. */
export const SEARCH_MODE_TOOLS: readonly Tool[] = [
  {
    name: SEARCH_TOOL,
    title: 'Search tools',
    description:
      'Searches the tools of every upstream server by name, title, description and argument names; answers the ' +
      'best matches first. Use describe_tools for the full definition of a match, call_tool to call it.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Words to look for, e.g. "create jira issue".' },
        limit: {
          type: 'integer',
          minimum: 1,
          maximum: MAX_LIMIT,
          description: `How many matches at most (default ${DEFAULT_LIMIT}).`,
        },
      },
      required: ['query'],
    },
    outputSchema: {
      type: 'object',
      properties: { tools: { type: 'array', items: matchSchema } },
      required: ['tools'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: DESCRIBE_TOOL,
    title: 'Describe tools',
    description:
      'The full definitions (description, input schema, output schema, annotations) of the named tools, as ' +
      'search_tools names them.',
    inputSchema: {
      type: 'object',
      properties: {
        names: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'Tool names.' },
      },
      required: ['names'],
    },
    outputSchema: {
      type: 'object',
      properties: {
        tools: { type: 'array', items: { type: 'object' } },
        unknown: { type: 'array', items: { type: 'string' }, description: 'The names no tool has.' },
      },
      required: ['tools', 'unknown'],
    },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  {
    name: CALL_TOOL,
    title: 'Call a tool',
    description:
      'Calls the named tool (a name search_tools found) with its arguments, and answers what the tool answers. ' +
      'Describe the tool first to know its arguments.',
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'The tool to call.' },
        arguments: { type: 'object', description: "The tool's arguments, as its input schema describes them." },
      },
      required: ['name'],
    },
  },
];

const SEARCH_TOOL_NAMES: ReadonlySet<string> = new Set(SEARCH_MODE_TOOLS.map((tool) => tool.name));

/** The first line of a description, shortened: what a list of matches shows. */
function summaryOf(description: string | undefined): string {
  const line = (description ?? '').trim().split(/\r?\n/, 1)[0] ?? '';
  return line.length > SUMMARY_LENGTH ? `${line.slice(0, SUMMARY_LENGTH - 1)}…` : line;
}

const searchArguments = z.object({
  query: z.string().trim().min(1, 'query must be a non-empty string'),
  limit: z.number().int().min(1).max(MAX_LIMIT).optional(),
});
const describeArguments = z.object({ names: z.array(z.string()).min(1, 'names must name at least one tool') });
const callArguments = z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional() });

function toolError(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function argumentsError(tool: string, error: z.ZodError): CallToolResult {
  const problems = error.issues.map((issue) =>
    issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
  );
  return toolError(`Invalid arguments for ${tool}: ${problems.join('; ')}`);
}

export interface ToolSearchDeps {
  /** The catalog as `tools/list` would answer from it (waits for startup to settle). */
  catalog(ctx: ServerContext): Promise<Catalog>;
  /** A direct `tools/call` with these params (the client's, with the name and arguments of the tool called). */
  callTool(params: Record<string, unknown>, ctx: ServerContext): Promise<unknown>;
}

export interface ToolSearch {
  /** Whether `name` is one of the three tools of search mode. */
  handles(name: string): boolean;
  /** Answers a `tools/call` of one of the three tools. */
  call(params: Record<string, unknown>, ctx: ServerContext): Promise<unknown>;
  /** The supervisor's catalog changed: a change of tools makes the next search build the index again. */
  catalogChanged(kinds: readonly CatalogKind[]): void;
}

export function createToolSearch({ catalog, callTool }: ToolSearchDeps): ToolSearch {
  /** Bumped by each change of the tools; an index is good for the generation it was built in. */
  let generation = 0;
  let built: { generation: number; index: ToolIndex } | undefined;

  const indexNow = async (ctx: ServerContext): Promise<ToolIndex> => {
    // Read before the catalog is: a change while it is fetched makes the next search build again.
    const current = generation;
    if (built?.generation === current) return built.index;
    const index = new ToolIndex((await catalog(ctx)).tools);
    built = { generation: current, index };
    return index;
  };

  const search = async (args: unknown, ctx: ServerContext): Promise<CallToolResult> => {
    const parsed = searchArguments.safeParse(args ?? {});
    if (!parsed.success) return argumentsError(SEARCH_TOOL, parsed.error);
    const { query, limit } = parsed.data;
    const found = (await indexNow(ctx)).search(query, limit);
    const tools = found.map(({ exposedName, upstream, definition }) => ({
      name: exposedName,
      upstream,
      ...(definition.title !== undefined && { title: definition.title }),
      description: summaryOf(definition.description),
    }));
    const lines = tools.map(({ name, upstream, description }) =>
      description === '' ? `- ${name} (${upstream})` : `- ${name} (${upstream}): ${description}`,
    );
    const text =
      tools.length === 0
        ? `No tool matches ${JSON.stringify(query)}. Try other words, or fewer.`
        : `${tools.length} tool(s) match ${JSON.stringify(query)}, best first:\n${lines.join('\n')}`;
    return { content: [{ type: 'text', text }], structuredContent: { tools } };
  };

  const describe = async (args: unknown, ctx: ServerContext): Promise<CallToolResult> => {
    const parsed = describeArguments.safeParse(args ?? {});
    if (!parsed.success) return argumentsError(DESCRIBE_TOOL, parsed.error);
    const { tools: registry } = await catalog(ctx);
    const tools: Record<string, unknown>[] = [];
    const unknown: string[] = [];
    for (const name of new Set(parsed.data.names)) {
      const tool = registry.byName.get(name);
      if (tool === undefined) {
        unknown.push(name);
        continue;
      }
      const { title, description, inputSchema, outputSchema, annotations, execution } = tool.definition;
      tools.push({
        name: tool.exposedName,
        upstream: tool.upstream,
        ...(title !== undefined && { title }),
        ...(description !== undefined && { description }),
        inputSchema,
        ...(outputSchema !== undefined && { outputSchema }),
        ...(annotations !== undefined && { annotations }),
        ...(execution !== undefined && { execution }),
      });
    }
    const content: CallToolResult['content'] = tools.map((tool) => ({
      type: 'text',
      text: JSON.stringify(tool, null, 2),
    }));
    if (unknown.length > 0) {
      const names = unknown.map((name) => JSON.stringify(name)).join(', ');
      content.push({ type: 'text', text: `Unknown tool(s): ${names}. search_tools finds the names there are.` });
    }
    return { content, structuredContent: { tools, unknown }, ...(tools.length === 0 && { isError: true }) };
  };

  const call = async (params: Record<string, unknown>, ctx: ServerContext): Promise<unknown> => {
    const parsed = callArguments.safeParse(params.arguments ?? {});
    if (!parsed.success) return argumentsError(CALL_TOOL, parsed.error);
    const { name, arguments: toolArguments } = parsed.data;
    const known = SEARCH_TOOL_NAMES.has(name) || (await catalog(ctx)).tools.byName.has(name);
    if (!known) return toolError(`Unknown tool: ${JSON.stringify(name)}. search_tools finds the names there are.`);
    // The client's own params (its _meta: progress token; a task) go with it, as they would on a direct call.
    return callTool({ ...params, name, arguments: toolArguments ?? {} }, ctx);
  };

  return {
    handles: (name) => SEARCH_TOOL_NAMES.has(name),
    call: (params, ctx) => {
      switch (params.name) {
        case SEARCH_TOOL:
          return search(params.arguments, ctx);
        case DESCRIBE_TOOL:
          return describe(params.arguments, ctx);
        default:
          return call(params, ctx);
      }
    },
    catalogChanged: (kinds) => {
      if (kinds.includes('tools')) generation++;
    },
  };
}
