/** A configuration the proxy cannot start with. `problems` holds one human line per problem, never a secret. */
export class ConfigError extends Error {
  readonly code = 'ERR_PROXY_CONFIG';

  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}
