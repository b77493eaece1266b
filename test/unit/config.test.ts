// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${VAR} in these strings is the literal config syntax under test.
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  envPrefixFor,
  loadConfig,
  PROXY_DISABLED_NOTICE,
  parseUpstreams,
  proxyDisabledNotice,
  readOAuthSettings,
  SINGLE_UPSTREAM_NAME,
  type UpstreamConfig,
} from '../../src/config/index.js';
import { ConfigError } from '../../src/errors/index.js';

// The second example of the mcp-devtools proxy docs, as pasted into an env block: newlines and a trailing comma.
const SEED_EXAMPLE = `[
{
"name": "example-atlassian-sse",
"url": "https://mcp.atlassian.com/v1/sse",
"transport": "http-first",
"ignore_tools": ["*update*", "*create*", "*add*", "*edit*", "*delete*", "*jira*"]
},
{
"name": "example-http-mcp",
"url": "https://mcp.example.com/mcp",
"transport": "http",
}
]`;

const ENABLED = { ENABLE_ADDITIONAL_TOOLS: 'proxy' };

/** Parses a PROXY_UPSTREAMS-style array of the given upstream objects. */
function parse(upstreams: unknown[], env: NodeJS.ProcessEnv = {}): UpstreamConfig[] {
  return parseUpstreams(JSON.stringify(upstreams), 'PROXY_UPSTREAMS', env, false);
}

/** The ConfigError problems `run` throws; fails the test when it throws anything else or nothing. */
async function problemsOf(run: () => unknown): Promise<string[]> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('ERR_PROXY_CONFIG');
    expect(configError.message).toBe(configError.problems.join('\n'));
    return configError.problems;
  }
  throw new Error('expected a ConfigError');
}

