/**
 * Environment variables as zod schemas: a variable is a string or unset, trimmed, and blank counts as unset (env
 * blocks often hold "" placeholders). Each reader here turns one into a value, or an issue whose message names the
 * variable; `read` takes the value or, with the message added to the caller's problems, the default.
 */
import { z } from 'zod';

/** Node's timers overflow above this and fire at once, so no timeout may exceed it. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A variable's trimmed value, undefined when unset or blank. */
export const variable = z
  .string()
  .optional()
  .transform((value) => value?.trim() || undefined);

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Digits within [min, max], or `problem` (given what the variable holds, quoted and shortened). */
export function integerVariable(min: number, max: number, problem: (got: string) => string) {
  return variable.transform((raw, context) => {
    if (raw === undefined) return undefined;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    context.addIssue({ code: 'custom', message: problem(JSON.stringify(truncate(raw, 40))) });
    return z.NEVER;
  });
}

const ON = ['1', 'true', 'yes', 'on'];
const OFF = ['0', 'false', 'no', 'off'];

/** A switch: 1/true/yes/on or 0/false/no/off, in any case. */
export function switchVariable(name: string) {
  return variable.transform((raw, context) => {
    const value = raw?.toLowerCase();
    if (value === undefined) return undefined;
    if (ON.includes(value)) return true;
    if (OFF.includes(value)) return false;
    context.addIssue({ code: 'custom', message: `${name} must be 1 or 0 (true/false, yes/no, on/off)` });
    return z.NEVER;
  });
}

/**
 * A comma-separated list (PROXY_INCLUDE_TOOLS=`get_*, search_*`), entries trimmed as mcp-devtools does; empty
 * entries (a trailing comma) are dropped.
 */
export const listVariable = variable.transform((raw) =>
  raw
    ?.split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== ''),
);

/** The parsed value, or `fallback` with the schema's messages added to `problems`. */
export function read<T>(
  schema: z.ZodType<T | undefined>,
  value: string | undefined,
  fallback: T,
  problems: string[],
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data ?? fallback;
  problems.push(...result.error.issues.map((issue) => issue.message));
  return fallback;
}
