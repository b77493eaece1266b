/**
 * The parts of undici the proxy uses (an agent, a pool, the proxy-variable agent and `request`), loaded by
 * themselves: undici's index loads all of it (fetch, WebSocket, caches, mocks), 110 modules for 36, which cost
 * ~9 MB of RSS and 40–90 ms of every start on the 2-core machine (measured with `require` of each). Should a later
 * undici 7 move a file, the whole package is loaded instead.
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

interface Parts {
  Agent: typeof Undici.Agent;
  Pool: typeof Undici.Pool;
  EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent;
  request: typeof Undici.request;
}

function load(): Parts {
  try {
    const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
    const api = require('undici/lib/api/index.js') as {
      request: (this: Undici.Dispatcher, options: object) => unknown;
    };
    // As undici's index does: the API methods (request, connect for proxy tunnels, ...) on every dispatcher.
    Object.assign(Dispatcher.prototype, api);
    const request = ((
      url: string | URL,
      options: Undici.Dispatcher.RequestOptions & { dispatcher: Undici.Dispatcher },
    ) => {
      const { dispatcher, ...rest } = options;
      const target = typeof url === 'string' ? new URL(url) : url;
      return api.request.call(dispatcher, {
        ...rest,
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: rest.method ?? 'GET',
      });
    }) as unknown as typeof Undici.request;
    return {
      Agent: require('undici/lib/dispatcher/agent.js'),
      Pool: require('undici/lib/dispatcher/pool.js'),
      EnvHttpProxyAgent: require('undici/lib/dispatcher/env-http-proxy-agent.js'),
      request,
    };
  } catch {
    const undici = require('undici') as typeof Undici;
    return {
      Agent: undici.Agent,
      Pool: undici.Pool,
      EnvHttpProxyAgent: undici.EnvHttpProxyAgent,
      request: undici.request,
    };
  }
}

export const { Agent, Pool, EnvHttpProxyAgent, request } = load();
