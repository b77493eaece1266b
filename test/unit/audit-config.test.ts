/** The audit log's settings: PROXY_AUDIT_FILE and PROXY_AUDIT_ARGUMENTS, the flags winning, and what is wrong. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';

describe('audit settings', () => {
  it('are off unless a file is given', async () => {
    expect((await loadConfig({ env: {} })).audit).toBeUndefined();
  });

  it('read PROXY_AUDIT_FILE and PROXY_AUDIT_ARGUMENTS, with the flags winning', async () => {
    const env = { PROXY_AUDIT_FILE: '/tmp/env-audit.jsonl', PROXY_AUDIT_ARGUMENTS: 'yes' };
    expect((await loadConfig({ env })).audit).toEqual({ file: '/tmp/env-audit.jsonl', arguments: true });
    expect((await loadConfig({ env, flags: { audit: '/tmp/flag-audit.jsonl', auditArguments: false } })).audit).toEqual(
      { file: '/tmp/flag-audit.jsonl', arguments: false },
    );
    expect((await loadConfig({ env: {}, flags: { audit: '/tmp/a.jsonl' } })).audit).toEqual({
      file: '/tmp/a.jsonl',
      arguments: false,
    });
  });

  it('name what is wrong: a bad switch, arguments without a file', async () => {
    await expect(
      loadConfig({ env: { PROXY_AUDIT_FILE: '/tmp/a.jsonl', PROXY_AUDIT_ARGUMENTS: 'maybe' } }),
    ).rejects.toThrow('PROXY_AUDIT_ARGUMENTS must be 1 or 0');
    await expect(loadConfig({ env: {}, flags: { auditArguments: true } })).rejects.toThrow(
      '--audit-arguments (or PROXY_AUDIT_ARGUMENTS) needs --audit FILE (or PROXY_AUDIT_FILE)',
    );
  });
});
