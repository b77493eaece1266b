/**
 * The fairness bench's upstreams in a process of their own (so flooding costs the proxy, not the measuring
 * client): a healthy Streamable HTTP fixture and a faulty one with flood tools. Prints their URLs as one JSON line
 * on stdout, then serves until stdin closes or SIGTERM.
 */
import { startFaultyUpstream } from '../test/fixtures/faulty-upstream.js';
import { startUpstream } from '../test/fixtures/upstreams.js';

const healthy = await startUpstream({ kind: 'streamable-http', name: 'healthy', tools: ['echo'] });
const faulty = await startFaultyUpstream({
  name: 'flooder',
  faults: { log_flood: 'log-flood', progress_flood: 'progress-flood' },
  floodCount: 10_000,
  floodMs: 1_000,
});
process.stdout.write(`${JSON.stringify({ healthy: healthy.url.href, faulty: faulty.url.href })}\n`);

let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 2_000).unref();
  Promise.allSettled([healthy.close(), faulty.close()]).finally(() => process.exit(0));
};
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
process.on('SIGTERM', close);
process.on('SIGINT', close);
