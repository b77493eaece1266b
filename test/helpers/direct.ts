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
  await client.connect(transport === 'sse' ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url));
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
