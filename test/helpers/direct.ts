/** A plain SDK client straight to an upstream, to compare what the proxy shows with what the upstream says. */
import {
  Client,
  type ClientCapabilities,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type Tool,
} from '@modelcontextprotocol/client';

/** What a test gives its client before it connects: the capabilities it declares and its handlers. */
export interface TestClientOptions {
  capabilities?: ClientCapabilities;
  /** Called before `connect`, to register request handlers (sampling, elicitation, roots) and notification handlers. */
  setup?: (client: Client) => void;
}

export async function connectDirect(
  url: URL,
  transport: 'http' | 'sse',
  options: TestClientOptions = {},
): Promise<Client> {
  const client = new Client(
    { name: 'direct-test-client', version: '1.0.0' },
    options.capabilities && { capabilities: options.capabilities },
  );
  options.setup?.(client);
  if (transport === 'sse') {
    await client.connect(new SSEClientTransport(url));
    return client;
  }
  // As the proxy does: the session counts as open once its standalone GET stream is answered. A server that asks
  // the client something right after initialize (server-everything asks for roots) loses the request otherwise.
  let streamAnswered!: () => void;
  const standaloneStream = new Promise<void>((resolve) => {
    streamAnswered = resolve;
  });
  const fetchWatchingStream: typeof fetch = (input, init) =>
    (init?.method ?? 'GET') === 'GET' ? fetch(input, init).finally(streamAnswered) : fetch(input, init);
  await client.connect(new StreamableHTTPClientTransport(url, { fetch: fetchWatchingStream }));
  // Bounded: a client that never opens the stream is not held up for good.
  await Promise.race([standaloneStream, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  return client;
}

export async function listDirect(url: URL, transport: 'http' | 'sse'): Promise<Tool[]> {
  const client = await connectDirect(url, transport);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}
