#!/usr/bin/env node
/**
 * mcp-upstream-proxy: arguments, configuration, start and stop. Everything else lives in the actor system.
 * stdout carries JSON-RPC only; every human line goes to stderr.
 */
// First, for its effect: the young generation is held small before anything else allocates (see ./heap.ts).
import './hold-young-generation.js';
import { parseArgs } from 'node:util';
import { loadConfig } from './config/index.js';
import { ConfigError } from './errors/index.js';
import { createLogger, flushLogs } from './observe/log.js';
import { runPinsCommand } from './pins-command.js';
import { startProxy } from './proxy.js';
import { drainDeadlineMs, superviseShutdown } from './server/drain.js';
import { createStdioTransport } from './server/stdio.js';
import { VERSION } from './version.js';

const USAGE = `Usage: mcp-upstream-proxy [--config FILE] [--trace FILE] [--audit FILE] [--inspect] [--tool-mode M] [--otel]

A stdio MCP server that exposes the tools of remote MCP servers (Streamable HTTP or SSE, OAuth where needed).
An MCP client starts it; JSON-RPC on stdin and stdout, logs on stderr.

Options:
  --config FILE   upstreams as JSON: {"upstreams": [{"name": "...", "url": "https://..."}]}; an edit of
                  the file is applied without a restart
  --trace FILE    append one JSON line per actor transition to FILE (or PROXY_TRACE=FILE)
  --audit FILE    append one JSON line per forwarded request to FILE (or PROXY_AUDIT_FILE=FILE)
  --audit-arguments  put each request's arguments and result in those lines, redacted (or PROXY_AUDIT_ARGUMENTS=1)
  --inspect       Stately inspector, a local status page and /metrics on 127.0.0.1 (or PROXY_INSPECT=1)
  --tool-mode M   all (default): every upstream tool; search: three tools that search, describe and call
                  them, for clients that cannot take hundreds of tools (or PROXY_TOOL_MODE=M)
  --otel          OpenTelemetry spans and metrics over OTLP/HTTP (or OTEL_EXPORTER_OTLP_ENDPOINT=URL)
  --help          show this help
  --version       show the version
  pins accept <upstream> [tool]
                  accept a changed tool definition that pin_tools withholds

Environment:
  ENABLE_ADDITIONAL_TOOLS    must contain "proxy" or "all" for PROXY_UPSTREAMS / PROXY_URL to be used
  PROXY_UPSTREAMS            the upstreams, a JSON array (without --config)
  PROXY_URL                  or a single upstream: its URL, with
    PROXY_TRANSPORT            http-first (default), http, sse or sse-first
    PROXY_INCLUDE_TOOLS        glob patterns of the tools to expose
    PROXY_IGNORE_TOOLS         glob patterns of the tools to hide
  PROXY_STARTUP_TIMEOUT_MS   how long the first tools/list waits for upstreams
  PROXY_MAX_TOOL_NAME        the longest tool name the client takes (default 64; e.g. 60 for Cursor)
  PROXY_CATALOG_CACHE        0 to not answer the first lists from the last known catalog
  PROXY_TRACE                as --trace FILE
  PROXY_AUDIT_FILE           as --audit FILE
  PROXY_AUDIT_ARGUMENTS      1 as --audit-arguments
  PROXY_INSPECT              1 as --inspect
  PROXY_TOOL_MODE            as --tool-mode M
  PROXY_TOKEN_DIR            where OAuth tokens (and tool pins) are kept
  PROXY_PIN_TOOLS            1 to pin every upstream's tools (see pin_tools)
  OTEL_EXPORTER_OTLP_ENDPOINT  OpenTelemetry's OTLP/HTTP endpoint (turns telemetry on)
  DEBUG                      1 for verbose logs on stderr

Every upstream field, the other variables (OAuth, per-upstream PROXY_<NAME>_*) and what the client sees:
README.md, which comes with the package.`;

async function main(): Promise<void> {
  if (process.argv[2] === 'pins') {
    process.exitCode = await runPinsCommand(process.argv.slice(3), process.env);
    return;
  }
  let args: {
    config?: string;
    trace?: string;
    audit?: string;
    'audit-arguments'?: boolean;
    inspect?: boolean;
    'tool-mode'?: string;
    otel?: boolean;
    help?: boolean;
    version?: boolean;
  };
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        trace: { type: 'string' },
        audit: { type: 'string' },
        'audit-arguments': { type: 'boolean' },
        inspect: { type: 'boolean' },
        'tool-mode': { type: 'string' },
        otel: { type: 'boolean' },
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
  // Asked for, so they are the output (stdout), not a diagnostic; the proxy does not start.
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }

  const loadOptions = {
    configPath: args.config,
    env: process.env,
    flags: {
      trace: args.trace,
      inspect: args.inspect,
      audit: args.audit,
      auditArguments: args['audit-arguments'],
      toolMode: args['tool-mode'],
      otel: args.otel,
    },
  };
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(loadOptions);
  } catch (error) {
    exitOnConfigError(error);
  }
  const logger = createLogger({ debug: config.debug });
  for (const notice of config.notices) logger.warn(notice);
  if (config.upstreams.length === 0 && config.notices.length === 0) {
    logger.warn(
      'no upstreams configured: set PROXY_UPSTREAMS or PROXY_URL (with ENABLE_ADDITIONAL_TOOLS=proxy) or use --config FILE',
    );
  }

  // A stray rejection in a library must not take down every upstream's session with it.
  process.on('unhandledRejection', (reason) => logger.error(`unhandled rejection: ${String(reason)}`));
  process.on('uncaughtException', (error) => logger.error(`uncaught exception: ${error.stack ?? error.message}`));

  const transport = createStdioTransport({ warn: (line) => logger.warn(line) });
  // With --config, an edit of the file is applied while running (hot reload).
  const reloadFrom = args.config === undefined ? undefined : { ...loadOptions, configPath: args.config };
  const proxy = await startProxy({ config, logger, transport, reloadFrom }).catch(exitOnConfigError);
  logger.info(`started with ${config.upstreams.length} upstream(s), version ${VERSION}`);
  // The end of stdin drains (every request read is answered), signals and a dead parent stop at once.
  superviseShutdown({ transport, stop: proxy.stop, logger, drainDeadlineMs: drainDeadlineMs(config) });
}

/** A configuration problem ends the process with status 2 and one line per problem; anything else is rethrown. */
function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  flushLogs();
  process.stderr.write(
    `mcp-upstream-proxy: invalid configuration:\n${error.problems.map((problem) => `  - ${problem}`).join('\n')}\n`,
  );
  process.exit(2);
}

main().catch((error: unknown) => {
  flushLogs();
  process.stderr.write(`mcp-upstream-proxy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
