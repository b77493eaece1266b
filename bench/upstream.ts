/**
 * The benchmark's upstream in a process of its own, as a remote server would be: the echo upstream of the demo
 * on 127.0.0.1. Prints its URL as one JSON line on stdout, then serves until stdin closes or SIGTERM.
 */
import { startEchoUpstream } from '../src/demo/upstreams.js';

const upstream = await startEchoUpstream('bench');
process.stdout.write(`${JSON.stringify({ url: upstream.url })}\n`);

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 2_000).unref();
  upstream.close().finally(() => process.exit(0));
};
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
process.on('SIGTERM', close);
process.on('SIGINT', close);
