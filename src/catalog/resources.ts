/**
 * Resources of every upstream, under their own URIs. A URI is an address, not a name: it is never renamed (tool
 * results and other resources point at it). When two upstreams list the same URI (or template), the first in
 * config order owns it and the other's is left out, with a warning.
 */
import type { Resource, ResourceTemplateType as ResourceTemplate } from '@modelcontextprotocol/client';
import { UriTemplate } from '@modelcontextprotocol/server';

export interface UpstreamResourceSource {
  upstream: string;
  resources: readonly Resource[];
  resourceTemplates: readonly ResourceTemplate[];
}

export interface ResourceRegistry {
  /** Config order, then each upstream's order. */
  readonly resources: readonly Resource[];
  readonly resourceTemplates: readonly ResourceTemplate[];
  /** The upstream that serves `uri`, if any can be told: see `resourceOwner`. */
  ownerOf(uri: string): string | undefined;
  readonly warnings: readonly string[];
}

/** Parsed once per upstream's template list (a new array when it changes): undefined where the SDK cannot parse one. */
const parsedTemplates = new WeakMap<readonly ResourceTemplate[], Array<UriTemplate | undefined>>();

function parsed(templates: readonly ResourceTemplate[]): Array<UriTemplate | undefined> {
  let result = parsedTemplates.get(templates);
  if (result === undefined) {
    result = templates.map((template) => {
      try {
        return new UriTemplate(template.uriTemplate);
      } catch {
        // A template the SDK cannot parse still gets listed; reads of its URIs fall back to the single provider.
        return undefined;
      }
    });
    parsedTemplates.set(templates, result);
  }
  return result;
}

export function buildResourceRegistry(sources: readonly UpstreamResourceSource[]): ResourceRegistry {
  const warnings: string[] = [];
  const owners = new Map<string, string>();
  const resources: Resource[] = [];
  for (const { upstream, resources: listed } of sources) {
    for (const resource of listed) {
      const owner = owners.get(resource.uri);
      if (owner === undefined) {
        owners.set(resource.uri, upstream);
        resources.push(resource);
      } else if (owner !== upstream) {
        warnings.push(
          `resource ${resource.uri} of upstream "${upstream}" is also listed by upstream "${owner}"; the first is kept`,
        );
      }
    }
  }

  const templateOwners = new Map<string, string>();
  const resourceTemplates: ResourceTemplate[] = [];
  const matchers: Array<{ template: UriTemplate; upstream: string }> = [];
  for (const { upstream, resourceTemplates: listed } of sources) {
    const templates = parsed(listed);
    for (const [index, template] of listed.entries()) {
      const owner = templateOwners.get(template.uriTemplate);
      if (owner !== undefined) {
        if (owner !== upstream) {
          warnings.push(
            `resource template ${template.uriTemplate} of upstream "${upstream}" is also listed by upstream "${owner}"; the first is kept`,
          );
        }
        continue;
      }
      templateOwners.set(template.uriTemplate, upstream);
      resourceTemplates.push(template);
      const matcher = templates[index];
      if (matcher) matchers.push({ template: matcher, upstream });
    }
  }

  const providers = sources.filter((source) => source.resources.length > 0 || source.resourceTemplates.length > 0);
  return {
    resources,
    resourceTemplates,
    warnings,
    ownerOf(uri) {
      const listed = owners.get(uri);
      if (listed !== undefined) return listed;
      for (const { template, upstream } of matchers) {
        if (template.match(uri)) return upstream;
      }
      // Not listed and no template matches (a resource link in a tool result, say): when one upstream alone has
      // resources, it is the only one that can know the URI.
      return providers.length === 1 ? providers[0]!.upstream : undefined;
    },
  };
}
