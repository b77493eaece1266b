/**
 * The two files of a token folder, `tokens.json` and `client-info.json`, as mcp-devtools (Go) writes them too.
 * Reading is lenient (unknown fields, `expires_at` as RFC 3339 or epoch seconds/ms, Go's zero time) and writing is
 * strict: OAuth's snake_case names, `expires_at` as an ISO string, `issuer`.
 */
import { z } from 'zod';

export interface StoredTokens {
  accessToken: string;
  tokenType: string;
  refreshToken?: string;
  /** Absolute expiry of the access token, epoch milliseconds. */
  expiresAt?: number;
  scope?: string;
  /** The authorization server that issued the tokens (its metadata `issuer`). */
  issuer?: string;
}

export interface StoredClient {
  clientId: string;
  clientSecret?: string;
  /** As in RFC 7591: epoch seconds, 0 for a secret that never expires. */
  clientSecretExpiresAt?: number;
  redirectUris?: string[];
  tokenEndpointAuthMethod?: string;
  issuer?: string;
  /**
   * The registration response as received (or as read from the file, unknown fields included). On write, the
   * typed fields above win over the same fields in `raw`; an undefined typed field removes it.
   */
  raw: Record<string, unknown>;
}

export const TOKENS_FILE = 'tokens.json';
export const CLIENT_FILE = 'client-info.json';

const text = z
  .string()
  .nullish()
  .transform((value) => (value ? value : undefined));
const instant = z.union([z.string(), z.number(), z.null()]).optional();

export const tokensFileSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: text,
  refresh_token: text,
  expires_at: instant,
  expires_in: z.union([z.number(), z.string(), z.null()]).optional(),
  scope: text,
  issuer: text,
});

export const clientFileSchema = z.looseObject({
  client_id: z.string().min(1),
  client_secret: text,
  client_secret_expires_at: instant,
  // Go writes `null` for a registration without redirect URIs.
  redirect_uris: z.array(z.string()).nullish(),
  token_endpoint_auth_method: text,
  issuer: text,
});

/** Epoch numbers below this are seconds, above it milliseconds (1e11 s is the year 5138, 1e11 ms is 1973). */
const SECONDS_LIMIT = 1e11;

/**
 * An instant as epoch milliseconds: RFC 3339 / ISO text (Go writes nanoseconds and offsets), or epoch seconds or
 * milliseconds as a number or digits. `undefined` for absent, zero, negative and Go's zero time (all: "no expiry");
 * `NaN` for text that is no instant at all.
 */
function instantToMs(value: string | number | null | undefined): number | undefined {
  if (value === undefined || value === null) return undefined;
  let ms: number;
  const trimmed = typeof value === 'string' ? value.trim() : value;
  if (trimmed === '') return undefined;
  if (typeof trimmed === 'number' || /^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed);
    ms = n < SECONDS_LIMIT ? n * 1000 : n;
  } else {
    ms = Date.parse(trimmed);
    if (Number.isNaN(ms)) return Number.NaN;
  }
  if (!Number.isFinite(ms)) return Number.NaN;
  return ms > 0 ? Math.round(ms) : undefined;
}

function secondsOf(value: string | number | null | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 0 || value === '0') return 0;
  const ms = instantToMs(value);
  return ms === undefined || Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

export function describeIssues(error: z.ZodError): string {
  // Paths and kinds only: zod's messages are safe today, but the input they describe is secret.
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'the file'}: ${issue.code.replaceAll('_', ' ')}`)
    .join('; ');
}

/**
 * The tokens of a parsed `tokens.json` written at `mtimeMs`; `expiresAt` is NaN when `expires_at` is no date
 * (the caller warns and treats the token as expired).
 */
export function tokensFromFile(data: z.infer<typeof tokensFileSchema>, mtimeMs: number): StoredTokens {
  let expiresAt = instantToMs(data.expires_at);
  if (expiresAt === undefined && data.expires_at === undefined) {
    // Only a relative lifetime: count it from when the file was written.
    const seconds = Number(data.expires_in);
    if (data.expires_in !== null && data.expires_in !== undefined && Number.isFinite(seconds) && seconds > 0) {
      expiresAt = Math.round(mtimeMs + seconds * 1000);
    }
  }
  return dropUndefined({
    accessToken: data.access_token,
    tokenType: data.token_type ?? 'Bearer',
    refreshToken: data.refresh_token,
    expiresAt,
    scope: data.scope,
    issuer: data.issuer,
  });
}

export function tokensFileContent(tokens: StoredTokens): Record<string, unknown> {
  const expiresAt = tokens.expiresAt;
  return {
    access_token: tokens.accessToken,
    token_type: tokens.tokenType,
    refresh_token: tokens.refreshToken,
    expires_at: expiresAt !== undefined && Number.isFinite(expiresAt) ? new Date(expiresAt).toISOString() : undefined,
    scope: tokens.scope,
    issuer: tokens.issuer,
  };
}

export function clientFromFile(data: z.infer<typeof clientFileSchema>, json: unknown): StoredClient {
  return dropUndefined({
    clientId: data.client_id,
    clientSecret: data.client_secret,
    clientSecretExpiresAt: secondsOf(data.client_secret_expires_at),
    redirectUris: data.redirect_uris ?? undefined,
    tokenEndpointAuthMethod: data.token_endpoint_auth_method,
    issuer: data.issuer,
    raw: json as Record<string, unknown>,
  });
}

export function clientFileContent(client: StoredClient): Record<string, unknown> {
  return {
    ...client.raw,
    client_id: client.clientId,
    client_secret: client.clientSecret,
    client_secret_expires_at: client.clientSecretExpiresAt,
    redirect_uris: client.redirectUris,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    issuer: client.issuer,
  };
}

function dropUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] === undefined) delete value[key];
  }
  return value;
}
