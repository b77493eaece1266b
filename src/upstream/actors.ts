/** The real actors behind the upstream machine's placeholders, bound to the configured upstreams. */
import { fromPromise } from 'xstate';
import { upstreamMachine } from '../../machines/upstream.js';
import type { UpstreamConfig } from '../config/index.js';
import { type ConnectTarget, connectSse, connectStreamableHttp } from './connect.js';
import { UpstreamError } from './failures.js';

/** Until OAuth lands, an upstream that asks for sign-in fails with a message that says so. */
function oauthNotSupported(name: string): never {
  throw new UpstreamError(
    'permanent',
    'ERR_UPSTREAM_AUTH_UNSUPPORTED',
    `upstream "${name}" requires OAuth sign-in, which this version of mcp-upstream-proxy cannot do yet`,
  );
}

export function provideUpstreamMachine(upstreams: readonly UpstreamConfig[]) {
  const targets = new Map<string, ConnectTarget>(
    upstreams.map((upstream) => [upstream.name, { name: upstream.name, url: upstream.url, headers: upstream.headers }]),
  );
  const target = (name: string): ConnectTarget => {
    const found = targets.get(name);
    if (!found) throw new Error(`no configured upstream "${name}"`);
    return found;
  };
  return upstreamMachine.provide({
    actors: {
      connectStreamableHttp: fromPromise(({ input, signal }) => connectStreamableHttp(target(input.name), signal)),
      connectSse: fromPromise(({ input, signal }) => connectSse(target(input.name), signal)),
      discoverAuthorization: fromPromise(async ({ input }) => oauthNotSupported(input.name)),
      authorize: fromPromise(async ({ input }) => oauthNotSupported(input.name)),
      refreshTokens: fromPromise(async ({ input }) => oauthNotSupported(input.name)),
    },
  });
}
