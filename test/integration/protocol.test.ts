/**
 * Beyond tools, through the proxy to real upstreams on 127.0.0.1 (one over Streamable HTTP, one over legacy SSE):
 * resources, templates, prompts and completion aggregated and routed to their owner; logging relayed under the
 * upstream's name; subscriptions and the log level carried over to a new session; and server-to-client requests
 * (sampling, elicitation, roots) answered by the client, which is all the upstream sees of capabilities too.
 */
import type {
  Client,
  ClientCapabilities,
  ClientOptions,
  LoggingMessageNotification,
} from '@modelcontextprotocol/client';
import { ProtocolError, type Server } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { startUpstream, type UpstreamFixture, type UpstreamKind } from '../fixtures/upstreams.js';
import { eventually, startTestProxy, type TestProxy } from '../helpers/proxy.js';

interface CatalogUpstream {
  fixture: UpstreamFixture;
  /** Every session's server, newest last. */
  sessions: Server[];
  /** Requests the upstream received, as `method uri-or-name`. */
  seen: string[];
  live(): Server;
  /** The names of the prompts it lists (`summarize` at first): push one and say so to change the list. */
  prompts: string[];
}

/** A fixture upstream that also serves resources, a template, a prompt with completion, and logging. */
async function catalogUpstream(name: string, kind: UpstreamKind, resources: string[]): Promise<CatalogUpstream> {
  const sessions: Server[] = [];
  const prompts = ['summarize'];
  const seen: string[] = [];
  const fixture = await startUpstream({
    kind,
    name,
    tools: ['echo'],
    extend: (server) => {
      sessions.push(server);
      server.registerCapabilities({
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        completions: {},
        logging: {},
      });
      server.setRequestHandler('resources/list', () => ({
        resources: resources.map((uri) => ({ uri, name: uri.split('/').pop()!, mimeType: 'text/plain' })),
      }));
      server.setRequestHandler('resources/templates/list', () => ({
        resourceTemplates: [{ uriTemplate: `mem://${name}/items/{id}`, name: 'item' }],
      }));
      server.setRequestHandler('resources/read', ({ params }) => {
        seen.push(`resources/read ${params.uri}`);
        return { contents: [{ uri: params.uri, mimeType: 'text/plain', text: `${name} has ${params.uri}` }] };
      });
      server.setRequestHandler('resources/subscribe', ({ params }) => {
        seen.push(`resources/subscribe ${params.uri}`);
        return {};
      });
      server.setRequestHandler('resources/unsubscribe', ({ params }) => {
        seen.push(`resources/unsubscribe ${params.uri}`);
        return {};
      });
      server.setRequestHandler('prompts/list', () => ({
        prompts: prompts.map((prompt) => ({
          name: prompt,
          description: `${name} ${prompt}s`,
          arguments: [{ name: 'topic' }],
        })),
      }));
      server.setRequestHandler('prompts/get', ({ params }) => {
        seen.push(`prompts/get ${params.name}`);
        return {
          messages: [
            { role: 'user', content: { type: 'text', text: `${name}: summarize ${params.arguments?.topic}` } },
          ],
        };
      });
      server.setRequestHandler('completion/complete', ({ params }) => {
        seen.push(`completion/complete ${'name' in params.ref ? params.ref.name : params.ref.uri}`);
        return { completion: { values: [`${params.argument.value}-from-${name}`] } };
      });
      // Records the level and filters nothing itself: the proxy must hold back what is below the client's level.
      server.setRequestHandler('logging/setLevel', ({ params }) => {
        seen.push(`logging/setLevel ${params.level}`);
        return {};
      });
    },
  });
  return { fixture, sessions, seen, live: () => sessions.at(-1)!, prompts };
}

let proxy: TestProxy | undefined;
const upstreams: CatalogUpstream[] = [];

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.fixture.close()));
});

async function start(
  kinds: Array<[string, UpstreamKind, string[]]>,
  client?: {
    capabilities?: ClientCapabilities;
    setup?: (client: Client) => void;
    versionNegotiation?: ClientOptions['versionNegotiation'];
  },
): Promise<TestProxy> {
  for (const [name, kind, resources] of kinds) upstreams.push(await catalogUpstream(name, kind, resources));
  proxy = await startTestProxy(
    upstreams.map(({ fixture }) => ({ name: fixture.name, url: fixture.url })),
    client ? { client } : {},
  );
  return proxy;
}

