/**
 * The corporate proxy variables, `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`, lower-case first as curl reads them.
 * Kept as written: upstream/http.ts checks them when it builds its agent, so that a bad one fails each connect
 * with its name (as it always has), not the start of the proxy.
 */
import { z } from 'zod';

export interface HttpProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/** A trimmed value; an empty one counts as unset. */
const value = z
  .string()
  .optional()
  .transform((text) => text?.trim() || undefined);

const httpProxySchema = z
  .object({
    http_proxy: value,
    HTTP_PROXY: value,
    https_proxy: value,
    HTTPS_PROXY: value,
    no_proxy: value,
    NO_PROXY: value,
  })
  .transform((env) => {
    const settings: HttpProxySettings = {};
    const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
    const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY;
    const noProxy = env.no_proxy ?? env.NO_PROXY;
    if (httpProxy !== undefined) settings.httpProxy = httpProxy;
    if (httpsProxy !== undefined) settings.httpsProxy = httpsProxy;
    if (noProxy !== undefined) settings.noProxy = noProxy;
    return settings;
  });

export function readHttpProxySettings(env: NodeJS.ProcessEnv): HttpProxySettings {
  return httpProxySchema.parse(env);
}
