/**
 * Lists everything of one kind an upstream offers, every page, checking each item on its own. The SDK's list
 * methods validate a page as a whole, so one tool with an invalid `inputSchema` would cost the upstream every tool
 * (and put it in a reconnect loop); here the bad item is dropped with one warning and the rest is exposed.
 */
import {
  type Client,
  type Prompt,
  type Resource,
  type ResourceTemplateType as ResourceTemplate,
  specTypeSchemas,
  type Tool,
} from '@modelcontextprotocol/client';
import { z } from 'zod';
import { narrowestCacheHint } from '../catalog/cache-hints.js';
import type { CacheHint } from '../catalog/index.js';

/** Pages followed at most: a server that hands out cursors forever must not keep the proxy listing. */
const MAX_PAGES = 1_000;

interface ListedKinds {
  tools: Tool;
  resources: Resource;
  resourceTemplates: ResourceTemplate;
  prompts: Prompt;
}

export type ListedKind = keyof ListedKinds;

const LISTS = {
  tools: { method: 'tools/list', what: 'tool', schema: specTypeSchemas.Tool },
  resources: { method: 'resources/list', what: 'resource', schema: specTypeSchemas.Resource },
  resourceTemplates: {
    method: 'resources/templates/list',
    what: 'resource template',
    schema: specTypeSchemas.ResourceTemplate,
  },
  prompts: { method: 'prompts/list', what: 'prompt', schema: specTypeSchemas.Prompt },
} as const;

export interface ListTarget {
  client: Client;
  upstream: string;
  timeoutMs: number;
  /** One line per dropped item. */
  warn(line: string): void;
}

/** Items are checked one by one below; the page itself only needs to be a page. */
const makePageSchema = (kind: ListedKind) =>
  z.looseObject({ [kind]: z.array(z.unknown()).default([]), nextCursor: z.string().optional() });

// Built once per kind: a zod schema compiles itself on first use, which every upstream's list would otherwise repeat.
const pageSchemas = new Map<ListedKind, ReturnType<typeof makePageSchema>>();
function pageSchema(kind: ListedKind): ReturnType<typeof makePageSchema> {
  let schema = pageSchemas.get(kind);
  if (schema === undefined) {
    schema = makePageSchema(kind);
    pageSchemas.set(kind, schema);
  }
  return schema;
}

/** Warnings already given, by upstream: a relist of the same bad list must not repeat them. */
const warned = new Map<string, Set<string>>();

/** `hints`, when given, gets the list's cache hint under `kind`: the narrowest over its pages. */
export async function listAll<K extends ListedKind>(
  target: ListTarget,
  kind: K,
  hints?: Partial<Record<ListedKind, CacheHint>>,
): Promise<ListedKinds[K][]> {
  const { method, what, schema } = LISTS[kind];
  const items: ListedKinds[K][] = [];
  const page = pageSchema(kind);
  let cursor: string | undefined;
  const seenCursors = new Set<string>();
  const pageHints: CacheHint[] = [];
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const result = await target.client.request(
      { method, params: cursor === undefined ? {} : { cursor } },
      page,
      // Never from a response cache: a re-list must be fresh.
      { timeout: target.timeoutMs },
    );
    for (const [index, raw] of (result[kind] as unknown[]).entries()) {
      const checked = await schema['~standard'].validate(raw);
      const problem = checked.issues ? describeIssue(checked.issues[0]!) : unusableName(kind, raw);
      if (problem === undefined) items.push(raw as ListedKinds[K]);
      else warnOnce(target, `upstream "${target.upstream}": ${what} ${label(raw, index)} is left out: ${problem}`);
    }
    pageHints.push(cacheHintOf(result));
    cursor = result.nextCursor as string | undefined;
    if (cursor === undefined || seenCursors.has(cursor)) break;
    seenCursors.add(cursor);
  }
  if (hints) hints[kind] = narrowestCacheHint(pageHints);
  return items;
}

/** The result's own `ttlMs` / `cacheScope`, when valid (a 2025-era upstream sends none). */
function cacheHintOf(result: Record<string, unknown>): CacheHint {
  const { ttlMs, cacheScope } = result;
  return {
    ...(typeof ttlMs === 'number' && Number.isSafeInteger(ttlMs) && ttlMs >= 0 && { ttlMs }),
    ...((cacheScope === 'public' || cacheScope === 'private') && { cacheScope }),
  };
}

/** Names nobody can call or read: empty, or with control characters. */
function unusableName(kind: ListedKind, raw: unknown): string | undefined {
  if (kind === 'resources' || kind === 'resourceTemplates') return undefined;
  const name = (raw as { name: string }).name;
  if (name.length === 0) return 'its name is empty';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'its name has control characters';
  return undefined;
}

function describeIssue(issue: { message: string; path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> }): string {
  const path = (issue.path ?? []).map((part) => String(typeof part === 'object' ? part.key : part)).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The item's name as a short, printable label (it may be anything but a good name). */
function label(raw: unknown, index: number): string {
  const name = (raw as { name?: unknown } | null)?.name;
  if (typeof name !== 'string' || name.length === 0) return `#${index + 1}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: printed lines must not carry control characters
  const printable = name.replace(/[\u0000-\u001f\u007f]/g, '?');
  return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 80)}…` : printable);
}

function warnOnce(target: ListTarget, line: string): void {
  const lines = warned.get(target.upstream) ?? new Set<string>();
  warned.set(target.upstream, lines);
  if (lines.has(line)) return;
  lines.add(line);
  target.warn(line);
}
