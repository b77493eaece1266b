/**
 * zod's issues about an upstream as stable one-line messages: one fixed rule per field, naming the field and never
 * the value (header values and secrets must not reach an error, and a URL may carry a token in its query), and
 * unknown fields with the closest known one.
 */
import type { z } from 'zod';
import {
  MAX_NAME_LENGTH,
  MAX_TOOL_PREFIX_LENGTH,
  oauthSchema,
  RESERVED_AUTHORIZE_PARAMS,
  TOOL_OVERRIDE_FIELDS,
  upstreamSchema,
} from './schema.js';
import { MAX_TIMER_MS } from './variables.js';

const UPSTREAM_FIELDS = Object.keys(upstreamSchema.shape);
const OAUTH_FIELDS = Object.keys(oauthSchema.in.shape);

// One fixed rule per field, whatever zod found wrong inside it: stable, and never quoting the value. A message
// is the field's label (its name, or the variable it came from) followed by its rule.
const FIELD_RULES: Record<string, string> = {
  name: `must be 1 to ${MAX_NAME_LENGTH} letters, digits, "-" or "_"`,
  url: 'must be an http(s) URL',
  transport: 'must be "http-first", "http", "sse" or "sse-first"',
  include_tools: 'must be a non-empty array of non-empty strings (leave it out to expose every tool)',
  ignore_tools: 'must be an array of non-empty strings',
  headers: 'must be an object of string values',
  tool_prefix: `must be a string of at most ${MAX_TOOL_PREFIX_LENGTH} characters`,
  timeout_ms: `must be a positive integer of milliseconds, at most ${MAX_TIMER_MS}`,
  max_call_ms: `must be a positive integer of milliseconds, at most ${MAX_TIMER_MS}`,
  oauth: 'must be an object',
  'oauth.client_id': 'must be a non-empty string',
  'oauth.client_secret': 'must be a non-empty string',
  'oauth.scopes': 'must be a space-separated string or an array of scopes without spaces',
  'oauth.client_metadata_url': 'must be an https URL',
  'oauth.grant': 'must be "authorization_code" or "client_credentials"',
  'oauth.flow': 'must be "browser" or "device"',
  'oauth.private_key': 'must be a PEM private key ("-----BEGIN PRIVATE KEY-----" …)',
  'oauth.private_key_file': 'must be the path of a PEM private key file, given instead of private_key, not beside it',
  'oauth.private_key_alg':
    'must be a JWS algorithm: ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512 or EdDSA',
  'oauth.resource': 'must be an absolute URI (https://… or api://…), or false to send no resource',
  'oauth.authorize_params': `must be an object of string values, without ${RESERVED_AUTHORIZE_PARAMS.join(', ')} (the proxy sets those)`,
  'oauth.redirect_uri':
    'must be an http URL on localhost or 127.0.0.1 with a port (the callback listens on 127.0.0.1 only)',
  allow_http: 'must be true or false',
  pin_tools: 'must be true or false',
  tools: 'must be an object of upstream tool names to overrides ({"name", "description", "hidden"})',
  read_only: 'must be true or false',
};

// The rules inside one tool override, whose label names the tool: `tools["search"].name`.
const TOOL_OVERRIDE_RULES: Record<string, string> = {
  '': 'must be an object with "name", "description" or "hidden"',
  name: 'must be 1 to 128 letters, digits, "-" or "_" (what every client accepts)',
  description: 'must be a string',
  hidden: 'must be true or false',
};

const REQUIRED_FIELDS = new Set(['name', 'url']);

/**
 * Messages (without the "upstream ..." label) for zod's issues on one upstream, deduplicated so that a list
 * with three bad entries is one line. `raw` is the upstream as written, to tell a missing field from a bad one.
 * `labelOf` names a field in the messages: the field itself, or the environment variable it was read from.
 */
export function describeUpstreamIssues(
  issues: readonly z.core.$ZodIssue[],
  raw: Record<string, unknown>,
  labelOf: (field: string) => string = (field) => field,
): string[] {
  const lines = new Set<string>();
  for (const issue of issues) {
    const [field, sub, overrideField] = issue.path;
    if (field === 'tools' && typeof sub === 'string') {
      for (const line of describeOverrideIssue(issue, sub, overrideField, labelOf)) lines.add(line);
    } else if (issue.code === 'unrecognized_keys') {
      const nested = field === 'oauth';
      for (const key of issue.keys) lines.add(unknownField(key, nested ? OAUTH_FIELDS : UPSTREAM_FIELDS, nested));
    } else if (typeof field === 'string' && REQUIRED_FIELDS.has(field) && raw[field] === undefined) {
      lines.add(`${labelOf(field)} is required`);
    } else if (field === 'headers' && typeof sub === 'string') {
      lines.add(`header ${JSON.stringify(sub)} must be a string`);
    } else {
      const key = field === 'oauth' && typeof sub === 'string' ? `oauth.${sub}` : String(field);
      const rule = FIELD_RULES[key];
      lines.add(rule === undefined ? `${labelOf(key)} is invalid` : `${labelOf(key)} ${rule}`);
    }
  }
  return [...lines];
}

function describeOverrideIssue(
  issue: z.core.$ZodIssue,
  tool: string,
  field: PropertyKey | undefined,
  labelOf: (field: string) => string,
): string[] {
  const label = `${labelOf('tools')}[${JSON.stringify(tool)}]`;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const suggestion = closestField(key, TOOL_OVERRIDE_FIELDS);
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      return `${label}: unknown field "${key}"${hint}`;
    });
  }
  // An empty key is the record's key issue, with the key as its path's last element.
  if (tool === '') return [`${labelOf('tools')} must not have an empty tool name`];
  const first = issue.code === 'custom' ? (issue.params?.first as string | undefined) : undefined;
  if (first !== undefined) return [`${label}.name is also the name of ${labelOf('tools')}[${JSON.stringify(first)}]`];
  const key = typeof field === 'string' ? field : '';
  return [`${key === '' ? label : `${label}.${key}`} ${TOOL_OVERRIDE_RULES[key] ?? 'is invalid'}`];
}

/** `unknown field "ignore_tool" (did you mean "ignore_tools"?)`: a typo must not silently drop a filter. */
export function unknownField(key: string, known: readonly string[], inOAuth = false): string {
  const prefix = inOAuth ? 'oauth.' : '';
  const suggestion = closestField(key, known);
  const hint = suggestion === undefined ? '' : ` (did you mean "${prefix}${suggestion}"?)`;
  return `unknown field "${prefix}${key}"${hint}`;
}

/** The known field within edit distance 2 of `key`, also trying `key` in snake_case (includeTools). */
export function closestField(key: string, known: readonly string[]): string | undefined {
  const candidates = [key.toLowerCase(), key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()];
  let best: { field: string; distance: number } | undefined;
  for (const field of known) {
    const distance = Math.min(...candidates.map((candidate) => levenshtein(candidate, field)));
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { field, distance };
  }
  return best?.field;
}

// Field names are short, so the plain two-row dynamic programme is plenty; no dependency for 15 lines.
function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
