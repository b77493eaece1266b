/**
 * PROXY_MAX_TOOL_NAME: the longest tool name the proxy exposes, for clients whose limit is shorter than the usual
 * 64 (Cursor adds its own prefix and drops names over 60). Longer names are shortened, never dropped.
 */
import type { UpstreamConfig } from './schema.js';
import { integerVariable, read } from './variables.js';

type Env = NodeJS.ProcessEnv;

/** The strictest limit among popular clients: 1..64 characters of [A-Za-z0-9_-]. */
export const DEFAULT_MAX_TOOL_NAME = 64;
/** Room for a readable head, "_" and the 8-character hash that keeps shortened names distinct. */
export const MIN_MAX_TOOL_NAME = 16;
/** What the MCP specification allows a tool name. */
export const MAX_MAX_TOOL_NAME = 128;

const maxToolNameSchema = integerVariable(
  MIN_MAX_TOOL_NAME,
  MAX_MAX_TOOL_NAME,
  (got) => `PROXY_MAX_TOOL_NAME must be an integer from ${MIN_MAX_TOOL_NAME} to ${MAX_MAX_TOOL_NAME}, got ${got}`,
);

/** PROXY_MAX_TOOL_NAME, or the default; a bad value is added to `problems`. */
export function readMaxToolName(env: Env, problems: string[]): number {
  return read(maxToolNameSchema, env.PROXY_MAX_TOOL_NAME, DEFAULT_MAX_TOOL_NAME, problems);
}

/**
 * A name written in a `tools` override is meant to be seen as written: one the limit would shorten is a config
 * error, not a surprise in the client.
 */
export function checkOverrideNames(upstreams: readonly UpstreamConfig[], maxToolName: number, problems: string[]) {
  for (const upstream of upstreams) {
    for (const [tool, override] of Object.entries(upstream.tools ?? {})) {
      if (override.name === undefined || override.name.length <= maxToolName) continue;
      problems.push(
        `upstream ${JSON.stringify(upstream.name)}: tools[${JSON.stringify(tool)}].name is longer than PROXY_MAX_TOOL_NAME (${maxToolName})`,
      );
    }
  }
}
