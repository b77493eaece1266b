#!/usr/bin/env node
/**
 * mcp-upstream-proxy: arguments, configuration, start and stop. Everything else lives in the actor system.
 * stdout carries JSON-RPC only; every human line goes to stderr.
 */
import { parseArgs } from 'node:util';
import { ConfigError, isDebugEnabled, loadConfig } from './config/index.js';
import { createLogger } from './observe/log.js';
import { startProxy } from './proxy.js';
import { createStdioTransport } from './server/stdio.js';
import { VERSION } from './version.js';

/** Shutdown is bounded: whatever hangs, the process is gone after this. */
const EXIT_DEADLINE_MS = 2_000;

const USAGE = `Usage: mcp-upstream-proxy [--config FILE]

A stdio MCP server that exposes the tools of remote MCP servers (Streamable HTTP or SSE).

  --config FILE   upstreams as JSON: {"upstreams": [{"name": "...", "url": "https://..."}]}
  --trace FILE    append one JSON line per actor transition to FILE (or PROXY_TRACE=FILE)
  --inspect       Stately inspector and a local status page on 127.0.0.1 (or PROXY_INSPECT=1)
  --help          show this help
  --version       show the version

Without --config, upstreams come from PROXY_UPSTREAMS (a JSON array), used when
ENABLE_ADDITIONAL_TOOLS contains "proxy" or "all". DEBUG=1 logs more on stderr.`;

async function main(): Promise<void> {
  let args: { config?: string; trace?: string; inspect?: boolean; help?: boolean; version?: boolean };
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        trace: { type: 'string' },
        inspect: { type: 'boolean' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`mcp-upstream-proxy: ${(error as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }
  if (args.version) {
    process.stderr.write(`${VERSION}\n`);
    return;
  }

  const logger = createLogger({ debug: isDebugEnabled(process.env) });
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig({
      configPath: args.config,
      env: process.env,
      flags: { trace: args.trace, inspect: args.inspect },
    });
  } catch (error) {
    exitOnConfigError(error);
  }
  for (const notice of config.notices) logger.warn(notice);
  if (config.upstreams.length === 0 && config.notices.length === 0) {
    logger.warn(
      'no upstreams configured: set PROXY_UPSTREAMS (with ENABLE_ADDITIONAL_TOOLS=proxy) or use --config FILE',
    );
  }

  // A stray rejection in a library must not take down every upstream's session with it.
  process.on('unhandledRejection', (reason) => logger.error(`unhandled rejection: ${String(reason)}`));
  process.on('uncaughtException', (error) => logger.error(`uncaught exception: ${error.stack ?? error.message}`));

  const transport = createStdioTransport();
  const proxy = await startProxy({ config, logger, transport }).catch(exitOnConfigError);
  logger.info(`started with ${config.upstreams.length} upstream(s), version ${VERSION}`);

  let exiting = false;
  const shutdown = (why: string) => {
    if (exiting) return;
    exiting = true;
    logger.debug(`shutting down: ${why}`);
    setTimeout(() => process.exit(0), EXIT_DEADLINE_MS).unref();
    proxy.stop().finally(() => process.exit(0));
  };
  // The client closing our stdin is the usual way an MCP session ends.
  process.stdin.on('end', () => shutdown('stdin ended'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** A configuration problem ends the process with status 2 and one line per problem; anything else is rethrown. */
function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(
    `mcp-upstream-proxy: invalid configuration:\n${error.problems.map((problem) => `  - ${problem}`).join('\n')}\n`,
  );
  process.exit(2);
}

main().catch((error: unknown) => {
  process.stderr.write(`mcp-upstream-proxy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
