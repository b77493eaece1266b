/** Redaction of stderr lines: registered secret values, and the shapes secrets come in. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/log.js';
import { redact, registerSecret } from '../../src/observe/redact.js';

describe('redact', () => {
  it('removes registered values wherever they appear, and leaves short ones alone', () => {
    registerSecret('hdr-value-123456');
    registerSecret('abc');
    expect(redact('upstream "x": sent hdr-value-123456 twice: hdr-value-123456')).toBe(
      'upstream "x": sent [redacted] twice: [redacted]',
    );
    expect(redact('abc is not a secret')).toBe('abc is not a secret');
  });

  it.each([
    ['Authorization: Bearer eyJhbGciOi.payload.sig', 'Authorization: Bearer [redacted]'],
    ['headers {"authorization":"Basic dXNlcjpwYXNz"}', 'headers {"authorization":"Basic [redacted]"}'],
    ['got bearer abc.def-ghi from it', 'got bearer [redacted] from it'],
    ['callback /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz', 'callback /cb?code=[redacted]&state=xyz'],
    [
      'body grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA',
      'body grant_type=refresh_token&refresh_token=[redacted]',
    ],
    [
      '{"access_token": "2YotnFZFEjr1zCsicMWpAA", "expires_in": 3600}',
      '{"access_token": "[redacted]", "expires_in": 3600}',
    ],
    ['client_secret=s3cr3t-value', 'client_secret=[redacted]'],
  ])('%s', (line, expected) => {
    expect(redact(line)).toBe(expected);
  });

  it('keeps what a user needs: sign-in links keep their PKCE challenge and state, URLs their path', () => {
    const link = 'sign in at https://as.example/authorize?client_id=c1&code_challenge=E9Melhoa&state=af0ifjsldkj';
    expect(redact(link)).toBe(link);
  });

  it('is applied to every line a logger writes', () => {
    const lines: string[] = [];
    const logger = createLogger({ debug: true, write: (line) => lines.push(line) });
    logger.warn('refused: authorization: Bearer live-token-xyz');
    logger.debug('token endpoint said {"refresh_token":"r-123456789"}');
    expect(lines.join('\n')).not.toMatch(/live-token-xyz|r-123456789/);
  });
});
