/**
 * PROXY_TOOL_MODE or --tool-mode: how the client sees the upstream tools. `all` (the default) lists every one;
 * `search` lists three tools of the proxy's own that search, describe and call them, for clients that choke on
 * hundreds of tools.
 */
import { z } from 'zod';
import { variable } from './variables.js';

export const TOOL_MODES = ['all', 'search'] as const;
export type ToolMode = (typeof TOOL_MODES)[number];

/** `name` is what the value came from (the variable or the flag), for the message. */
function toolModeSchema(name: string) {
  return variable.transform((raw, context): ToolMode | undefined => {
    if (raw === undefined) return undefined;
    const mode = raw.toLowerCase();
    if ((TOOL_MODES as readonly string[]).includes(mode)) return mode as ToolMode;
    const got = JSON.stringify(raw.length > 40 ? `${raw.slice(0, 39)}…` : raw);
    context.addIssue({ code: 'custom', message: `${name} must be "search" or "all" (got ${got})` });
    return z.NEVER;
  });
}

/** The flag wins over the variable; a bad value of either is added to `problems` (and `all` stands meanwhile). */
export function readToolMode(env: NodeJS.ProcessEnv, flag: string | undefined, problems: string[]): ToolMode {
  const fromEnv = toolModeSchema('PROXY_TOOL_MODE').safeParse(env.PROXY_TOOL_MODE);
  const fromFlag = toolModeSchema('--tool-mode').safeParse(flag);
  for (const result of [fromEnv, fromFlag]) {
    if (!result.success) problems.push(...result.error.issues.map((issue) => issue.message));
  }
  return (fromFlag.success ? fromFlag.data : undefined) ?? (fromEnv.success ? fromEnv.data : undefined) ?? 'all';
}
