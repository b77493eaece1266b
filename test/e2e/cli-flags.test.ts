/**
 * The command line of the built bin: --help and --version are output (stdout, exit 0, no server), a bad argument is
 * a diagnostic (stderr, exit 2).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BIN, cleanEnv } from './raw-stdio.js';

/** Runs the bin to completion with no stdin. */
async function runBin(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    // No server starts, so no token store is opened.
    env: cleanEnv('/nonexistent-token-dir'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = await once(child, 'close');
  return { code: code as number, stdout, stderr };
}

describe('--help and --version', () => {
  it('print to stdout and exit 0 without starting a server; --help names every flag and the main variables', async () => {
    const version = await runBin(['--version']);
    expect(version).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\S*\n$/), stderr: '' });

    const help = await runBin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    for (const flag of ['--config FILE', '--trace FILE', '--inspect', '--help', '--version']) {
      expect(help.stdout).toContain(flag);
    }
    const variables = [
      'ENABLE_ADDITIONAL_TOOLS',
      'PROXY_UPSTREAMS',
      'PROXY_URL',
      'PROXY_TRANSPORT',
      'PROXY_INCLUDE_TOOLS',
      'PROXY_IGNORE_TOOLS',
      'PROXY_STARTUP_TIMEOUT_MS',
      'PROXY_CATALOG_CACHE',
      'PROXY_TRACE',
      'PROXY_INSPECT',
      'DEBUG',
    ];
    for (const variable of variables) expect(help.stdout).toMatch(new RegExp(`^ +${variable} `, 'm'));
    expect(help.stdout).toContain('README');
  });

  it('sends a bad argument to stderr with exit 2, and nothing to stdout', async () => {
    const bad = await runBin(['--verbose']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain("Unknown option '--verbose'");
    expect(bad.stderr).toContain('--config FILE');
  });

  it('refuses a bad --tool-mode as a configuration error naming the flag and the values allowed', async () => {
    const help = await runBin(['--help']);
    expect(help.stdout).toContain('--tool-mode M');
    expect(help.stdout).toMatch(/^ +PROXY_TOOL_MODE /m);
    const bad = await runBin(['--tool-mode', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('invalid configuration:\n  - --tool-mode must be "search" or "all" (got "lots")');
  });
});

describe('pins', () => {
  it('is a command of its own: help on stdout, a malformed or empty accept on stderr with its exit code', async () => {
    const help = await runBin(['pins', '--help']);
    expect(help).toMatchObject({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(/^Usage: mcp-upstream-proxy pins accept/),
    });
    const malformed = await runBin(['pins', 'accept']);
    expect(malformed).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringContaining('expected "accept <upstream> [tool]"'),
    });
    const nothing = await runBin(['pins', 'accept', 'docs', 'search']);
    expect(nothing).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'mcp-upstream-proxy pins: upstream "docs" has no pin for tool "search"\n',
    });
  });
});