describe('resources, prompts and completion', () => {
  it('lists everything in config order, the first upstream keeping a shared URI, and routes each request to its owner', async () => {
    const { client, logs } = await start([
      ['alpha', 'streamable-http', ['mem://shared/readme', 'mem://alpha/notes']],
      ['beta', 'sse', ['mem://shared/readme', 'mem://beta/doc']],
    ]);
    const [alpha, beta] = upstreams as [CatalogUpstream, CatalogUpstream];

    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toEqual([
      'proxy://status',
      'mem://shared/readme',
      'mem://alpha/notes',
      'mem://beta/doc',
    ]);
    expect(logs.join('\n')).toContain(
      'resource mem://shared/readme of upstream "beta" is also listed by upstream "alpha"; the first is kept',
    );
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      'mem://alpha/items/{id}',
      'mem://beta/items/{id}',
    ]);

    const read = async (uri: string) => {
      const { contents } = await client.readResource({ uri });
      return (contents[0] as { text: string }).text;
    };
    expect(await read('mem://shared/readme')).toBe('alpha has mem://shared/readme');
    expect(await read('mem://beta/doc')).toBe('beta has mem://beta/doc');
    expect(await read('mem://beta/items/7')).toBe('beta has mem://beta/items/7');
    await expect(client.readResource({ uri: 'mem://nobody/1' })).rejects.toThrow(/mem:\/\/nobody\/1/);

    // Prompts follow the tools' naming rules: the second `summarize` is renamed after its upstream.
    const { prompts } = await client.listPrompts();
    expect(prompts.map((prompt) => [prompt.name, prompt.description])).toEqual([
      ['summarize', 'alpha summarizes'],
      ['beta_summarize', 'beta summarizes'],
    ]);
    const got = await client.getPrompt({ name: 'beta_summarize', arguments: { topic: 'logs' } });
    expect(got.messages[0]!.content).toEqual({ type: 'text', text: 'beta: summarize logs' });
    await expect(client.getPrompt({ name: 'gamma_summarize' })).rejects.toThrow(/Unknown prompt/);

    const completed = await client.complete({
      ref: { type: 'ref/prompt', name: 'beta_summarize' },
      argument: { name: 'topic', value: 'lo' },
    });
    expect(completed.completion.values).toEqual(['lo-from-beta']);
    const byTemplate = await client.complete({
      ref: { type: 'ref/resource', uri: 'mem://alpha/items/{id}' },
      argument: { name: 'id', value: '4' },
    });
    expect(byTemplate.completion.values).toEqual(['4-from-alpha']);

    expect(alpha.seen).toEqual(['resources/read mem://shared/readme', 'completion/complete mem://alpha/items/{id}']);
    expect(beta.seen).toEqual([
      'resources/read mem://beta/doc',
      'resources/read mem://beta/items/7',
      'prompts/get summarize',
      'completion/complete summarize',
    ]);
  });

  it.each([
    ['2025-era', undefined],
    ['2026-07-28', { mode: { pin: '2026-07-28' as const } }],
  ])('tells a %s client of a prompt an upstream adds', async (_era, versionNegotiation) => {
    const { client } = await start([['alpha', 'streamable-http', []]], versionNegotiation && { versionNegotiation });
    const changed: string[] = [];
    client.setNotificationHandler('notifications/prompts/list_changed', () => void changed.push('prompts'));
    // A 2026-07-28 client hears of list changes on a listen stream asking for them.
    const listening = versionNegotiation ? await client.listen({ promptsListChanged: true }) : undefined;
    expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['summarize']);
    await eventually(() => upstreams[0]!.fixture.openStreams > 0);
    upstreams[0]!.prompts.push('translate');
    await upstreams[0]!.live().sendPromptListChanged();
    await eventually(() => changed.length > 0);
    expect((await client.listPrompts()).prompts.map((prompt) => prompt.name)).toEqual(['summarize', 'translate']);
    await listening?.close();
  });

  it('tells the client which lists really changed when an upstream says they did', async () => {
    const resources = ['mem://alpha/notes'];
    const { client } = await start([['alpha', 'streamable-http', resources]]);
    await client.listResources();
    const changed: string[] = [];
    client.setNotificationHandler('notifications/resources/list_changed', () => void changed.push('resources'));
    client.setNotificationHandler('notifications/prompts/list_changed', () => void changed.push('prompts'));
    await eventually(() => upstreams[0]!.fixture.openStreams > 0);
    // The prompts did not really change: the client hears only of the resources.
    await upstreams[0]!.live().sendPromptListChanged();
    resources.push('mem://alpha/new');
    await upstreams[0]!.live().sendResourceListChanged();
    await eventually(() => changed.length > 0);
    expect(changed).toEqual(['resources']);
    const listed = await client.listResources();
    expect(listed.resources.map((resource) => resource.uri)).toEqual([
      'proxy://status',
      'mem://alpha/notes',
      'mem://alpha/new',
    ]);
  });
});

describe('logging', () => {
  it('sets the level on every upstream and relays their messages under the upstream name, at or above the level', async () => {
    const { client } = await start([
      ['alpha', 'streamable-http', []],
      ['beta', 'sse', []],
    ]);
    const messages: LoggingMessageNotification['params'][] = [];
    client.setNotificationHandler('notifications/message', ({ params }) => void messages.push(params));
    await client.setLoggingLevel('warning');
    await eventually(() => upstreams.every((upstream) => upstream.seen.includes('logging/setLevel warning')));
    await eventually(() => upstreams[0]!.fixture.openStreams > 0);

    const alpha = upstreams[0]!.live();
    await alpha.sendLoggingMessage({ level: 'info', logger: 'db', data: 'too chatty' });
    await alpha.sendLoggingMessage({ level: 'error', logger: 'db', data: { error: 'disk full' } });
    await upstreams[1]!.live().sendLoggingMessage({ level: 'warning', data: 'beta warns' });
    await eventually(() => messages.length >= 2);
    expect(messages).toEqual(
      expect.arrayContaining([
        { level: 'error', logger: 'alpha', data: { error: 'disk full' } },
        { level: 'warning', logger: 'beta', data: 'beta warns' },
      ]),
    );
    expect(messages.some((message) => message.data === 'too chatty')).toBe(false);
  });
});

