/**
 * Loads the upstreams from a --config file, PROXY_UPSTREAMS or the single-upstream PROXY_URL, and reports every
 * problem at once: a user fixing a config should not have to restart once per typo.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import JSON5 from 'json5';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { callbackPortFromEnv, oauthTimeoutFromEnv } from '../oauth/callback.js';
import {
  expandEnvReferences,
  isDebugEnabled,
  isProxyEnabled,
  readCallbackHost,
  readCatalogCache,
  readEnv,
  readInspect,
  readStartupTimeoutMs,
} from './env.js';
import {
  describeUpstreamIssues,
  toUpstreamConfig,
  UPSTREAM_NAME,
  type UpstreamConfig,
  unknownField,
  upstreamSchema,
} from './schema.js';
import { readSingleUpstream, SINGLE_UPSTREAM_OPTIONS } from './single-upstream.js';

type Env = NodeJS.ProcessEnv;

export interface ProxyConfig {
  upstreams: UpstreamConfig[];
  startupTimeoutMs: number;
  debug: boolean;
  /** PROXY_TRACE or --trace: the file that gets one JSON line per actor transition. */
  trace?: string;
  /** PROXY_INSPECT or --inspect: the Stately inspector bridge and the local status page. */
  inspect: boolean;
  /** PROXY_CATALOG_CACHE (default on): answer the first lists from each upstream's last persisted catalog. */
  catalogCache: boolean;
  /** Not errors, but worth telling the user on stderr (an ignored PROXY_UPSTREAMS, say). */
  notices: string[];
  source: 'file' | 'env' | 'none';
}

export interface LoadConfigOptions {
  /** From --config; when given, PROXY_UPSTREAMS, PROXY_URL and the ENABLE_ADDITIONAL_TOOLS gate are ignored. */
  configPath?: string;
  env: Env;
  /** Command-line flags, which win over their environment variables. */
  flags?: { trace?: string; inspect?: boolean };
}

/** The variables that configure upstreams without a file: the list, or mcp-devtools' single-upstream form. */
const ENV_SOURCES = ['PROXY_UPSTREAMS', 'PROXY_URL'] as const;

/** `A is`, `A and B are`: notices name every variable they are about. */
function namesAre(names: readonly string[]): string {
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `${list} ${names.length === 1 ? 'is' : 'are'}`;
}

export function proxyDisabledNotice(variables: readonly string[]): string {
  return `${namesAre(variables)} set but the proxy is not enabled: add "proxy" to ENABLE_ADDITIONAL_TOOLS (e.g. ENABLE_ADDITIONAL_TOOLS=proxy)`;
}

export const PROXY_DISABLED_NOTICE = proxyDisabledNotice(['PROXY_UPSTREAMS']);

