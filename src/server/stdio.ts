/**
 * The stdio transport to the client. Replies that become ready in the same tick are written in one batch: a pipe
 * write is a blocking system call on Linux, and under load one write per reply costs more than the reply itself.
 */
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';

export function createStdioTransport(stdout: NodeJS.WriteStream = process.stdout): StdioServerTransport {
  const transport = new StdioServerTransport(process.stdin, stdout);
  const send = transport.send.bind(transport);
  let corked = false;
  transport.send = (message) => {
    if (!corked) {
      corked = true;
      stdout.cork();
      process.nextTick(() => {
        corked = false;
        stdout.uncork();
      });
    }
    return send(message);
  };
  return transport;
}
