/** Header names checked and `${VAR}` references in their values expanded, at load. */
import { expandEnvReferences } from './env.js';

type Env = NodeJS.ProcessEnv;

// HTTP token characters (RFC 9110 §5.6.2).
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A CR or LF would let a value inject headers; NUL is rejected by every HTTP client anyway.
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

/** Checks names and expands `${VAR}` in values. Messages name the header and variable, never the value. */
export function resolveHeaders(
  headers: [string, string][],
  env: Env,
  report: (line: string) => void,
): Record<string, string> {
  const resolved: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const [name, template] of headers) {
    const header = JSON.stringify(name);
    if (!HEADER_NAME.test(name)) {
      report(`header name ${header} is not a valid HTTP header name`);
      continue;
    }
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) report(`header ${header} repeats ${JSON.stringify(first)} (header names ignore case)`);
    seen.set(name.toLowerCase(), first ?? name);
    const { value, missing } = expandEnvReferences(template, env);
    for (const variable of missing) report(`header ${header} references \${${variable}}, which is not set`);
    // Checked after expansion: a variable's value can hold a line break too.
    if (UNSAFE_HEADER_VALUE.test(value)) report(`header ${header} value must not contain CR, LF or NUL`);
    resolved[name] = value;
  }
  return resolved;
}

/** The string-valued entries of `headers` as written; zod reports everything else about it. */
export function stringEntries(headers: unknown): [string, string][] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return [];
  return Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
}
