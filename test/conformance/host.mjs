#!/usr/bin/env node
/**
 * The MCP host under test for the official conformance suite (`@modelcontextprotocol/conformance`, client
 * scenarios); `run.mjs` starts the runner with `--command "node test/conformance/host.mjs"`.
 *
 * The runner starts this script with the scenario's server URL as the last argument, the scenario name in
 * MCP_CONFORMANCE_SCENARIO and, for some scenarios, credentials in MCP_CONFORMANCE_CONTEXT (JSON). It does what an
 * MCP host does with the proxy: spawns the BUILT proxy (dist/src/cli.js) over stdio with that URL as its one
 * upstream, configured the way a user would (PROXY_UPSTREAMS, PROXY_<NAME>_CLIENT_ID/_SECRET, `oauth` options),
 * lists tools once after initialize and again on each tools/list_changed (after a sign-in, tools arrive with it)
 * until the scenario's tool appears, calls it,
 * and exits 0 when the call succeeded. Sign-in runs through the test browser, which follows the redirects.
 *
 * It answers elicitation requests the proxy forwards from the upstream by accepting with the schema's defaults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROXY_BIN = join(ROOT, 'dist/src/cli.js');
const TEST_BROWSER = join(ROOT, 'test/fixtures/test-browser.mjs');
/** The upstream's name in the proxy's configuration: credentials go in PROXY_CONFORMANCE_CLIENT_ID/_SECRET. */
const UPSTREAM = 'conformance';
/** The client ID metadata document the basic-cimd scenario expects as client_id (never fetched by its mock AS). */
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
/** How long to wait for the scenario's tool to be listed (a sign-in comes first in the auth scenarios). */
const TOOL_WAIT_MS = Number(process.env.CONFORMANCE_TOOL_WAIT_MS ?? 20_000);

/** How long a failed call is tried again while the proxy signs in again (step-up). */
const RETRY_WINDOW_MS = 15_000;

/** The tool each scenario's server offers; the auth scenarios' servers all offer `test-tool`. */
const SCENARIO_TOOLS = {
  initialize: undefined,
  tools_call: { name: 'add_numbers', arguments: { a: 5, b: 3 } },
  'elicitation-sep1034-client-defaults': { name: 'test_client_elicitation_defaults', arguments: {} },
  'sse-retry': { name: 'test_reconnection', arguments: {} },
};

const serverUrl = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const tool = scenario in SCENARIO_TOOLS ? SCENARIO_TOOLS[scenario] : { name: 'test-tool', arguments: {} };
const log = (line) => process.stderr.write(`conformance host: ${line}\n`);

/** A free loopback port for the proxy's sign-in callback: the scenarios of a suite run in parallel. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Accepts a form elicitation with every default of its schema: what a user pressing "Accept" would send. */
function acceptWithDefaults(request) {
  const properties = request.params?.requestedSchema?.properties ?? {};
  const content = {};
  for (const [field, schema] of Object.entries(properties)) {
    if (schema && typeof schema === 'object' && 'default' in schema) content[field] = schema.default;
  }
  log(`elicitation accepted with defaults ${JSON.stringify(content)}`);
  return { action: 'accept', content };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const tokenDir = await mkdtemp(join(tmpdir(), 'conformance-tokens-'));
const upstream = { name: UPSTREAM, url: serverUrl };
if (scenario === 'auth/basic-cimd') upstream.oauth = { client_metadata_url: CLIENT_METADATA_URL };
// SEP-1046 machine-to-machine scenarios: the client's own credentials (a secret, or a private key the scenario
// generated, given as PROXY_CONFORMANCE_PRIVATE_KEY), no browser.
if (scenario.startsWith('auth/client-credentials-')) {
  upstream.oauth = { grant: 'client_credentials' };
  if (context.signing_algorithm) upstream.oauth.private_key_alg = context.signing_algorithm;
}
// A clean environment, as an MCP host's config block gives: nothing of the runner's leaks into the proxy.
const env = {
  PATH: process.env.PATH ?? '',
  ENABLE_ADDITIONAL_TOOLS: 'proxy',
  PROXY_UPSTREAMS: JSON.stringify([upstream]),
  PROXY_TOKEN_DIR: tokenDir,
  PROXY_OAUTH_CALLBACK_PORT: String(await freePort()),
  PROXY_STARTUP_TIMEOUT_MS: '10000',
  BROWSER: `${process.execPath} ${TEST_BROWSER}`,
  DEBUG: '1',
};
if (context.client_id) env.PROXY_CONFORMANCE_CLIENT_ID = context.client_id;
if (context.client_secret) env.PROXY_CONFORMANCE_CLIENT_SECRET = context.client_secret;
if (context.private_key_pem) env.PROXY_CONFORMANCE_PRIVATE_KEY = context.private_key_pem;

const client = new Client(
  { name: 'conformance-host', version: '1.0.0' },
  { capabilities: { elicitation: { form: { applyDefaults: true } } } },
);
let listChanged = 0;
client.setNotificationHandler('notifications/tools/list_changed', () => {
  listChanged++;
});
client.setRequestHandler('elicitation/create', acceptWithDefaults);

let exitCode = 0;
try {
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args: [PROXY_BIN], env, stderr: 'inherit' }),
  );
  log(`connected to the proxy; scenario ${scenario}`);
  // As real clients do: one list after initialize, and another only when the proxy says the list changed (after
  // a sign-in, say). A proxy that relied on being polled would fail here.
  const deadline = Date.now() + TOOL_WAIT_MS;
  let names = (await client.listTools()).tools.map((t) => t.name);
  let seen = 0;
  while (tool && !names.includes(tool.name) && Date.now() < deadline) {
    if (listChanged === seen) {
      await sleep(50);
      continue;
    }
    seen = listChanged;
    names = (await client.listTools()).tools.map((t) => t.name);
  }
  log(`tools ${JSON.stringify(names)} (tools/list_changed ${listChanged} times)`);
  if (tool) {
    if (!names.includes(tool.name)) throw new Error(`tool ${tool.name} never appeared`);
    let result = await client.callTool(tool);
    log(`call ${tool.name}: ${JSON.stringify(result).slice(0, 300)}`);
    // A call that met a demand for a wider scope fails while the proxy signs in again (step-up), and calls made
    // while the user is still signing in are answered with the sign-in link: a host (or the model) tries again.
    // Bounded in count and time; on a slow machine the sign-in may take a few seconds.
    const retryUntil = Date.now() + RETRY_WINDOW_MS;
    while (result.isError && Date.now() < retryUntil) {
      await sleep(500);
      result = await client.callTool(tool);
      log(`call ${tool.name} again: ${JSON.stringify(result).slice(0, 300)}`);
    }
    if (result.isError) exitCode = 1;
  }
} catch (error) {
  log(`error: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await client.close().catch(() => {});
  await rm(tokenDir, { recursive: true, force: true });
}
process.exit(exitCode);
