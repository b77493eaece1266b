/**
 * An upstream's OAuth settings completed from outside the config text, at load: the private key (a file, or
 * `PROXY_<NAME>_PRIVATE_KEY`) and the static client (`PROXY_<NAME>_CLIENT_ID`, `_CLIENT_SECRET`), each checked so
 * that a bad one stops the proxy at start with the field named.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readEnv } from './env.js';
import { describeFileError } from './file-errors.js';
import { clientFromEnv } from './oauth-settings.js';
import type { UpstreamConfig } from './schema.js';

type Env = NodeJS.ProcessEnv;

/** `PROXY_<NAME>_`: the prefix of the per-upstream variables (e.g. PROXY_ATLASSIAN_CLIENT_ID). */
export function envPrefixFor(name: string): string {
  return `PROXY_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/**
 * What the OAuth settings need from outside the config text: the static client `PROXY_<NAME>_CLIENT_ID` and
 * `_CLIENT_SECRET` (over `oauth.client_id` and `_secret`, with or without an `oauth` block), and for an `oauth`
 * block the private key (a file, or `PROXY_<NAME>_PRIVATE_KEY`) and, for the client_credentials grant, a client
 * that can authenticate by itself.
 */
export function resolveOAuth(
  upstream: UpstreamConfig,
  keyFile: string | undefined,
  env: Env,
  report: (line: string) => void,
): void {
  const configured = upstream.oauth;
  applyEnvClient(upstream, env);
  if (configured !== undefined) resolveKey(upstream.oauth!, envPrefixFor(upstream.name), keyFile, env, report);
}

/** `PROXY_<NAME>_CLIENT_ID` and `_CLIENT_SECRET` into the upstream's `oauth`, over what the config says. */
export function applyEnvClient(upstream: UpstreamConfig, env: Env): void {
  const fromEnv = clientFromEnv(env, envPrefixFor(upstream.name));
  if (fromEnv.clientId !== undefined || fromEnv.clientSecret !== undefined) {
    upstream.oauth = { ...upstream.oauth, ...fromEnv };
  }
}

function resolveKey(
  oauth: NonNullable<UpstreamConfig['oauth']>,
  prefix: string,
  keyFile: string | undefined,
  env: Env,
  report: (line: string) => void,
): void {
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
  if (oauth.clientId === undefined) {
    report(`oauth.grant "client_credentials" needs oauth.client_id (or ${prefix}CLIENT_ID)`);
  } else if (oauth.clientSecret === undefined && oauth.privateKey === undefined) {
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