describe('subscriptions', () => {
  it('passes resource updates on, and subscribes again (with the log level) when the upstream comes back', async () => {
    const { client } = await start([['alpha', 'streamable-http', ['mem://alpha/notes']]]);
    const [alpha] = upstreams as [CatalogUpstream];
    const updated: string[] = [];
    client.setNotificationHandler('notifications/resources/updated', ({ params }) => void updated.push(params.uri));
    await client.setLoggingLevel('error');
    await client.subscribeResource({ uri: 'mem://alpha/notes' });
    await client.subscribeResource({ uri: 'mem://alpha/items/3' });
    await client.unsubscribeResource({ uri: 'mem://alpha/items/3' });
    await eventually(() => alpha.fixture.openStreams > 0);
    await alpha.live().sendResourceUpdated({ uri: 'mem://alpha/notes' });
    await eventually(() => updated.length === 1);
    expect(updated).toEqual(['mem://alpha/notes']);

    await alpha.fixture.restart();
    alpha.seen.length = 0;
    await proxy!.waitForState('alpha', 'reconnecting');
    await proxy!.waitForState('alpha', 'connected.ready.idle', 15_000);
    await eventually(() => alpha.seen.length === 2);
    expect(alpha.seen.sort()).toEqual(['logging/setLevel error', 'resources/subscribe mem://alpha/notes']);
  });
});

describe('server-to-client requests', () => {
  const capabilities: ClientCapabilities = {
    sampling: {},
    elicitation: { form: {}, url: {} },
    roots: { listChanged: true },
  };

  it("declares exactly the client's capabilities upstream and passes sampling, elicitation and roots through", async () => {
    const asked: string[] = [];
    await start([['alpha', 'streamable-http', []]], {
      capabilities,
      setup: (client) => {
        client.setRequestHandler('sampling/createMessage', ({ params }) => {
          asked.push(`sampling: ${(params.messages[0]!.content as { text: string }).text}`);
          return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled answer' } };
        });
        client.setRequestHandler('elicitation/create', ({ params }) => {
          asked.push(`elicitation: ${params.message}`);
          return params.mode === 'url' ? { action: 'decline' } : { action: 'accept', content: { name: 'Ada' } };
        });
        client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
      },
    });
    await proxy!.waitForState('alpha', 'connected.ready.idle');
    await eventually(() => upstreams[0]!.fixture.openStreams > 0);
    const upstream = upstreams[0]!.live();
    expect(upstream.getClientCapabilities()).toEqual(capabilities);

    const sampled = await upstream.createMessage({
      messages: [{ role: 'user', content: { type: 'text', text: 'hello?' } }],
      maxTokens: 10,
    });
    expect(sampled).toMatchObject({ model: 'test-model', content: { type: 'text', text: 'sampled answer' } });
    const form = await upstream.elicitInput({
      mode: 'form',
      message: 'Your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
    });
    expect(form).toEqual({ action: 'accept', content: { name: 'Ada' } });
    const url = await upstream.elicitInput({
      mode: 'url',
      message: 'Sign the form',
      url: 'https://example.com/form',
      elicitationId: 'e-1',
    });
    expect(url).toEqual({ action: 'decline' });
    expect(await upstream.listRoots()).toEqual({ roots: [{ uri: 'file:///work', name: 'work' }] });
    expect(asked).toEqual(['sampling: hello?', 'elicitation: Your name?', 'elicitation: Sign the form']);
  });

  it("returns the client's error to the upstream, and tells upstreams when the client's roots change", async () => {
    const rootsChanged: number[] = [];
    const { client } = await start([['alpha', 'streamable-http', []]], {
      capabilities,
      setup: (client) => {
        client.setRequestHandler('sampling/createMessage', () => {
          throw new ProtocolError(-32042, 'the user said no');
        });
      },
    });
    await proxy!.waitForState('alpha', 'connected.ready.idle');
    const upstream = upstreams[0]!.live();
    upstream.setNotificationHandler('notifications/roots/list_changed', () => void rootsChanged.push(1));
    await expect(
      upstream.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'x' } }], maxTokens: 1 }),
    ).rejects.toMatchObject({ code: -32042, message: expect.stringContaining('the user said no') });

    await client.sendRootsListChanged();
    await eventually(() => rootsChanged.length === 1);
  });

  it('declares nothing upstream that the client did not declare', async () => {
    await start([['alpha', 'sse', []]], { capabilities: {} });
    await proxy!.waitForState('alpha', 'connected.ready.idle');
    const upstream = upstreams[0]!.live();
    expect(upstream.getClientCapabilities()).toEqual({});
    await expect(
      upstream.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'x' } }], maxTokens: 1 }),
    ).rejects.toThrow(/Method not found/);
  });
});
