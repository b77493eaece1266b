/**
 * The shape of one upstream in PROXY_UPSTREAMS or a --config file, as zod schemas, and the rendering of zod
 * issues into stable one-line messages. Messages name the field, never the value: header values and secrets
 * must not reach an error, and a URL may carry a token in its query.
 */
import { z } from 'zod';
import { MAX_TIMER_MS } from './variables.js';

/** 'sse-first' tries SSE and falls back to Streamable HTTP; 'http-first' is the reverse and the default. */
export type Transport = 'http-first' | 'http' | 'sse' | 'sse-first';

/** How the proxy obtains tokens: a user's sign-in (the default), or the client's own credentials (RFC 6749 §4.4). */
export type OAuthGrant = 'authorization_code' | 'client_credentials';
/** How a user signs in: the browser and the loopback callback, or RFC 8628 device authorization. */
export type SignInFlow = 'browser' | 'device';

export interface OAuthConfig {
  clientId?: string;
  clientSecret?: string;
  scopes?: string[];
  clientMetadataUrl?: URL;
  /** Absent: `authorization_code`. */
  grant?: OAuthGrant;
  /** Absent: the browser, or the device flow when no browser can be opened and the server offers it. */
  flow?: SignInFlow;
  /** A PEM private key for `private_key_jwt` (inline, or read from `private_key_file` by the loader). */
  privateKey?: string;
  /** Where the loader read `privateKey` from (the config's `private_key_file`). */
  privateKeyFile?: string;
  /** The key's JWS algorithm; absent: ES256 for an EC P-256 key, RS256 for RSA. */
  privateKeyAlg?: string;
  /**
   * RFC 8707 resource: an absolute URI that replaces the one the proxy would send, kept as written (a URL object
   * would add a trailing slash the server may not accept), or `false` to send none.
   */
  resource?: string | false;
  /** Fixed extra parameters of the authorization request (`access_type=offline`, `audience=…`). */
  authorizeParams?: Record<string, string>;
  /** The redirect URI a static client was registered with; its port and path are where the callback listens. */
  redirectUri?: URL;
}

/**
 * Parameters the proxy sets itself on the authorization request; `authorize_params` may not replace them, since
 * PKCE, the state and the redirect are what keep the sign-in safe.
 */
export const RESERVED_AUTHORIZE_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'code_challenge',
  'code_challenge_method',
  'state',
  'scope',
  'resource',
] as const;

export interface UpstreamConfig {
  name: string;
  url: URL;
  transport: Transport;
  includeTools?: string[];
  ignoreTools?: string[];
  /** `${ENV_VAR}` references already expanded. */
  headers: Record<string, string>;
  toolPrefix?: string;
  /** Per tool call, restarted by every progress notification. */
  timeoutMs: number;
  /** The most any call may take, progress or not. */
  maxCallMs: number;
  oauth?: OAuthConfig;
  allowHttp: boolean;
  /** `pin_tools` (or PROXY_PIN_TOOLS for every upstream): withhold a tool whose definition changed since first seen. */
  pinTools?: boolean;
  /** Per upstream tool name (the upstream's own): how the client sees it. */
  tools?: Record<string, ToolOverride>;
  /** Only tools annotated `readOnlyHint: true`, never one with `destructiveHint: true`. Absent: false. */
  readOnly?: boolean;
}

/**
 * How one upstream tool is exposed. `name` is the exposed name as written: the tool_prefix is not added to it (a
 * user who writes a name expects to see that name), and it takes part in collisions like any other name.
 */
export interface ToolOverride {
  name?: string;
  description?: string;
  /** Left out, like a tool ignore_tools matches. */
  hidden?: boolean;
}

export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** A call that keeps sending progress is still bounded: 30 minutes. */
export const DEFAULT_MAX_CALL_MS = 30 * 60_000;
export const MAX_NAME_LENGTH = 64;
export const MAX_TOOL_PREFIX_LENGTH = 32;

// The name becomes a token directory and part of PROXY_<NAME>_* variables, so it stays in a safe alphabet.
export const UPSTREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

// Spellings users may write (any case) -> the transport they mean. The mcp-devtools names come first.
const TRANSPORT_ALIASES: Record<string, Transport> = {
  'http-first': 'http-first',
  http: 'http',
  sse: 'sse',
  'sse-first': 'sse-first',
  'http-only': 'http',
  'sse-only': 'sse',
};

const nonEmptyStrings = z.array(z.string().min(1));

// What every client accepts in a tool name; PROXY_MAX_TOOL_NAME may ask for less (checked by the loader).
const TOOL_NAME = /^[A-Za-z0-9_-]{1,128}$/;

const toolOverrideSchema = z
  .strictObject({
    name: z.string().regex(TOOL_NAME).optional(),
    description: z.string().optional(),
    hidden: z.boolean().optional(),
  })
  // An override that sets nothing is a mistake; one with only unknown keys already says so.
  .refine((override) => Object.keys(override).length > 0, { when: (payload) => payload.issues.length === 0 });

const toolOverridesSchema = z.record(z.string().min(1), toolOverrideSchema).superRefine((overrides, context) => {
  // Two tools renamed alike would only be settled as a collision, which is never what was written.
  const renamed = new Map<string, string>();
  for (const [tool, override] of Object.entries(overrides)) {
    if (override.name === undefined) continue;
    const first = renamed.get(override.name);
    if (first === undefined) renamed.set(override.name, tool);
    else context.addIssue({ code: 'custom', path: [tool, 'name'], message: 'duplicate', params: { first } });
  }
});
export const TOOL_OVERRIDE_FIELDS = Object.keys(toolOverrideSchema.shape);

