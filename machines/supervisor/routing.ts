/** Which upstream owns a request's target, and the names that upstream knows it by. */
import type { Catalog } from '../../src/catalog/index.js';
import type { RequestTarget, RouteEvent } from './types.js';

/** The owning upstream and the name it knows the target by (URIs are never renamed). */
export function resolve(
  catalog: Catalog,
  target: RequestTarget,
): { upstream: string; originalName?: string } | undefined {
  switch (target.kind) {
    case 'tool': {
      const tool = catalog.tools.byName.get(target.name);
      return tool && { upstream: tool.upstream, originalName: tool.originalName };
    }
    case 'prompt': {
      const prompt = catalog.prompts.byName.get(target.name);
      return prompt && { upstream: prompt.upstream, originalName: prompt.originalName };
    }
    case 'resource': {
      const upstream = catalog.resources.ownerOf(target.uri);
      return upstream === undefined ? undefined : { upstream };
    }
    case 'task':
      return { upstream: target.upstream };
  }
}

/** The params with the upstream's own name where the client used the exposed one. */
export function upstreamParams(
  request: RouteEvent['request'],
  originalName: string | undefined,
): Record<string, unknown> {
  const { params } = request;
  if (originalName === undefined) return params;
  if (request.method === 'completion/complete') {
    return { ...params, ref: { ...(params.ref as Record<string, unknown>), name: originalName } };
  }
  return { ...params, name: originalName };
}
