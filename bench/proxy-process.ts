/**
 * The built proxy (dist/src/cli.js) as a child process, with an SDK client over its stdio, for the fairness and
 * soak benches: as an MCP host runs it. Its stderr lines are kept (the last 2,000) and counted by kind.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const CLI_PATH = fileURLToPath(new URL('../src/cli.js', import.meta.url));

export interface ProxyUpstream {
  name: string;
  url: string;
  timeout_ms?: number;
  tool_prefix?: string;
  transport?: string;
}

export interface ProxyProcess {
  client: Client;
  pid: number;
  /** The last stderr lines. */
  stderr: string[];
  /** stderr lines that mention MaxListenersExceededWarning, since the start. */
  maxListenerWarnings(): number;
  close(): Promise<void>;
}

export async function spawnProxy(
  upstreams: ProxyUpstream[],
  options: {
    nodeArgs?: string[];
    env?: Record<string, string>;
    onNotification?: (client: Client) => void;
    /** Another build of the proxy, to compare (default: this build's). */
    cliPath?: string;
    /** The proxy's own arguments (`--config FILE`, say). */
    args?: string[];
  } = {},
): Promise<ProxyProcess> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...(options.nodeArgs ?? []), options.cliPath ?? CLI_PATH, ...(options.args ?? [])],
    env: {
      ...getDefaultEnvironment(),
      ENABLE_ADDITIONAL_TOOLS: 'proxy',
      PROXY_UPSTREAMS: JSON.stringify(upstreams),
      // Upstreams of one run: nothing of them is saved in the user's token folder.
      PROXY_CATALOG_CACHE: '0',
      ...options.env,
    },
    stderr: 'pipe',
  });
  const stderr: string[] = [];
  let warnings = 0;
  createInterface({ input: transport.stderr as Readable, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
    if (line.includes('MaxListenersExceededWarning')) warnings++;
    stderr.push(line);
    if (stderr.length > 2_000) stderr.shift();
  });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  options.onNotification?.(client);
  await client.connect(transport);
  return {
    client,
    pid: transport.pid ?? 0,
    stderr,
    maxListenerWarnings: () => warnings,
    close: () => client.close().catch(() => {}),
  };
}

/** Resident set size of a process in MB (Linux /proc); NaN where that cannot be read. */
export function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Open file descriptors of a process (Linux /proc); NaN where that cannot be read. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}
