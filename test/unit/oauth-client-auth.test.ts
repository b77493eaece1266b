/**
 * Token endpoint authentication of a static client: the first method in the server's list that the proxy can
 * perform with what it holds, not the SDK's fixed preference (basic, post, none).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { algorithmFor, asPkcs8, tokenEndpointAuthMethod } from '../../src/oauth/static-client.js';

const SECRET = { secret: true, key: false };
const KEY = { secret: false, key: true };
const BOTH = { secret: true, key: true };
const NEITHER = { secret: false, key: false };

describe('tokenEndpointAuthMethod', () => {
  it.each([
    // The server's order wins over the SDK's basic-before-post.
    [['client_secret_post', 'client_secret_basic'], SECRET, 'client_secret_post'],
    [['client_secret_basic', 'client_secret_post'], SECRET, 'client_secret_basic'],
    [['client_secret_post'], SECRET, 'client_secret_post'],
    // A confidential client skips `none`, and `private_key_jwt` without a key.
    [['none', 'private_key_jwt', 'client_secret_post'], SECRET, 'client_secret_post'],
    [['none', 'client_secret_basic'], NEITHER, 'none'],
    [['client_secret_basic', 'none'], NEITHER, 'none'],
    // A key: private_key_jwt where the server lists it, in its order.
    [['private_key_jwt'], KEY, 'private_key_jwt'],
    [['client_secret_basic', 'private_key_jwt'], KEY, 'private_key_jwt'],
    [['client_secret_basic', 'private_key_jwt'], BOTH, 'client_secret_basic'],
    [['private_key_jwt', 'client_secret_basic'], BOTH, 'private_key_jwt'],
    // No list (RFC 8414's default is basic), or nothing in it the proxy can do: what it holds decides.
    [undefined, SECRET, 'client_secret_basic'],
    [undefined, KEY, 'private_key_jwt'],
    [undefined, NEITHER, 'none'],
    [['tls_client_auth'], SECRET, 'client_secret_basic'],
    [['client_secret_jwt'], KEY, 'private_key_jwt'],
  ] as const)('server %j, holding %j: %s', (supported, holds, expected) => {
    expect(tokenEndpointAuthMethod(supported, holds)).toBe(expected);
  });
});

describe('private keys', () => {
  it.each([
    ['ec', { namedCurve: 'prime256v1' }, 'sec1', 'ES256'],
    ['ec', { namedCurve: 'secp384r1' }, 'sec1', 'ES384'],
    ['rsa', { modulusLength: 2048 }, 'pkcs1', 'RS256'],
    ['ed25519', {}, 'pkcs8', 'EdDSA'],
  ] as const)('a %s key (%j) written as %s becomes PKCS#8, algorithm %s', (type, options, format, alg) => {
    const { privateKey } = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
    const pem = privateKey.export({ type: format as 'sec1', format: 'pem' }).toString();
    const pkcs8 = asPkcs8(pem);
    expect(pkcs8).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(algorithmFor(pem)).toBe(alg);
    expect(algorithmFor(pkcs8)).toBe(alg);
  });

  it('passes an unreadable key on unchanged, for the token request to report', () => {
    const bad = '-----BEGIN EC PRIVATE KEY-----\nnot base64\n-----END EC PRIVATE KEY-----\n';
    expect(asPkcs8(bad)).toBe(bad);
  });
});
