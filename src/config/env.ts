/** The proxy-wide environment variables (the OAuth ones are in oauth-settings.ts), and `${ENV_VAR}` expansion. */
import { integerVariable, listVariable, MAX_TIMER_MS, read, switchVariable, variable } from './variables.js';

type Env = NodeJS.ProcessEnv;

/** Well inside the 10 s that common clients give a request: a late list answer is a list the client dropped. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 5_000;

/** A variable's trimmed value; an empty one counts as unset. */
export function readEnv(env: Env, name: string): string | undefined {
  return variable.parse(env[name]);
}

/** ENABLE_ADDITIONAL_TOOLS is a comma-separated list shared with other tools; the proxy needs "proxy" or "all". */
export function isProxyEnabled(env: Env): boolean {
  const enabled = (env.ENABLE_ADDITIONAL_TOOLS ?? '').split(',').map((tool) => tool.trim().toLowerCase());
  return enabled.includes('proxy') || enabled.includes('all');
}

/** DEBUG=1 or true; anything else (other tools' `DEBUG=express:*`, say) is not ours and means off. */
const debugSchema = variable.transform((raw) => ['1', 'true'].includes(raw?.toLowerCase() ?? ''));

export function isDebugEnabled(env: Env): boolean {
  return debugSchema.parse(env.DEBUG);
}

/** PROXY_CATALOG_CACHE: on unless switched off. */
export function readCatalogCache(env: Env, problems: string[]): boolean {
  return read(switchVariable('PROXY_CATALOG_CACHE'), env.PROXY_CATALOG_CACHE, true, problems);
}

/** PROXY_PIN_TOOLS: pin every upstream's tools (an upstream's `pin_tools` wins); off unless switched on. */
export function readPinTools(env: Env, problems: string[]): boolean {
  return read(switchVariable('PROXY_PIN_TOOLS'), env.PROXY_PIN_TOOLS, false, problems);
}

/** PROXY_INSPECT: off unless switched on. */
export function readInspect(env: Env, problems: string[]): boolean {
  return read(switchVariable('PROXY_INSPECT'), env.PROXY_INSPECT, false, problems);
}

const startupTimeoutSchema = integerVariable(
  0,
  MAX_TIMER_MS,
  () => `PROXY_STARTUP_TIMEOUT_MS must be a non-negative integer of milliseconds, at most ${MAX_TIMER_MS}`,
);

/** PROXY_STARTUP_TIMEOUT_MS, or the default; a bad value is added to `problems`. */
export function readStartupTimeoutMs(env: Env, problems: string[]): number {
  return read(startupTimeoutSchema, env.PROXY_STARTUP_TIMEOUT_MS, DEFAULT_STARTUP_TIMEOUT_MS, problems);
}

/** A comma-separated list variable; undefined when it is unset or blank. */
export function readList(env: Env, name: string): string[] | undefined {
  return listVariable.parse(env[name]);
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
