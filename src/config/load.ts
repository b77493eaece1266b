/**
 * Loads the upstreams from a --config file, PROXY_UPSTREAMS or the single-upstream PROXY_URL, and reports every
 * problem at once: a user fixing a config should not have to restart once per typo.
 */
import { readFile } from 'node:fs/promises';
import JSON5 from 'json5';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { type AuditSettings, readAuditSettings } from './audit.js';
import {
  isDebugEnabled,
  isProxyEnabled,
  readCatalogCache,
  readEnv,
  readInspect,
  readPinTools,
  readStartupTimeoutMs,
} from './env.js';
import { describeFileError } from './file-errors.js';
import { resolveHeaders, stringEntries } from './headers.js';
import { type HttpProxySettings, readHttpProxySettings } from './http-proxy.js';
import { type OAuthSettings, readOAuthSettings } from './oauth-settings.js';
import { toUpstreamConfig, UPSTREAM_NAME, type UpstreamConfig, upstreamSchema } from './schema.js';
import { describeUpstreamIssues, unknownField } from './schema-messages.js';
import { readSingleUpstream, SINGLE_UPSTREAM_OPTIONS } from './single-upstream.js';
import { readTelemetrySettings, type TelemetrySettings } from './telemetry.js';
import { readToolMode, type ToolMode } from './tool-mode.js';
import { checkOverrideNames, readMaxToolName } from './tool-names.js';
import { envPrefixFor, resolveOAuth } from './upstream-oauth.js';

type Env = NodeJS.ProcessEnv;

export interface ProxyConfig {
  upstreams: UpstreamConfig[];
  startupTimeoutMs: number;
  debug: boolean;
  /** PROXY_TRACE or --trace: the file that gets one JSON line per actor transition. */
  trace?: string;
  /** PROXY_AUDIT_FILE or --audit (with PROXY_AUDIT_ARGUMENTS or --audit-arguments): one JSON line per request. */
  audit?: AuditSettings;
  /** PROXY_INSPECT or --inspect: the Stately inspector bridge and the local status page. */
  inspect: boolean;
  /** PROXY_CATALOG_CACHE (default on): answer the first lists from each upstream's last persisted catalog. */
  catalogCache: boolean;
  /** PROXY_TOOL_MODE or --tool-mode: every upstream tool listed (`all`, the default), or the three search tools. */
  toolMode: ToolMode;
  /** PROXY_MAX_TOOL_NAME: the longest exposed tool name; the loader always sets it, absent means 64. */
  maxToolName?: number;
  /** PROXY_OAUTH_*, PROXY_TOKEN_DIR and BROWSER: the sign-in's settings, whatever the upstreams. */
  oauth: OAuthSettings;
  /** HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as written (checked when the HTTP agent is built). */
  httpProxy: HttpProxySettings;
  /** OTEL_EXPORTER_OTLP_ENDPOINT or --otel: spans and metrics over OTLP/HTTP; absent when off. */
  telemetry?: TelemetrySettings;
  /** Not errors, but worth telling the user on stderr (an ignored PROXY_UPSTREAMS, say). */
  notices: string[];
  source: 'file' | 'env' | 'none';
}

export interface LoadConfigOptions {
  /** From --config; when given, PROXY_UPSTREAMS, PROXY_URL and the ENABLE_ADDITIONAL_TOOLS gate are ignored. */
  configPath?: string;
  env: Env;
  /** Command-line flags, which win over their environment variables. */
  flags?: {
    trace?: string;
    inspect?: boolean;
    audit?: string;
    auditArguments?: boolean;
    toolMode?: string;
    otel?: boolean;
  };
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
  const audit = readAuditSettings(env, options.flags, problems);
  const catalogCache = readCatalogCache(env, problems);
  const toolMode = readToolMode(env, options.flags?.toolMode, problems);
  const maxToolName = readMaxToolName(env, problems);
  const oauth = readOAuthSettings(env, problems);
  const pinTools = readPinTools(env, problems);
  const telemetry = readTelemetrySettings(env, options.flags?.otel, problems);
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

  checkOverrideNames(upstreams, maxToolName, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  if (pinTools) for (const upstream of upstreams) upstream.pinTools ??= true;
  const debug = isDebugEnabled(env);
  const httpProxy = readHttpProxySettings(env);
  return {
    upstreams,
    startupTimeoutMs,
    debug,
    trace,
    audit,
    inspect,
    catalogCache,
    toolMode,
    maxToolName,
    oauth,
    httpProxy,
    ...(telemetry && { telemetry }),
    notices,
    source,
  };
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

async function readConfigFile(path: string, problems: string[]): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    problems.push(`cannot read config file ${path}: ${describeFileError(error)}`);
    return undefined;
  }
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
  resolveOAuth(upstream, result.data.oauth?.privateKeyFile, env, report);
  return problems.length > before ? undefined : upstream;
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
