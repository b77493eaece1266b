/** Environment variables the proxy reads, and `${ENV_VAR}` expansion for header values. */

type Env = NodeJS.ProcessEnv;

/** Well inside the 10 s that common clients give a request: a late list answer is a list the client dropped. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 5_000;

/** Node's timers overflow above this and fire at once, so no timeout may exceed it. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A variable's trimmed value; an empty one counts as unset, as env blocks often hold "" placeholders. */
export function readEnv(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** ENABLE_ADDITIONAL_TOOLS is a comma-separated list shared with other tools; the proxy needs "proxy" or "all". */
export function isProxyEnabled(env: Env): boolean {
  const enabled = (env.ENABLE_ADDITIONAL_TOOLS ?? '').split(',').map((tool) => tool.trim().toLowerCase());
  return enabled.includes('proxy') || enabled.includes('all');
}

export function isDebugEnabled(env: Env): boolean {
  const value = readEnv(env, 'DEBUG')?.toLowerCase();
  return value === '1' || value === 'true';
}

const ON = ['1', 'true', 'yes', 'on'];
const OFF = ['0', 'false', 'no', 'off'];

/** A switch: 1/true/yes/on or 0/false/no/off, `fallback` when unset; anything else is added to `problems`. */
function readSwitch(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const value = readEnv(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (ON.includes(value)) return true;
  if (OFF.includes(value)) return false;
  problems.push(`${name} must be 1 or 0 (true/false, yes/no, on/off)`);
  return fallback;
}

/** PROXY_CATALOG_CACHE: on unless switched off. */
export function readCatalogCache(env: Env, problems: string[]): boolean {
  return readSwitch(env, 'PROXY_CATALOG_CACHE', true, problems);
}

/** PROXY_INSPECT: off unless switched on. */
export function readInspect(env: Env, problems: string[]): boolean {
  return readSwitch(env, 'PROXY_INSPECT', false, problems);
}

/** PROXY_STARTUP_TIMEOUT_MS, or the default; a bad value is added to `problems`. */
export function readStartupTimeoutMs(env: Env, problems: string[]): number {
  const value = readEnv(env, 'PROXY_STARTUP_TIMEOUT_MS');
  if (value === undefined) return DEFAULT_STARTUP_TIMEOUT_MS;
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(ms <= MAX_TIMER_MS)) {
    problems.push(`PROXY_STARTUP_TIMEOUT_MS must be a non-negative integer of milliseconds, at most ${MAX_TIMER_MS}`);
    return DEFAULT_STARTUP_TIMEOUT_MS;
  }
  return ms;
}

/**
 * A comma-separated list (PROXY_INCLUDE_TOOLS=`get_*, search_*`), entries trimmed as mcp-devtools does; empty
 * entries (a trailing comma) are dropped. Undefined when the variable is unset or blank.
 */
export function readList(env: Env, name: string): string[] | undefined {
  const value = readEnv(env, name);
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces each `${NAME}` in `text` with the variable's value. Variables that are not set are listed in
 * `missing` (an empty value counts as set, as in a shell); the caller reports them without the text.
 */
export function expandEnvReferences(text: string, env: Env): { value: string; missing: string[] } {
  const missing: string[] = [];
  const value = text.replace(ENV_REFERENCE, (reference, name: string) => {
    const replacement = env[name];
    if (replacement === undefined) {
      missing.push(name);
      return reference;
    }
    return replacement;
  });
  return { value, missing };
}
