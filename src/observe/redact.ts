/**
 * Redaction for every line the proxy writes on stderr. Two layers: the secret values themselves (configured header
 * values, tokens, client secrets), registered where they are read, so they are caught whatever text surrounds
 * them; and the shapes secrets come in (`Authorization: Bearer …`, `access_token=…`, `"refresh_token":"…"`), for
 * values never registered (a code in a callback URL, a token in an upstream's error text).
 */

/** Values shorter than this are not worth matching (and would blank out ordinary words). */
const MIN_SECRET_LENGTH = 6;

const secrets = new Set<string>();

/** Registers a value that must never appear in a log line. */
export function registerSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

const SECRET_NAMES =
  'access_token|refresh_token|id_token|client_secret|code_verifier|device_code|code|assertion|password|api[_-]?key';
const SHAPES: Array<[RegExp, string]> = [
  // Authorization headers, in any case: the scheme stays, the credentials go.
  [/\b(authorization["']?\s*[:=]\s*["']?)(bearer|basic|dpop)?\s*[^\s"',;]+/gi, '$1$2 [redacted]'],
  [/\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*/gi, '$1 [redacted]'],
  // URL and form parameters: code=…, access_token=…
  [new RegExp(`([?&#\\s]|^)(${SECRET_NAMES})=([^&\\s"']+)`, 'gi'), '$1$2=[redacted]'],
  // JSON members: "refresh_token": "…"
  [new RegExp(`("(?:${SECRET_NAMES})"\\s*:\\s*)"[^"]*"`, 'gi'), '$1"[redacted]"'],
];

export function redact(line: string): string {
  let out = line;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join('[redacted]');
  }
  for (const [shape, replacement] of SHAPES) out = out.replace(shape, replacement);
  return out;
}

/** Origin and path only: query strings and userinfo may carry keys. */
export function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
