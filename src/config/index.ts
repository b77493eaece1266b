/** The configuration: loaded, checked and resolved once (files, PROXY_UPSTREAMS, every other variable). */
export type { AuditSettings } from './audit.js';
export { type HttpProxySettings, readHttpProxySettings } from './http-proxy.js';
export {
  type LoadConfigOptions,
  loadConfig,
  PROXY_DISABLED_NOTICE,
  type ProxyConfig,
  parseUpstreams,
  proxyDisabledNotice,
} from './load.js';
export {
  type BrowserSettings,
  DEFAULT_CALLBACK_PORT,
  DEFAULT_OAUTH_TIMEOUT_MS,
  type OAuthSettings,
  readBrowserSettings,
  readOAuthSettings,
  tokenRoot,
} from './oauth-settings.js';
export { type ChangedUpstream, planReload, type ReloadPlan } from './reload-plan.js';
export {
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_NAME_LENGTH,
  MAX_TOOL_PREFIX_LENGTH,
  type OAuthConfig,
  type ToolOverride,
  type Transport,
  type UpstreamConfig,
} from './schema.js';
export { SINGLE_UPSTREAM_NAME } from './single-upstream.js';
export { DEFAULT_OTLP_ENDPOINT, readTelemetrySettings, type TelemetrySettings } from './telemetry.js';
export { TOOL_MODES, type ToolMode } from './tool-mode.js';
export { DEFAULT_MAX_TOOL_NAME } from './tool-names.js';
export { applyEnvClient, envPrefixFor } from './upstream-oauth.js';
export { type ConfigWatcher, type ConfigWatchOptions, watchConfigFile } from './watch.js';