/** Throws ConfigError with every problem found, including a bad PROXY_STARTUP_TIMEOUT_MS. */
export async function loadConfig(options: LoadConfigOptions): Promise<ProxyConfig> {
  const { configPath, env } = options;
  const problems: string[] = [];
  const notices: string[] = [];
  const startupTimeoutMs = readStartupTimeoutMs(env, problems);
  const inspect = options.flags?.inspect ?? readInspect(env, problems);
  const trace = options.flags?.trace ?? readEnv(env, 'PROXY_TRACE');
  const catalogCache = readCatalogCache(env, problems);
  readCallbackHost(env, problems);
  // Read again where they are used; checked here so a typo stops the proxy like any other configuration error.
  for (const check of [callbackPortFromEnv, oauthTimeoutFromEnv]) {
    try {
      check(env);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  const isSet = (name: string) => readEnv(env, name) !== undefined;
  const envSources = ENV_SOURCES.filter(isSet);
  const singleOptions = SINGLE_UPSTREAM_OPTIONS.filter(isSet);
  const envUpstreams = readEnv(env, 'PROXY_UPSTREAMS');
  let upstreams: UpstreamConfig[] = [];
  let source: ProxyConfig['source'] = 'none';

  if (configPath !== undefined) {
    source = 'file';
    const ignored = [...envSources, ...singleOptions];
    if (ignored.length > 0) notices.push(`${namesAre(ignored)} ignored because --config ${configPath} is given`);
    const text = await readConfigFile(configPath, problems);
    if (text !== undefined) upstreams = collectUpstreams(text, configPath, env, true, problems);
  } else if (envSources.length > 0 && !isProxyEnabled(env)) {
    // mcp-devtools compatibility: neither form does anything until the proxy tool is enabled.
    notices.push(proxyDisabledNotice(envSources));
  } else if (envUpstreams !== undefined) {
    // As in mcp-devtools, the list wins over the single-upstream form; unlike it, the proxy says so.
    const ignored = [...envSources.filter((name) => name !== 'PROXY_UPSTREAMS'), ...singleOptions];
    if (ignored.length > 0) notices.push(`${namesAre(ignored)} ignored because PROXY_UPSTREAMS is set`);
    source = 'env';
    upstreams = collectUpstreams(envUpstreams, 'PROXY_UPSTREAMS', env, false, problems);
  } else if (envSources.includes('PROXY_URL')) {
    source = 'env';
    const upstream = readSingleUpstream(env, problems);
    if (upstream !== undefined) upstreams = [upstream];
  } else if (singleOptions.length > 0) {
    // A filter that silently does nothing is worse than a warning: PROXY_URL was probably forgotten.
    notices.push(`${namesAre(singleOptions)} ignored because PROXY_URL is not set`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return { upstreams, startupTimeoutMs, debug: isDebugEnabled(env), trace, inspect, catalogCache, notices, source };
}

/**
 * Parses and validates upstreams from JSON5 text: a bare array (PROXY_UPSTREAMS) or, when `wrapped`, an object
 * `{"upstreams": [...]}` (a config file). `sourceName` names the text in messages. Throws ConfigError.
 */
export function parseUpstreams(text: string, sourceName: string, env: Env, wrapped: boolean): UpstreamConfig[] {
  const problems: string[] = [];
  const upstreams = collectUpstreams(text, sourceName, env, wrapped, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return upstreams;
}

/** `PROXY_<NAME>_`: the prefix of the per-upstream variables (e.g. PROXY_ATLASSIAN_CLIENT_ID). */
export function envPrefixFor(name: string): string {
  return `PROXY_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

async function readConfigFile(path: string, problems: string[]): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    problems.push(`cannot read config file ${path}: ${describeFileError(error)}`);
    return undefined;
  }
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'not found (a parent is not a directory)',
};

function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined) return FILE_ERRORS[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}

const fileSchema = z.strictObject({ upstreams: z.array(z.unknown()) });

/** The work behind parseUpstreams: appends problems instead of throwing, so loadConfig can merge them. */
function collectUpstreams(
  text: string,
  sourceName: string,
  env: Env,
  wrapped: boolean,
  problems: string[],
): UpstreamConfig[] {
  const document = parseJson5(text, sourceName, problems);
  if (document === undefined) return [];
  const items = wrapped
    ? readFileItems(document.value, sourceName, problems)
    : readArray(document.value, sourceName, problems);
  if (items === undefined) return [];

  const upstreams: UpstreamConfig[] = [];
  const seen: SeenNames = { byName: new Map(), byPrefix: new Map() };
  items.forEach((item, index) => {
    const upstream = validateUpstream(item, index, env, seen, problems);
    if (upstream !== undefined) upstreams.push(upstream);
  });
  // Callers throw when `problems` is not empty, so the valid part of a bad config is never used.
  return upstreams;
}

function parseJson5(text: string, sourceName: string, problems: string[]): { value: unknown } | undefined {
  // Editors on Windows save a BOM, which JSON5 rejects.
  const source = text.replace(/^\uFEFF/, '');
  // Plain JSON (PROXY_UPSTREAMS usually) means the same to both; JSON5's parser is many times slower on it.
  try {
    return { value: JSON.parse(source) };
  } catch {
    // JSON5 then: comments, trailing commas, unquoted keys, or a real syntax error, which it describes.
  }
  try {
    return { value: JSON5.parse(source) };
  } catch (error) {
    // JSON5 quotes the offending character, which could be part of a secret: keep only its position.
    const { lineNumber, columnNumber, message } = error as SyntaxError & { lineNumber?: number; columnNumber?: number };
    const reason = message.includes('end of input') ? 'unexpected end of input' : 'unexpected character';
    const where = lineNumber === undefined ? '' : ` at line ${lineNumber}, column ${columnNumber}`;
    problems.push(`${sourceName} is not valid JSON: ${reason}${where}`);
    return undefined;
  }
}

function readArray(value: unknown, sourceName: string, problems: string[]): unknown[] | undefined {
  if (Array.isArray(value)) return value;
  problems.push(`${sourceName} must be a JSON array of upstreams`);
  return undefined;
}

function readFileItems(value: unknown, path: string, problems: string[]): unknown[] | undefined {
  const result = fileSchema.safeParse(value);
  if (result.success) return result.data.upstreams;
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) problems.push(`${path}: ${unknownField(key, ['upstreams'])}`);
    }
  }
  // Whatever else is wrong (not an object, upstreams missing or not an array) gets the one shape message.
  if (result.error.issues.some((issue) => issue.code !== 'unrecognized_keys')) {
    problems.push(`${path} must be a JSON object with an "upstreams" array`);
  }
  return undefined;
}

/** Names seen so far (1-based index and spelling), by lower-cased name and by env prefix. */
interface SeenNames {
  byName: Map<string, { index: number; name: string }>;
  byPrefix: Map<string, { index: number; name: string }>;
}

function validateUpstream(
  item: unknown,
  index: number,
  env: Env,
  seen: SeenNames,
  problems: string[],
): UpstreamConfig | undefined {
  const position = index + 1;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    problems.push(`upstream #${position} must be an object`);
    return undefined;
  }
  const raw = item as Record<string, unknown>;
  // Name the upstream as the user did when that name is usable, else by position.
  const hasName = typeof raw.name === 'string' && UPSTREAM_NAME.test(raw.name);
  const label = hasName ? `upstream ${JSON.stringify(raw.name)}` : `upstream #${position}`;
  const before = problems.length;
  const report = (line: string) => problems.push(`${label}: ${line}`);

  if (hasName) checkUniqueName(raw.name as string, position, seen, report);
  const result = upstreamSchema.safeParse(raw);
  if (!result.success) describeUpstreamIssues(result.error.issues, raw).forEach(report);
  // Headers are checked even when other fields are bad, so that every problem shows up in one run.
  const headers = resolveHeaders(stringEntries(raw.headers), env, report);
  if (!result.success || problems.length > before) return undefined;
  const upstream = toUpstreamConfig(result.data, headers);
  if (upstream.oauth) resolveOAuth(upstream, result.data.oauth?.privateKeyFile, env, report);
  return problems.length > before ? undefined : upstream;
}

/**
 * What the OAuth settings need from outside the config text: the private key (a file, or
 * `PROXY_<NAME>_PRIVATE_KEY`), and for the client_credentials grant a client that can authenticate by itself.
 */
function resolveOAuth(upstream: UpstreamConfig, keyFile: string | undefined, env: Env, report: (line: string) => void) {
  const oauth = upstream.oauth!;
  const prefix = envPrefixFor(upstream.name);
  // The path was only for this function (schema.ts): the key it names is what the proxy uses.
  delete oauth.privateKeyFile;
  if (keyFile !== undefined) {
    try {
      oauth.privateKey = readFileSync(keyFile, 'utf8');
    } catch (error) {
      report(`oauth.private_key_file: cannot read ${keyFile}: ${describeFileError(error)}`);
      return;
    }
  }
  const keySource =
    keyFile !== undefined ? 'oauth.private_key_file' : oauth.privateKey !== undefined ? 'oauth.private_key' : undefined;
  oauth.privateKey ??= readEnv(env, `${prefix}PRIVATE_KEY`);
  if (oauth.privateKey !== undefined) {
    const problem = privateKeyProblem(oauth.privateKey, oauth.privateKeyAlg);
    if (problem) report(`${keySource ?? `${prefix}PRIVATE_KEY`} ${problem}`);
  }
  if (oauth.grant !== 'client_credentials') return;
  const clientId = readEnv(env, `${prefix}CLIENT_ID`) ?? oauth.clientId;
  const secret = readEnv(env, `${prefix}CLIENT_SECRET`) ?? oauth.clientSecret;
  if (clientId === undefined) {
    report(`oauth.grant "client_credentials" needs oauth.client_id (or ${prefix}CLIENT_ID)`);
  } else if (secret === undefined && oauth.privateKey === undefined) {
    report(
      `oauth.grant "client_credentials" needs oauth.client_secret (or ${prefix}CLIENT_SECRET), or a private key (oauth.private_key, oauth.private_key_file or ${prefix}PRIVATE_KEY)`,
    );
  }
}

/** JWS algorithm families by the key type they need. */
const KEY_TYPES: Record<string, string[]> = {
  ES: ['ec'],
  RS: ['rsa'],
  PS: ['rsa', 'rsa-pss'],
  Ed: ['ed25519', 'ed448'],
};

/**
 * Why a private key cannot sign client assertions, or undefined: checked here so that a bad key stops the proxy at
 * start with the field named, rather than failing every token request later. Never quotes the key.
 */
function privateKeyProblem(pem: string, alg: string | undefined): string | undefined {
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch {
    return 'is not a readable PEM private key (an unencrypted PKCS#8, SEC1 or PKCS#1 key)';
  }
  const family = alg?.slice(0, 2);
  if (alg !== undefined && family !== undefined && !KEY_TYPES[family]?.includes(type ?? '')) {
    return `holds an ${type?.toUpperCase()} key, which cannot sign ${alg} (oauth.private_key_alg)`;
  }
  return undefined;
}

// Names are compared ignoring case (token directories live on case-insensitive file systems too) and by env
// prefix, since "a-b" and "a_b" would both read PROXY_A_B_CLIENT_ID.
function checkUniqueName(name: string, position: number, seen: SeenNames, report: (line: string) => void): void {
  const lower = name.toLowerCase();
  const prefix = envPrefixFor(name);
  const sameName = seen.byName.get(lower);
  const samePrefix = seen.byPrefix.get(prefix);
  if (sameName !== undefined && sameName.name === name) {
    report(`duplicate name (also upstream #${sameName.index})`);
  } else if (sameName !== undefined) {
    report(`duplicate name (also upstream #${sameName.index} "${sameName.name}"; names ignore case)`);
  } else if (samePrefix !== undefined) {
    report(`name clashes with upstream #${samePrefix.index} "${samePrefix.name}": both use ${prefix}* variables`);
  }
  if (sameName === undefined) seen.byName.set(lower, { index: position, name });
  if (samePrefix === undefined) seen.byPrefix.set(prefix, { index: position, name });
}

// HTTP token characters (RFC 9110 §5.6.2).
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A CR or LF would let a value inject headers; NUL is rejected by every HTTP client anyway.
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;

/** Checks names and expands `${VAR}` in values. Messages name the header and variable, never the value. */
function resolveHeaders(headers: [string, string][], env: Env, report: (line: string) => void): Record<string, string> {
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
function stringEntries(headers: unknown): [string, string][] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return [];
  return Object.entries(headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
}
