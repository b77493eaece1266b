export {
  DEFAULT_STARTUP_TIMEOUT_MS,
  expandEnvReferences,
  isDebugEnabled,
  isProxyEnabled,
  MAX_TIMER_MS,
  readCallbackHost,
  readEnv,
  readStartupTimeoutMs,
} from './env.js';
export {
  envPrefixFor,
  type LoadConfigOptions,
  loadConfig,
  PROXY_DISABLED_NOTICE,
  type ProxyConfig,
  parseUpstreams,
  proxyDisabledNotice,
} from './load.js';
export {
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_NAME_LENGTH,
  MAX_TOOL_PREFIX_LENGTH,
  type OAuthConfig,
  type Transport,
  type UpstreamConfig,
} from './schema.js';
export { SINGLE_UPSTREAM_NAME } from './single-upstream.js';
