/**
 * Which access token a 401 answered. The SDK's `onUnauthorized` gets the response only, and a 401 for a token
 * the proxy has already replaced (a call sent just before a refresh finished) needs no refresh of its own: the
 * transport's retry carries the new token. So the fetch notes, for 401 answers only, the bearer it sent.
 *
 * A leaf module: the upstream fetch writes, the OAuth session reads, and neither imports the other.
 */
const sentBearer = new WeakMap<Response, string>();

/** Called by the fetch for a 401 answer; `authorization` is the request's header, if any. */
export function noteBearerOf401(response: Response, authorization: string | undefined): void {
  const token = authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
  if (token !== undefined) sentBearer.set(response, token);
}

/** The access token the request behind this 401 carried, if the proxy's fetch noted one. */
export function bearerOf401(response: Response): string | undefined {
  return sentBearer.get(response);
}
