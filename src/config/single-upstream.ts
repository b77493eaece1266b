/**
 * The single-upstream form of mcp-devtools (internal/tools/proxy/config.go): one upstream from PROXY_URL, with
 * PROXY_TRANSPORT and the comma-separated PROXY_INCLUDE_TOOLS and PROXY_IGNORE_TOOLS. mcp-devtools reads nothing
 * else for it (no headers, prefix or timeouts), so neither does the proxy: those need PROXY_UPSTREAMS or a file.
 */
import { readEnv, readList } from './env.js';
import { toUpstreamConfig, type UpstreamConfig, upstreamSchema } from './schema.js';
import { describeUpstreamIssues } from './schema-messages.js';

type Env = NodeJS.ProcessEnv;

/**
 * The name mcp-devtools gives this upstream. Keeping it keeps the token folder (`<token dir>/default/`) and the
 * static client variables (PROXY_DEFAULT_CLIENT_ID, PROXY_DEFAULT_CLIENT_SECRET) of a moved setup working.
 */
export const SINGLE_UPSTREAM_NAME = 'default';

/** The variables that mean something only next to PROXY_URL. */
export const SINGLE_UPSTREAM_OPTIONS = ['PROXY_TRANSPORT', 'PROXY_INCLUDE_TOOLS', 'PROXY_IGNORE_TOOLS'] as const;

// Messages name the variable the user set, not the field it becomes.
const VARIABLE_OF_FIELD: Record<string, string> = {
  url: 'PROXY_URL',
  transport: 'PROXY_TRANSPORT',
  include_tools: 'PROXY_INCLUDE_TOOLS',
  ignore_tools: 'PROXY_IGNORE_TOOLS',
};

/** The upstream PROXY_URL describes (the caller checked that it is set), or undefined with `problems` added. */
export function readSingleUpstream(env: Env, problems: string[]): UpstreamConfig | undefined {
  const before = problems.length;
  const raw: Record<string, unknown> = { name: SINGLE_UPSTREAM_NAME, url: readEnv(env, 'PROXY_URL') };
  const transport = readEnv(env, 'PROXY_TRANSPORT');
  if (transport !== undefined) raw.transport = transport;
  const includeTools = readList(env, 'PROXY_INCLUDE_TOOLS');
  // Only commas: an empty whitelist would expose nothing, which is never what was meant.
  if (includeTools?.length === 0) problems.push('PROXY_INCLUDE_TOOLS lists no pattern (unset it to expose every tool)');
  else if (includeTools !== undefined) raw.include_tools = includeTools;
  const ignoreTools = readList(env, 'PROXY_IGNORE_TOOLS');
  if (ignoreTools !== undefined && ignoreTools.length > 0) raw.ignore_tools = ignoreTools;

  const result = upstreamSchema.safeParse(raw);
  if (!result.success) {
    const labelOf = (field: string) => VARIABLE_OF_FIELD[field] ?? field;
    problems.push(...describeUpstreamIssues(result.error.issues, raw, labelOf));
  }
  if (!result.success || problems.length > before) return undefined;
  return toUpstreamConfig(result.data, {});
}