export const oauthSchema = z
  .strictObject({
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
    // RFC 6749 scopes are space-separated; an array is easier to write. Either way the result is a list.
    scopes: z
      .union([z.string().transform((text) => text.split(/\s+/).filter(Boolean)), z.array(z.string().regex(/^\S+$/))])
      .optional(),
    client_metadata_url: z.url({ protocol: /^https$/ }).optional(),
    grant: z.enum(['authorization_code', 'client_credentials']).optional(),
    flow: z.enum(['browser', 'device']).optional(),
    private_key: z.string().includes('-----BEGIN ').optional(),
    // Read by the loader (a file is not a schema's business); a path here is only checked for being one.
    private_key_file: z.string().min(1).optional(),
    private_key_alg: z
      .enum(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'])
      .optional(),
    // An absolute URI: Entra's resources are `api://<app id>` as often as https URLs.
    resource: z.union([z.url(), z.literal(false)]).optional(),
    authorize_params: z
      .record(z.string().min(1), z.string())
      .refine(
        (params) => !Object.keys(params).some((key) => (RESERVED_AUTHORIZE_PARAMS as readonly string[]).includes(key)),
      )
      .optional(),
    redirect_uri: z
      .url({ protocol: /^http$/, hostname: /^(127\.0\.0\.1|localhost)$/ })
      .refine((text) => new URL(text).port !== '')
      .optional(),
  })
  .refine((raw) => raw.private_key === undefined || raw.private_key_file === undefined, {
    path: ['private_key_file'],
  })
  .transform((raw): OAuthConfig => {
    const oauth: OAuthConfig = {};
    if (raw.client_id !== undefined) oauth.clientId = raw.client_id;
    if (raw.client_secret !== undefined) oauth.clientSecret = raw.client_secret;
    if (raw.scopes !== undefined) oauth.scopes = raw.scopes;
    if (raw.client_metadata_url !== undefined) oauth.clientMetadataUrl = new URL(raw.client_metadata_url);
    if (raw.grant !== undefined) oauth.grant = raw.grant;
    if (raw.flow !== undefined) oauth.flow = raw.flow;
    if (raw.private_key !== undefined) oauth.privateKey = raw.private_key;
    if (raw.private_key_alg !== undefined) oauth.privateKeyAlg = raw.private_key_alg;
    if (raw.resource !== undefined) oauth.resource = raw.resource;
    if (raw.authorize_params !== undefined) oauth.authorizeParams = raw.authorize_params;
    if (raw.redirect_uri !== undefined) oauth.redirectUri = new URL(raw.redirect_uri);
    // Only for the loader, which reads the file into privateKey; removed before the config is used.
    if (raw.private_key_file !== undefined) oauth.privateKeyFile = raw.private_key_file;
    return oauth;
  });

/** One upstream as written. Header names, CR/LF and `${VAR}` expansion are checked by the loader. */
export const upstreamSchema = z.strictObject({
  name: z.string().regex(UPSTREAM_NAME),
  url: z.url({ protocol: /^https?$/ }),
  transport: z
    .string()
    .transform((text) => text.trim().toLowerCase())
    .pipe(z.enum(Object.keys(TRANSPORT_ALIASES)))
    .transform((text) => TRANSPORT_ALIASES[text] as Transport)
    .default('http-first'),
  // An empty whitelist would expose nothing, which is never what was meant: say so instead.
  include_tools: nonEmptyStrings.min(1).optional(),
  ignore_tools: nonEmptyStrings.optional(),
  headers: z.record(z.string(), z.string()).default({}),
  tool_prefix: z.string().max(MAX_TOOL_PREFIX_LENGTH).optional(),
  timeout_ms: z.int().positive().max(MAX_TIMER_MS).default(DEFAULT_CALL_TIMEOUT_MS),
  max_call_ms: z.int().positive().max(MAX_TIMER_MS).default(DEFAULT_MAX_CALL_MS),
  oauth: oauthSchema.optional(),
  allow_http: z.boolean().default(false),
  pin_tools: z.boolean().optional(),
  tools: toolOverridesSchema.optional(),
  read_only: z.boolean().default(false),
});

export type RawUpstream = z.output<typeof upstreamSchema>;

/** The validated upstream in the shape the proxy uses; `headers` are the resolved ones (`${VAR}` expanded). */
export function toUpstreamConfig(raw: RawUpstream, headers: Record<string, string>): UpstreamConfig {
  const upstream: UpstreamConfig = {
    name: raw.name,
    url: new URL(raw.url),
    transport: raw.transport,
    headers,
    timeoutMs: raw.timeout_ms,
    maxCallMs: raw.max_call_ms,
    allowHttp: raw.allow_http,
  };
  // Optional fields stay absent rather than undefined, so `in` checks and deep equality stay simple.
  const optional: Partial<UpstreamConfig> = {
    includeTools: raw.include_tools,
    ignoreTools: raw.ignore_tools,
    toolPrefix: raw.tool_prefix,
    oauth: raw.oauth,
    pinTools: raw.pin_tools,
    tools: raw.tools,
    readOnly: raw.read_only || undefined,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) Object.assign(upstream, { [key]: value });
  }
  return upstream;
}
