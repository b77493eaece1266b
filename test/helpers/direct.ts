/** A plain SDK client straight to an upstream, to compare what the proxy shows with what the upstream says. */
import { Client, SSEClientTransport, StreamableHTTPClientTransport, type Tool } from '@modelcontextprotocol/client';

export async function connectDirect(url: URL, transport: 'http' | 'sse'): Promise<Client> {
  const client = new Client({ name: 'direct-test-client', version: '1.0.0' });
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
