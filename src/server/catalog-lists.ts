/**
 * The list requests (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`), answered from the
 * supervisor's catalog, and the list_changed notifications that tell the client to list again.
 */
import type { Server, ServerContext, Tool } from '@modelcontextprotocol/server';
import type { Catalog, CatalogKind, CatalogList } from '../catalog/index.js';
import type { Era } from '../tasks/routing.js';
import type { ExposedTool } from '../tools/index.js';
import type { DownstreamSession } from './downstream-session.js';
import { STATUS_RESOURCE } from './status-resource.js';

export interface CatalogLists {
  /** The catalog as the list requests answer from it (waits for startup to settle). */
  catalog(ctx: ServerContext): Promise<Catalog>;
  /**
   * The tool of that name as listed now. One not listed yet is looked up again once startup has settled (its call
   * would wait for that anyway): a call of a listed tool never waits for a slow other upstream.
   */
  toolNamed(name: string, ctx: ServerContext): Promise<ExposedTool | undefined>;
  notifyListChanged(kinds: readonly CatalogKind[]): void;
  /** Installs the list handlers on a server built for `era`. */
  register(server: Server, era: Era): void;
}

/** `listedTools`, when given, is what `tools/list` answers instead of the catalog's tools (search mode). */
export function createCatalogLists(
  { current, supervisorReady }: DownstreamSession,
  listedTools?: readonly Tool[],
): CatalogLists {
  const catalog = async (ctx: ServerContext): Promise<Catalog> => {
    const supervisor = await supervisorReady(ctx);
    return new Promise<Catalog>((reply) => supervisor.send({ type: 'catalog.get', reply }));
  };

  const toolNamed = async (name: string, ctx: ServerContext) => {
    const supervisor = await supervisorReady(ctx);
    const listed = supervisor.getSnapshot().context.catalog.tools.byName.get(name);
    return listed ?? (await catalog(ctx)).tools.byName.get(name);
  };

  /**
   * A list request answered from the catalog. One the client gave up on (it cancelled, as Claude Code does after
   * 30 s) never sees its answer, and a client may never list again unprompted: so once the list is complete, the
   * client is told it changed.
   */
  const list = async <T>(kind: CatalogKind, ctx: ServerContext, pick: (catalog: Catalog) => T): Promise<T> => {
    const answer = pick(await catalog(ctx));
    if (ctx.mcpReq.signal.aborted) notifyListChanged([kind]);
    return answer;
  };

  const notifyListChanged = (kinds: readonly CatalogKind[]) => {
    const notify = {
      tools: () => current()?.sendToolListChanged(),
      prompts: () => current()?.sendPromptListChanged(),
      resources: () => current()?.sendResourceListChanged(),
    };
    for (const kind of kinds) {
      notify[kind]()?.catch(() => {
        // Not connected yet, or the client is gone: nothing to tell.
      });
    }
  };

  const register = (server: Server, era: Era) => {
    // A 2026-07-28 answer carries the upstreams' cache hints combined, not the SDK's default (2025 has none).
    const hint = (known: Catalog, of: CatalogList) => (era === 'modern' ? known.cacheHints[of] : undefined);
    server.setRequestHandler('tools/list', (_request, ctx) => {
      if (listedTools === undefined) {
        return list('tools', ctx, (known) => ({
          tools: known.tools.items.map((tool) => tool.definition),
          ...hint(known, 'tools'),
        }));
      }
      // Fixed tools need no upstream: the client has them at once (the upstreams start all the same, for the search).
      void supervisorReady(ctx);
      return { tools: [...listedTools] };
    });
    server.setRequestHandler('prompts/list', (_request, ctx) =>
      list('prompts', ctx, (known) => ({
        prompts: known.prompts.items.map((prompt) => prompt.definition),
        ...hint(known, 'prompts'),
      })),
    );
    // The status resource comes first and is always there, whatever the upstreams list.
    server.setRequestHandler('resources/list', (_request, ctx) =>
      list('resources', ctx, (known) => ({
        resources: [STATUS_RESOURCE, ...known.resources.resources],
        ...hint(known, 'resources'),
      })),
    );
    server.setRequestHandler('resources/templates/list', (_request, ctx) =>
      list('resources', ctx, (known) => ({
        resourceTemplates: [...known.resources.resourceTemplates],
        ...hint(known, 'resourceTemplates'),
      })),
    );
  };

  return { catalog, toolNamed, notifyListChanged, register };
}