describe('parseUpstreams', () => {
  it('accepts the seed example with newlines and a trailing comma', () => {
    const upstreams = parseUpstreams(SEED_EXAMPLE, 'PROXY_UPSTREAMS', {}, false);
    expect(upstreams).toEqual([
      {
        name: 'example-atlassian-sse',
        url: new URL('https://mcp.atlassian.com/v1/sse'),
        transport: 'http-first',
        ignoreTools: ['*update*', '*create*', '*add*', '*edit*', '*delete*', '*jira*'],
        headers: {},
        timeoutMs: 60_000,
        maxCallMs: 1_800_000,
        allowHttp: false,
      },
      {
        name: 'example-http-mcp',
        url: new URL('https://mcp.example.com/mcp'),
        transport: 'http',
        headers: {},
        timeoutMs: 60_000,
        maxCallMs: 1_800_000,
        allowHttp: false,
      },
    ]);
    expect(upstreams[1]?.url.href).toBe('https://mcp.example.com/mcp');
  });

  it('applies defaults and leaves unset optional fields absent', () => {
    const [upstream] = parse([{ name: 'plain', url: 'http://127.0.0.1:3000/mcp' }]);
    expect(upstream).toEqual({
      name: 'plain',
      url: new URL('http://127.0.0.1:3000/mcp'),
      transport: 'http-first',
      headers: {},
      timeoutMs: 60_000,
      maxCallMs: 1_800_000,
      allowHttp: false,
    });
    expect(Object.keys(upstream!).sort()).toEqual([
      'allowHttp',
      'headers',
      'maxCallMs',
      'name',
      'timeoutMs',
      'transport',
      'url',
    ]);
  });

  it('maps every field to its camelCase form', () => {
    const [upstream] = parse([
      {
        name: 'full',
        url: 'https://mcp.example.com/mcp',
        transport: 'sse',
        include_tools: ['search*'],
        ignore_tools: ['debug_*'],
        headers: { 'X-Environment': 'production' },
        tool_prefix: 'ex_',
        timeout_ms: 5_000,
        max_call_ms: 600_000,
        oauth: {
          client_id: 'id-1',
          client_secret: 'shh',
          scopes: 'read:jira  write:jira',
          client_metadata_url: 'https://app.example.com/client.json',
        },
        allow_http: true,
      },
    ]);
    expect(upstream).toEqual({
      name: 'full',
      url: new URL('https://mcp.example.com/mcp'),
      transport: 'sse',
      includeTools: ['search*'],
      ignoreTools: ['debug_*'],
      headers: { 'X-Environment': 'production' },
      toolPrefix: 'ex_',
      timeoutMs: 5_000,
      maxCallMs: 600_000,
      oauth: {
        clientId: 'id-1',
        clientSecret: 'shh',
        scopes: ['read:jira', 'write:jira'],
        clientMetadataUrl: new URL('https://app.example.com/client.json'),
      },
      allowHttp: true,
    });
  });

  it('accepts oauth scopes as an array', () => {
    const [upstream] = parse([{ name: 'a', url: 'https://a.test', oauth: { scopes: ['openid', 'offline_access'] } }]);
    expect(upstream?.oauth).toEqual({ scopes: ['openid', 'offline_access'] });
  });

  it.each([
    ['http-first', 'http-first'],
    ['http', 'http'],
    ['sse', 'sse'],
    ['sse-first', 'sse-first'],
    ['http-only', 'http'],
    ['sse-only', 'sse'],
    ['HTTP', 'http'],
    ['SSE-Only', 'sse'],
    [' Http-First ', 'http-first'],
  ])('reads transport %j as %j', (written, expected) => {
    expect(parse([{ name: 'a', url: 'https://a.test', transport: written }])[0]?.transport).toBe(expected);
  });

  it('expands ${VAR} in header values', () => {
    const [upstream] = parse(
      [{ name: 'a', url: 'https://a.test', headers: { Authorization: 'Bearer ${API_TOKEN}', 'X-Team': '${TEAM}-x' } }],
      { API_TOKEN: 'tok123', TEAM: 'core' },
    );
    expect(upstream?.headers).toEqual({ Authorization: 'Bearer tok123', 'X-Team': 'core-x' });
  });

  it('names the source and position of a syntax error without echoing the text', async () => {
    const text = '[\n  {"name": "a", "headers": {"Authorization": "Bearer sk-live-999"}}\n  {"name": "b"}\n]';
    expect(await problemsOf(() => parseUpstreams(text, 'PROXY_UPSTREAMS', {}, false))).toEqual([
      'PROXY_UPSTREAMS is not valid JSON: unexpected character at line 3, column 3',
    ]);
    expect(await problemsOf(() => parseUpstreams('[{"name": "sk-live-999"', '/etc/proxy.json', {}, true))).toEqual([
      '/etc/proxy.json is not valid JSON: unexpected end of input at line 1, column 24',
    ]);
  });

  it('requires PROXY_UPSTREAMS to be an array', async () => {
    for (const text of ['{"name": "a"}', '"a"', 'null', '42']) {
      expect(await problemsOf(() => parseUpstreams(text, 'PROXY_UPSTREAMS', {}, false))).toEqual([
        'PROXY_UPSTREAMS must be a JSON array of upstreams',
      ]);
    }
  });

  it('requires a file to be an object with an upstreams array', async () => {
    for (const text of ['[]', '{}', '{"upstreams": {}}', 'null']) {
      expect(await problemsOf(() => parseUpstreams(text, 'proxy.json', {}, true))).toEqual([
        'proxy.json must be a JSON object with an "upstreams" array',
      ]);
    }
    expect(await problemsOf(() => parseUpstreams('{"upstream": []}', 'proxy.json', {}, true))).toEqual([
      'proxy.json: unknown field "upstream" (did you mean "upstreams"?)',
      'proxy.json must be a JSON object with an "upstreams" array',
    ]);
  });

  it('accepts an empty list', () => {
    expect(parseUpstreams('[]', 'PROXY_UPSTREAMS', {}, false)).toEqual([]);
    expect(parseUpstreams('{upstreams: [],}', 'proxy.json', {}, true)).toEqual([]);
  });

  const ok = { name: 'a', url: 'https://a.test/mcp' };
  it.each<[string, unknown[], string[]]>([
    ['not an object', [ok, 'b'], ['upstream #2 must be an object']],
    ['a missing name', [ok, { url: 'https://b.test' }], ['upstream #2: name is required']],
    ['a bad name', [{ ...ok, name: 'has space' }], ['upstream #1: name must be 1 to 64 letters, digits, "-" or "_"']],
    [
      'a long name',
      [{ ...ok, name: 'n'.repeat(65) }],
      ['upstream #1: name must be 1 to 64 letters, digits, "-" or "_"'],
    ],
    ['a duplicate name', [ok, { ...ok }], ['upstream "a": duplicate name (also upstream #1)']],
    [
      'a duplicate name in another case',
      [ok, { ...ok, name: 'A' }],
      ['upstream "A": duplicate name (also upstream #1 "a"; names ignore case)'],
    ],
    [
      'names with the same env prefix',
      [
        { ...ok, name: 'a-b' },
        { ...ok, name: 'a_b' },
      ],
      ['upstream "a_b": name clashes with upstream #1 "a-b": both use PROXY_A_B_* variables'],
    ],
    ['a missing url', [{ name: 'a' }], ['upstream "a": url is required']],
    ['a relative url', [{ ...ok, url: '/mcp' }], ['upstream "a": url must be an http(s) URL']],
    ['a non-http url', [{ ...ok, url: 'ftp://a.test' }], ['upstream "a": url must be an http(s) URL']],
    ['a non-string url', [{ ...ok, url: 42 }], ['upstream "a": url must be an http(s) URL']],
    [
      'an unknown transport',
      [{ ...ok, transport: 'websocket' }],
      ['upstream "a": transport must be "http-first", "http", "sse" or "sse-first"'],
    ],
    [
      'bad include_tools',
      [{ ...ok, include_tools: ['', 3, 'ok'] }],
      [
        'upstream "a": include_tools must be a non-empty array of non-empty strings (leave it out to expose every tool)',
      ],
    ],
    [
      'an empty include_tools',
      [{ ...ok, include_tools: [] }],
      [
        'upstream "a": include_tools must be a non-empty array of non-empty strings (leave it out to expose every tool)',
      ],
    ],
    [
      'a string ignore_tools',
      [{ ...ok, ignore_tools: 'debug_*' }],
      ['upstream "a": ignore_tools must be an array of non-empty strings'],
    ],
    ['headers as an array', [{ ...ok, headers: ['x'] }], ['upstream "a": headers must be an object of string values']],
    ['a non-string header', [{ ...ok, headers: { 'X-Port': 80 } }], ['upstream "a": header "X-Port" must be a string']],
    [
      'a bad header name',
      [{ ...ok, headers: { 'X Bad': 'v' } }],
      ['upstream "a": header name "X Bad" is not a valid HTTP header name'],
    ],
    [
      'a repeated header name',
      [{ ...ok, headers: { Authorization: 'x', authorization: 'y' } }],
      ['upstream "a": header "authorization" repeats "Authorization" (header names ignore case)'],
    ],
    [
      'a header value with a line break',
      [{ ...ok, headers: { 'X-A': 'v\r\nX-Injected: 1' } }],
      ['upstream "a": header "X-A" value must not contain CR, LF or NUL'],
    ],
    [
      'a header that references a missing variable',
      [{ ...ok, headers: { Authorization: 'Bearer ${NO_SUCH_TOKEN}' } }],
      ['upstream "a": header "Authorization" references ${NO_SUCH_TOKEN}, which is not set'],
    ],
    [
      'a long tool_prefix',
      [{ ...ok, tool_prefix: 'p'.repeat(33) }],
      ['upstream "a": tool_prefix must be a string of at most 32 characters'],
    ],
    ...[0, -1, 1.5, '60000', 2_147_483_648].map((timeout): [string, unknown[], string[]] => [
      `timeout_ms ${JSON.stringify(timeout)}`,
      [{ ...ok, timeout_ms: timeout }],
      ['upstream "a": timeout_ms must be a positive integer of milliseconds, at most 2147483647'],
    ]),
    ['oauth not an object', [{ ...ok, oauth: 'yes' }], ['upstream "a": oauth must be an object']],
    [
      'bad oauth fields',
      [{ ...ok, oauth: { client_id: '', client_secret: 7, scopes: 3, client_metadata_url: 'http://a.test/c.json' } }],
      [
        'upstream "a": oauth.client_id must be a non-empty string',
        'upstream "a": oauth.client_secret must be a non-empty string',
        'upstream "a": oauth.scopes must be a space-separated string or an array of scopes without spaces',
        'upstream "a": oauth.client_metadata_url must be an https URL',
      ],
    ],
    [
      'a scope with a space in an array',
      [{ ...ok, oauth: { scopes: ['read write'] } }],
      ['upstream "a": oauth.scopes must be a space-separated string or an array of scopes without spaces'],
    ],
    ['a non-boolean allow_http', [{ ...ok, allow_http: 'true' }], ['upstream "a": allow_http must be true or false']],
    [
      'unknown fields',
      [{ ...ok, ignore_tool: [], includeTools: [], colour: 'red', oauth: { clientId: 'x' } }],
      [
        'upstream "a": unknown field "oauth.clientId" (did you mean "oauth.client_id"?)',
        'upstream "a": unknown field "ignore_tool" (did you mean "ignore_tools"?)',
        'upstream "a": unknown field "includeTools" (did you mean "include_tools"?)',
        'upstream "a": unknown field "colour"',
      ],
    ],
  ])('reports %s', async (_case, upstreams, expected) => {
    expect(await problemsOf(() => parse(upstreams))).toEqual(expected);
  });

  it('collects every problem, one line each', async () => {
    const upstreams = [
      { name: 'atlassian', url: 'mcp.atlassian.com' },
      { url: 'https://b.test' },
      { name: 'c', url: 'https://c.test', ignore_tool: ['*'] },
    ];
    expect(await problemsOf(() => parse(upstreams))).toEqual([
      'upstream "atlassian": url must be an http(s) URL',
      'upstream #2: name is required',
      'upstream "c": unknown field "ignore_tool" (did you mean "ignore_tools"?)',
    ]);
  });

  it('never puts header values or secrets in messages', async () => {
    const secret = 'sk-live-0123456789';
    const problems = await problemsOf(() =>
      parse([
        {
          name: 'a',
          url: `https://a.test/mcp?token=${secret}`,
          transport: secret,
          headers: { Authorization: `Bearer ${secret}\n`, 'X-Key': `${secret}-\${MISSING}`, 'X-Num': 1 },
          oauth: { client_secret: ['sk', secret], client_id: { secret } },
          tool_prefix: secret.repeat(4),
        },
        { name: 'b', url: secret },
      ]),
    );
    expect(problems).toEqual([
      'upstream "a": transport must be "http-first", "http", "sse" or "sse-first"',
      'upstream "a": header "X-Num" must be a string',
      'upstream "a": tool_prefix must be a string of at most 32 characters',
      'upstream "a": oauth.client_id must be a non-empty string',
      'upstream "a": oauth.client_secret must be a non-empty string',
      'upstream "a": header "Authorization" value must not contain CR, LF or NUL',
      'upstream "a": header "X-Key" references ${MISSING}, which is not set',
      'upstream "b": url must be an http(s) URL',
    ]);
    for (const line of problems) expect(line).not.toContain('sk-live');
  });
});

describe('envPrefixFor', () => {
  it.each([
    ['atlassian', 'PROXY_ATLASSIAN_'],
    ['github-mcp', 'PROXY_GITHUB_MCP_'],
    ['My_Server2', 'PROXY_MY_SERVER2_'],
  ])('%s -> %s', (name, prefix) => {
    expect(envPrefixFor(name)).toBe(prefix);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const one = '[{"name": "env-one", "url": "https://env.test/mcp"}]';

  it('has no upstreams and no notices when nothing is configured', async () => {
    expect(await loadConfig({ env: {} })).toEqual({
      upstreams: [],
      startupTimeoutMs: 5_000,
      debug: false,
      inspect: false,
      catalogCache: true,
      toolMode: 'all',
      maxToolName: 64,
      oauth: readOAuthSettings({}),
      httpProxy: {},
      notices: [],
      source: 'none',
    });
  });

  it('reads PROXY_TOOL_MODE and --tool-mode, the flag winning, and names the bad one with the values allowed', async () => {
    expect((await loadConfig({ env: { PROXY_TOOL_MODE: 'search' } })).toolMode).toBe('search');
    expect((await loadConfig({ env: { PROXY_TOOL_MODE: ' Search ' } })).toolMode).toBe('search');
    expect((await loadConfig({ env: { PROXY_TOOL_MODE: '' } })).toolMode).toBe('all');
    expect((await loadConfig({ env: {}, flags: { toolMode: 'search' } })).toolMode).toBe('search');
    expect((await loadConfig({ env: { PROXY_TOOL_MODE: 'search' }, flags: { toolMode: 'all' } })).toolMode).toBe('all');
    expect(await problemsOf(() => loadConfig({ env: { PROXY_TOOL_MODE: 'few' } }))).toEqual([
      'PROXY_TOOL_MODE must be "search" or "all" (got "few")',
    ]);
    expect(await problemsOf(() => loadConfig({ env: {}, flags: { toolMode: 'lots' } }))).toEqual([
      '--tool-mode must be "search" or "all" (got "lots")',
    ]);
  });

  it('reads PROXY_TRACE and PROXY_INSPECT, with the command-line flags winning', async () => {
    const env = { PROXY_TRACE: '/tmp/env.jsonl', PROXY_INSPECT: 'yes' };
    expect(await loadConfig({ env })).toMatchObject({ trace: '/tmp/env.jsonl', inspect: true });
    expect(await loadConfig({ env, flags: { trace: '/tmp/flag.jsonl', inspect: false } })).toMatchObject({
      trace: '/tmp/flag.jsonl',
      inspect: false,
    });
    expect((await loadConfig({ env: { PROXY_INSPECT: 'off' } })).inspect).toBe(false);
    await expect(loadConfig({ env: { PROXY_INSPECT: 'sometimes' } })).rejects.toThrow(/PROXY_INSPECT must be 1 or 0/);
    expect((await loadConfig({ env: { ...ENABLED, PROXY_UPSTREAMS: '  ' } })).source).toBe('none');
  });

  it('ignores PROXY_UPSTREAMS, with a notice, until the proxy is enabled', async () => {
    for (const gate of [undefined, '', 'filesystem,memory', 'proxies']) {
      const config = await loadConfig({ env: { ENABLE_ADDITIONAL_TOOLS: gate, PROXY_UPSTREAMS: one } });
      expect(config.upstreams).toEqual([]);
      expect(config.source).toBe('none');
      expect(config.notices).toEqual([
        'PROXY_UPSTREAMS is set but the proxy is not enabled: add "proxy" to ENABLE_ADDITIONAL_TOOLS (e.g. ENABLE_ADDITIONAL_TOOLS=proxy)',
      ]);
    }
    expect(PROXY_DISABLED_NOTICE).toContain('ENABLE_ADDITIONAL_TOOLS=proxy');
  });

  it('does not validate PROXY_UPSTREAMS while the proxy is disabled', async () => {
    const config = await loadConfig({ env: { PROXY_UPSTREAMS: 'not json' } });
    expect(config.notices).toEqual([PROXY_DISABLED_NOTICE]);
  });

  it.each(['proxy', 'all', 'ALL', 'memory, Proxy ', 'PROXY'])(
    'uses PROXY_UPSTREAMS when the gate is %j',
    async (gate) => {
      const config = await loadConfig({ env: { ENABLE_ADDITIONAL_TOOLS: gate, PROXY_UPSTREAMS: one } });
      expect(config.source).toBe('env');
      expect(config.notices).toEqual([]);
      expect(config.upstreams.map((upstream) => upstream.name)).toEqual(['env-one']);
    },
  );

  it('reads debug and the startup timeout from the environment', async () => {
    const config = await loadConfig({ env: { DEBUG: '1', PROXY_STARTUP_TIMEOUT_MS: '5000' } });
    expect(config.debug).toBe(true);
    expect(config.startupTimeoutMs).toBe(5000);
  });

  it('joins a bad startup timeout with the upstream problems', async () => {
    const env = { ...ENABLED, PROXY_STARTUP_TIMEOUT_MS: 'soon', PROXY_UPSTREAMS: '[{"name": "a"}]' };
    expect(await problemsOf(() => loadConfig({ env }))).toEqual([
      'PROXY_STARTUP_TIMEOUT_MS must be a non-negative integer of milliseconds, at most 2147483647',
      'upstream "a": url is required',
    ]);
  });

  it('loads a JSON5 file without the gate', async () => {
    const path = join(dir, 'proxy.json');
    await writeFile(
      path,
      '\uFEFF{\n  // comments are fine\n  upstreams: [{name: "file-one", url: "https://file.test/mcp",},],\n}',
    );
    const config = await loadConfig({ configPath: path, env: {} });
    expect(config.source).toBe('file');
    expect(config.notices).toEqual([]);
    expect(config.upstreams.map((upstream) => [upstream.name, upstream.url.href])).toEqual([
      ['file-one', 'https://file.test/mcp'],
    ]);
  });

  it('prefers the file over PROXY_UPSTREAMS, with a notice', async () => {
    const path = join(dir, 'wins.json');
    await writeFile(path, '{"upstreams": [{"name": "file-one", "url": "https://file.test/mcp"}]}');
    // PROXY_UPSTREAMS is not even parsed: its syntax error must not matter.
    const config = await loadConfig({ configPath: path, env: { ...ENABLED, PROXY_UPSTREAMS: '[oops' } });
    expect(config.source).toBe('file');
    expect(config.upstreams.map((upstream) => upstream.name)).toEqual(['file-one']);
    expect(config.notices).toEqual([`PROXY_UPSTREAMS is ignored because --config ${path} is given`]);
  });

  it('names the path and the reason when the file cannot be read', async () => {
    const missing = join(dir, 'missing.json');
    expect(await problemsOf(() => loadConfig({ configPath: missing, env: {} }))).toEqual([
      `cannot read config file ${missing}: not found`,
    ]);
    const folder = join(dir, 'folder');
    await mkdir(folder);
    expect(await problemsOf(() => loadConfig({ configPath: folder, env: {} }))).toEqual([
      `cannot read config file ${folder}: is a directory`,
    ]);
  });

  it('names the file in syntax and shape errors', async () => {
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"upstreams": [\n  {"name": "a",, }\n]}');
    expect(await problemsOf(() => loadConfig({ configPath: broken, env: {} }))).toEqual([
      `${broken} is not valid JSON: unexpected character at line 2, column 16`,
    ]);
    const bare = join(dir, 'bare.json');
    await writeFile(bare, one);
    expect(await problemsOf(() => loadConfig({ configPath: bare, env: {} }))).toEqual([
      `${bare} must be a JSON object with an "upstreams" array`,
    ]);
  });
});

// mcp-devtools' second form (internal/tools/proxy/config.go): one upstream named "default" from PROXY_URL.
describe('the single-upstream form (PROXY_URL)', () => {
  const url = 'https://mcp.example.com/sse';
  const list = '[{"name": "env-one", "url": "https://env.test/mcp"}]';

  it('reads PROXY_URL, PROXY_TRANSPORT and the comma lists, entries trimmed', async () => {
    const config = await loadConfig({
      env: {
        ...ENABLED,
        PROXY_URL: url,
        PROXY_TRANSPORT: 'sse-only',
        PROXY_INCLUDE_TOOLS: 'get_*, search_* ,',
        PROXY_IGNORE_TOOLS: ' debug_*,,admin_* ',
      },
    });
    expect(config.source).toBe('env');
    expect(config.notices).toEqual([]);
    expect(config.upstreams).toEqual([
      {
        name: 'default',
        url: new URL(url),
        transport: 'sse',
        includeTools: ['get_*', 'search_*'],
        ignoreTools: ['debug_*', 'admin_*'],
        headers: {},
        timeoutMs: 60_000,
        maxCallMs: 1_800_000,
        allowHttp: false,
      },
    ]);
  });

  it('names the upstream "default", so its tokens and PROXY_DEFAULT_* variables are those of mcp-devtools', async () => {
    expect(SINGLE_UPSTREAM_NAME).toBe('default');
    expect(envPrefixFor(SINGLE_UPSTREAM_NAME)).toBe('PROXY_DEFAULT_');
    const [upstream] = (await loadConfig({ env: { ...ENABLED, PROXY_URL: url } })).upstreams;
    expect(upstream).toEqual({
      name: 'default',
      url: new URL(url),
      transport: 'http-first',
      headers: {},
      timeoutMs: 60_000,
      maxCallMs: 1_800_000,
      allowHttp: false,
    });
  });

  it.each([
    ['http-first', 'http-first'],
    ['sse-first', 'sse-first'],
    ['http-only', 'http'],
    ['sse-only', 'sse'],
    ['http', 'http'],
    [' SSE ', 'sse'],
  ])('takes the transport spelling %j as %s', async (spelling, transport) => {
    const config = await loadConfig({ env: { ...ENABLED, PROXY_URL: url, PROXY_TRANSPORT: spelling } });
    expect(config.upstreams[0]?.transport).toBe(transport);
  });

  it('drops an ignore list of only commas, and treats blank variables as unset', async () => {
    const config = await loadConfig({
      env: { ...ENABLED, PROXY_UPSTREAMS: '', PROXY_URL: ` ${url} `, PROXY_TRANSPORT: ' ', PROXY_IGNORE_TOOLS: ' , ' },
    });
    expect(config.notices).toEqual([]);
    expect(config.upstreams[0]).toMatchObject({ name: 'default', transport: 'http-first' });
    expect(config.upstreams[0]).not.toHaveProperty('ignoreTools');
  });

  it('does nothing, with a notice and no validation, until the proxy is enabled', async () => {
    for (const gate of [undefined, '', 'filesystem']) {
      const config = await loadConfig({ env: { ENABLE_ADDITIONAL_TOOLS: gate, PROXY_URL: 'not a url' } });
      expect(config.upstreams).toEqual([]);
      expect(config.source).toBe('none');
      expect(config.notices).toEqual([
        'PROXY_URL is set but the proxy is not enabled: add "proxy" to ENABLE_ADDITIONAL_TOOLS (e.g. ENABLE_ADDITIONAL_TOOLS=proxy)',
      ]);
    }
    const both = await loadConfig({ env: { PROXY_UPSTREAMS: list, PROXY_URL: url } });
    expect(both.notices).toEqual([proxyDisabledNotice(['PROXY_UPSTREAMS', 'PROXY_URL'])]);
    expect(both.notices[0]).toMatch(/^PROXY_UPSTREAMS and PROXY_URL are set but the proxy is not enabled/);
  });

  it('gives way to PROXY_UPSTREAMS, as in mcp-devtools, with a notice and without validating it', async () => {
    const config = await loadConfig({
      env: { ...ENABLED, PROXY_UPSTREAMS: list, PROXY_URL: 'ftp://nope', PROXY_TRANSPORT: 'carrier-pigeon' },
    });
    expect(config.source).toBe('env');
    expect(config.upstreams.map((upstream) => upstream.name)).toEqual(['env-one']);
    expect(config.notices).toEqual(['PROXY_URL and PROXY_TRANSPORT are ignored because PROXY_UPSTREAMS is set']);
  });

  it('gives way to --config, with a notice naming every ignored variable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'proxy-single-'));
    try {
      const path = join(dir, 'proxy.json');
      await writeFile(path, '{"upstreams": [{"name": "file-one", "url": "https://file.test/mcp"}]}');
      const env = { ...ENABLED, PROXY_UPSTREAMS: list, PROXY_URL: url, PROXY_IGNORE_TOOLS: 'x*' };
      const config = await loadConfig({ configPath: path, env });
      expect(config.upstreams.map((upstream) => upstream.name)).toEqual(['file-one']);
      expect(config.notices).toEqual([
        `PROXY_UPSTREAMS, PROXY_URL and PROXY_IGNORE_TOOLS are ignored because --config ${path} is given`,
      ]);
      const urlOnly = await loadConfig({ configPath: path, env: { PROXY_URL: url } });
      expect(urlOnly.notices).toEqual([`PROXY_URL is ignored because --config ${path} is given`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warns that its options do nothing without PROXY_URL', async () => {
    const config = await loadConfig({ env: { ...ENABLED, PROXY_INCLUDE_TOOLS: 'get_*', PROXY_TRANSPORT: 'sse' } });
    expect(config.upstreams).toEqual([]);
    expect(config.notices).toEqual([
      'PROXY_TRANSPORT and PROXY_INCLUDE_TOOLS are ignored because PROXY_URL is not set',
    ]);
  });

  it('names the variable in every problem, one line each, never the value', async () => {
    const env = {
      ...ENABLED,
      PROXY_STARTUP_TIMEOUT_MS: 'soon',
      PROXY_URL: 'htps://mcp.example.com/mcp?token=s3cret-value',
      PROXY_TRANSPORT: 'websocket-s3cret',
      PROXY_INCLUDE_TOOLS: ' , ',
    };
    const problems = await problemsOf(() => loadConfig({ env }));
    expect(problems).toEqual([
      'PROXY_STARTUP_TIMEOUT_MS must be a non-negative integer of milliseconds, at most 2147483647',
      'PROXY_INCLUDE_TOOLS lists no pattern (unset it to expose every tool)',
      'PROXY_URL must be an http(s) URL',
      'PROXY_TRANSPORT must be "http-first", "http", "sse" or "sse-first"',
    ]);
    expect(problems.join('\n')).not.toMatch(/s3cret/);
  });

  it.each(['not a url', 'ftp://mcp.example.com/', '/relative/mcp'])('rejects PROXY_URL %j', async (bad) => {
    expect(await problemsOf(() => loadConfig({ env: { ...ENABLED, PROXY_URL: bad } }))).toEqual([
      'PROXY_URL must be an http(s) URL',
    ]);
  });
});

describe('OAuth settings', () => {
  const settingsOf = (env: NodeJS.ProcessEnv) => {
    const problems: string[] = [];
    return { settings: readOAuthSettings(env, problems), problems };
  };

  it('validates PROXY_OAUTH_CALLBACK_PORT', () => {
    expect(settingsOf({}).settings.callbackPort).toBeUndefined();
    expect(settingsOf({ PROXY_OAUTH_CALLBACK_PORT: ' ' }).settings.callbackPort).toBeUndefined();
    expect(settingsOf({ PROXY_OAUTH_CALLBACK_PORT: '8080' }).settings.callbackPort).toBe(8080);
    expect(settingsOf({ PROXY_OAUTH_CALLBACK_PORT: ' 1 ' }).settings.callbackPort).toBe(1);
    expect(settingsOf({ PROXY_OAUTH_CALLBACK_PORT: '65535' }).settings.callbackPort).toBe(65535);
    for (const bad of ['0', '65536', '-1', '80.5', '1e3', 'abc', '0x50', 'http']) {
      expect(settingsOf({ PROXY_OAUTH_CALLBACK_PORT: bad }).problems).toEqual([
        `PROXY_OAUTH_CALLBACK_PORT must be a port number from 1 to 65535, got "${bad}"`,
      ]);
    }
  });

  it('reads PROXY_OAUTH_TIMEOUT_MS, 300000 by default', () => {
    expect(settingsOf({}).settings.timeoutMs).toBe(300_000);
    expect(settingsOf({ PROXY_OAUTH_TIMEOUT_MS: '' }).settings.timeoutMs).toBe(300_000);
    expect(settingsOf({ PROXY_OAUTH_TIMEOUT_MS: '60000' }).settings.timeoutMs).toBe(60_000);
    for (const bad of ['0', '-5', 'soon', '1.5', '99999999999']) {
      const [problem] = settingsOf({ PROXY_OAUTH_TIMEOUT_MS: bad }).problems;
      expect(problem).toMatch(/^PROXY_OAUTH_TIMEOUT_MS must be/);
    }
  });

  it('reports a bad PROXY_OAUTH_CALLBACK_PORT and PROXY_OAUTH_TIMEOUT_MS as configuration problems', async () => {
    const error = await loadConfig({
      env: { PROXY_OAUTH_CALLBACK_PORT: '70000', PROXY_OAUTH_TIMEOUT_MS: 'soon' },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^PROXY_OAUTH_CALLBACK_PORT must be a port number from 1 to 65535/);
    expect(problems[1]).toMatch(/^PROXY_OAUTH_TIMEOUT_MS/);
  });
  it('reads PROXY_OAUTH_CALLBACK_HOST: localhost or 127.0.0.1, nothing that is not loopback', async () => {
    expect(await problemsOf(() => loadConfig({ env: { PROXY_OAUTH_CALLBACK_HOST: 'example.com' } }))).toEqual([
      'PROXY_OAUTH_CALLBACK_HOST must be localhost or 127.0.0.1 (the callback listens on 127.0.0.1 only)',
    ]);
    await expect(loadConfig({ env: { PROXY_OAUTH_CALLBACK_HOST: '127.0.0.1' } })).resolves.toBeDefined();
  });

  it('maps the sign-in options: flow, resource (a URI, or false), authorize_params, redirect_uri', () => {
    const [entra, v1] = parse([
      {
        name: 'entra',
        url: 'https://a.test/mcp',
        oauth: {
          flow: 'device',
          resource: 'api://0f3c-app',
          authorize_params: { domain_hint: 'contoso.com' },
          redirect_uri: 'http://localhost:3334/oauth/return',
        },
      },
      { name: 'v1', url: 'https://b.test/mcp', oauth: { flow: 'browser', resource: false } },
    ]);
    expect(entra?.oauth).toEqual({
      flow: 'device',
      resource: 'api://0f3c-app',
      authorizeParams: { domain_hint: 'contoso.com' },
      redirectUri: new URL('http://localhost:3334/oauth/return'),
    });
    expect(v1?.oauth).toEqual({ flow: 'browser', resource: false });
  });

  it.each([
    [{ flow: 'headless' }, 'oauth.flow must be "browser" or "device"'],
    [
      { resource: 'not a uri' },
      'oauth.resource must be an absolute URI (https://… or api://…), or false to send no resource',
    ],
    [{ resource: true }, 'oauth.resource must be an absolute URI (https://… or api://…), or false to send no resource'],
    [
      { authorize_params: { state: 'mine' } },
      'oauth.authorize_params must be an object of string values, without response_type, client_id, redirect_uri, code_challenge, code_challenge_method, state, scope, resource (the proxy sets those)',
    ],
    [
      { authorize_params: { audience: 1 } },
      'oauth.authorize_params must be an object of string values, without response_type, client_id, redirect_uri, code_challenge, code_challenge_method, state, scope, resource (the proxy sets those)',
    ],
    [
      { redirect_uri: 'http://app.example.com:3334/callback' },
      'oauth.redirect_uri must be an http URL on localhost or 127.0.0.1 with a port (the callback listens on 127.0.0.1 only)',
    ],
    [
      { redirect_uri: 'http://localhost/callback' },
      'oauth.redirect_uri must be an http URL on localhost or 127.0.0.1 with a port (the callback listens on 127.0.0.1 only)',
    ],
  ])('refuses oauth %j', async (oauth, problem) => {
    expect(await problemsOf(() => parse([{ name: 'x', url: 'https://x.test/mcp', oauth }]))).toEqual([
      `upstream "x": ${problem}`,
    ]);
  });
});

describe('machine-to-machine settings (oauth.grant, private keys)', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'proxy-config-keys-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const m2m = (oauth: Record<string, unknown>) => [{ name: 'svc', url: 'https://svc.test/mcp', oauth }];

  it('reads grant, an inline key and its algorithm', () => {
    const [upstream] = parse(
      m2m({ grant: 'client_credentials', client_id: 'svc-client', private_key: PEM, private_key_alg: 'ES256' }),
    );
    expect(upstream?.oauth).toMatchObject({
      grant: 'client_credentials',
      clientId: 'svc-client',
      privateKey: PEM,
      privateKeyAlg: 'ES256',
    });
  });

  it('reads private_key_file into the key', async () => {
    const file = join(dir, 'key.pem');
    await writeFile(file, PEM);
    const [upstream] = parse(m2m({ grant: 'client_credentials', client_id: 'svc-client', private_key_file: file }));
    expect(upstream?.oauth?.privateKey).toBe(PEM);
    expect(upstream?.oauth).not.toHaveProperty('privateKeyFile');
  });

  it('reads the key from PROXY_<NAME>_PRIVATE_KEY and the client from PROXY_<NAME>_CLIENT_ID', () => {
    const [upstream] = parse(m2m({ grant: 'client_credentials' }), {
      PROXY_SVC_CLIENT_ID: 'svc-client',
      PROXY_SVC_PRIVATE_KEY: PEM,
    });
    // Env values are trimmed; the key stays a key.
    expect(upstream?.oauth?.privateKey).toBe(PEM.trim());
  });

  it('accepts a client secret from PROXY_<NAME>_CLIENT_SECRET', () => {
    const [upstream] = parse(m2m({ grant: 'client_credentials', client_id: 'svc-client' }), {
      PROXY_SVC_CLIENT_SECRET: 'svc-secret',
    });
    expect(upstream?.oauth?.grant).toBe('client_credentials');
  });

  it('needs a client_id, and a secret or a key, for client_credentials', async () => {
    expect(await problemsOf(() => parse(m2m({ grant: 'client_credentials', client_secret: 's' })))).toEqual([
      'upstream "svc": oauth.grant "client_credentials" needs oauth.client_id (or PROXY_SVC_CLIENT_ID)',
    ]);
    const [problem] = await problemsOf(() => parse(m2m({ grant: 'client_credentials', client_id: 'svc-client' })));
    expect(problem).toMatch(/needs oauth\.client_secret \(or PROXY_SVC_CLIENT_SECRET\), or a private key/);
  });

  it('names the field of a bad grant, key, key file or algorithm, never the key', async () => {
    const problems = await problemsOf(() =>
      parse([
        { name: 'a', url: 'https://a.test/mcp', oauth: { grant: 'password' } },
        { name: 'b', url: 'https://b.test/mcp', oauth: { private_key: 'not a pem' } },
        { name: 'c', url: 'https://c.test/mcp', oauth: { private_key: PEM, private_key_file: '/k.pem' } },
        { name: 'd', url: 'https://d.test/mcp', oauth: { private_key_alg: 'HS256' } },
        { name: 'e', url: 'https://e.test/mcp', oauth: { private_key_file: join(dir, 'missing.pem') } },
      ]),
    );
    expect(problems).toEqual([
      'upstream "a": oauth.grant must be "authorization_code" or "client_credentials"',
      'upstream "b": oauth.private_key must be a PEM private key ("-----BEGIN PRIVATE KEY-----" …)',
      'upstream "c": oauth.private_key_file must be the path of a PEM private key file, given instead of private_key, not beside it',
      'upstream "d": oauth.private_key_alg must be a JWS algorithm: ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512 or EdDSA',
      expect.stringMatching(/^upstream "e": oauth\.private_key_file: cannot read .*missing\.pem: /),
    ]);
    for (const line of problems) expect(line).not.toContain('BEGIN PRIVATE KEY-----\n');
  });

  it('refuses, at start, a key that cannot sign: unreadable, or not of the algorithm given', async () => {
    const garbage = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n';
    const file = join(dir, 'garbage.pem');
    await writeFile(file, garbage);
    const problems = await problemsOf(() =>
      parse(
        [
          { name: 'a', url: 'https://a.test/mcp', oauth: { private_key: garbage } },
          { name: 'b', url: 'https://b.test/mcp', oauth: { private_key_file: file } },
          { name: 'c', url: 'https://c.test/mcp', oauth: { private_key: PEM, private_key_alg: 'RS256' } },
          { name: 'd', url: 'https://d.test/mcp', oauth: { grant: 'client_credentials', client_id: 'd' } },
        ],
        { PROXY_D_PRIVATE_KEY: 'not a key' },
      ),
    );
    expect(problems).toEqual([
      'upstream "a": oauth.private_key is not a readable PEM private key (an unencrypted PKCS#8, SEC1 or PKCS#1 key)',
      'upstream "b": oauth.private_key_file is not a readable PEM private key (an unencrypted PKCS#8, SEC1 or PKCS#1 key)',
      'upstream "c": oauth.private_key holds an EC key, which cannot sign RS256 (oauth.private_key_alg)',
      'upstream "d": PROXY_D_PRIVATE_KEY is not a readable PEM private key (an unencrypted PKCS#8, SEC1 or PKCS#1 key)',
    ]);
  });
});

describe('tool overrides, read_only and PROXY_MAX_TOOL_NAME', () => {
  const url = 'https://a.test/mcp';

  it('maps tools and read_only, and leaves them absent when not set', () => {
    const [configured, plain] = parse([
      {
        name: 'a',
        url,
        read_only: true,
        tools: {
          'get issue': { name: 'jira_get', description: 'Reads one issue.' },
          delete_issue: { hidden: true },
        },
      },
      { name: 'b', url, read_only: false },
    ]);
    expect(configured?.readOnly).toBe(true);
    expect(configured?.tools).toEqual({
      'get issue': { name: 'jira_get', description: 'Reads one issue.' },
      delete_issue: { hidden: true },
    });
    expect(plain).not.toHaveProperty('readOnly');
    expect(plain).not.toHaveProperty('tools');
  });

  it('names the upstream, the tool and the field of a bad override', async () => {
    const problems = await problemsOf(() =>
      parse([
        {
          name: 'a',
          url,
          read_only: 'yes',
          tools: {
            search: { nme: 'find' },
            empty: { name: '' },
            dotted: { name: 'jira.get' },
            spaced: { name: 'get issue', description: 3, hidden: 'no' },
            nothing: {},
            odd: 'hidden',
          },
        },
        { name: 'b', url, tools: ['search'] },
      ]),
    );
    expect(problems).toEqual([
      'upstream "a": tools["search"]: unknown field "nme" (did you mean "name"?)',
      'upstream "a": tools["empty"].name must be 1 to 128 letters, digits, "-" or "_" (what every client accepts)',
      'upstream "a": tools["dotted"].name must be 1 to 128 letters, digits, "-" or "_" (what every client accepts)',
      'upstream "a": tools["spaced"].name must be 1 to 128 letters, digits, "-" or "_" (what every client accepts)',
      'upstream "a": tools["spaced"].description must be a string',
      'upstream "a": tools["spaced"].hidden must be true or false',
      'upstream "a": tools["nothing"] must be an object with "name", "description" or "hidden"',
      'upstream "a": tools["odd"] must be an object with "name", "description" or "hidden"',
      'upstream "a": read_only must be true or false',
      'upstream "b": tools must be an object of upstream tool names to overrides ({"name", "description", "hidden"})',
    ]);
  });

  it('refuses an override for a tool with an empty name', async () => {
    const problems = await problemsOf(() => parse([{ name: 'a', url, tools: { '': { hidden: true } } }]));
    expect(problems).toEqual(['upstream "a": tools must not have an empty tool name']);
  });

  it('refuses two tools renamed alike, and lists every unknown field of an override', async () => {
    const problems = await problemsOf(() =>
      parse([
        {
          name: 'a',
          url,
          tools: { one: { name: 'same' }, two: { name: 'same' }, three: { hiden: true, descripton: 'x' } },
        },
      ]),
    );
    expect(problems).toEqual([
      'upstream "a": tools["three"]: unknown field "hiden" (did you mean "hidden"?)',
      'upstream "a": tools["three"]: unknown field "descripton" (did you mean "description"?)',
      'upstream "a": tools["two"].name is also the name of tools["one"]',
    ]);
  });

  it('suggests the field for a misspelt tools or read_only', async () => {
    const problems = await problemsOf(() => parse([{ name: 'a', url, tool: {}, readOnly: true }]));
    expect(problems).toEqual([
      'upstream "a": unknown field "tool" (did you mean "tools"?)',
      'upstream "a": unknown field "readOnly" (did you mean "read_only"?)',
    ]);
  });

  it('reads PROXY_MAX_TOOL_NAME, 64 by default', async () => {
    expect((await loadConfig({ env: {} })).maxToolName).toBe(64);
    expect((await loadConfig({ env: { PROXY_MAX_TOOL_NAME: ' 60 ' } })).maxToolName).toBe(60);
    expect((await loadConfig({ env: { PROXY_MAX_TOOL_NAME: '16' } })).maxToolName).toBe(16);
    expect((await loadConfig({ env: { PROXY_MAX_TOOL_NAME: '128' } })).maxToolName).toBe(128);
  });

  it.each(['15', '129', '0', '-1', '60.5', 'sixty'])(
    'refuses PROXY_MAX_TOOL_NAME=%s, naming the variable',
    async (value) => {
      const problems = await problemsOf(() => loadConfig({ env: { PROXY_MAX_TOOL_NAME: value } }));
      expect(problems).toEqual([`PROXY_MAX_TOOL_NAME must be an integer from 16 to 128, got "${value}"`]);
    },
  );

  it('refuses an override name the limit would shorten', async () => {
    const upstreams = JSON.stringify([
      { name: 'a', url, tools: { long: { name: 'n'.repeat(61) }, fits: { name: 'f'.repeat(60) } } },
    ]);
    const env = { ...ENABLED, PROXY_UPSTREAMS: upstreams, PROXY_MAX_TOOL_NAME: '60' };
    expect(await problemsOf(() => loadConfig({ env }))).toEqual([
      'upstream "a": tools["long"].name is longer than PROXY_MAX_TOOL_NAME (60)',
    ]);
    const config = await loadConfig({ env: { ...env, PROXY_MAX_TOOL_NAME: '64' } });
    expect(config.upstreams[0]?.tools?.long).toEqual({ name: 'n'.repeat(61) });
  });

  it('reads tools and read_only from a --config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'proxy-overrides-'));
    try {
      const path = join(dir, 'proxy.json5');
      await writeFile(
        path,
        `{upstreams: [{name: "a", url: "${url}", read_only: true, tools: {search: {name: "find", description: "Finds."}}}]}`,
      );
      const [upstream] = (await loadConfig({ configPath: path, env: {} })).upstreams;
      expect(upstream).toMatchObject({ readOnly: true, tools: { search: { name: 'find', description: 'Finds.' } } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
