/** How a wait for the user's sign-in can end without a code, and the cross-process sign-in lock's timeout. */

/** Base of every way a sign-in wait can end without a code; `code` is stable, the message names the upstream. */
export class OAuthCallbackError extends Error {
  readonly code: string = 'ERR_PROXY_OAUTH_CALLBACK';
  constructor(
    readonly upstream: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The authorization server redirected back with `error=` (the user said no, or the request was refused). */
export class OAuthAuthorizationDeniedError extends OAuthCallbackError {
  override readonly code = 'ERR_PROXY_OAUTH_DENIED';
  constructor(
    upstream: string,
    /** The OAuth error code, e.g. `access_denied`, made safe to print. */
    readonly error: string,
    readonly errorDescription: string | undefined,
  ) {
    super(
      upstream,
      `upstream "${upstream}": sign-in failed: ${error}${errorDescription ? ` (${errorDescription})` : ''}`,
    );
  }
}

/** Nobody completed the sign-in in time. */
export class OAuthCallbackTimeoutError extends OAuthCallbackError {
  override readonly code = 'ERR_PROXY_OAUTH_TIMEOUT';
  constructor(
    upstream: string,
    readonly timeoutMs: number,
  ) {
    super(upstream, `upstream "${upstream}": no sign-in completed within ${formatDuration(timeoutMs)}`);
  }
}

/** The wait was aborted by its signal, or the callback server closed under it. */
export class OAuthCallbackAbortedError extends OAuthCallbackError {
  override readonly code = 'ERR_PROXY_OAUTH_ABORTED';
  constructor(upstream: string, why: string, options?: ErrorOptions) {
    super(upstream, `upstream "${upstream}": sign-in wait ${why}`, options);
  }
}

/** The callback server could not listen: the message says which port to free or which variable to set. */
export class OAuthCallbackListenError extends Error {
  readonly code = 'ERR_PROXY_OAUTH_CALLBACK_LISTEN';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OAuthCallbackListenError';
  }
}

/** What a lock file says about its holder. */
export interface SignInLockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  createdAt: string;
}

/** Another process kept the lock for the whole `timeoutMs`. */
export class SignInLockTimeoutError extends Error {
  readonly code = 'ERR_SIGN_IN_LOCK_TIMEOUT';

  constructor(
    readonly path: string,
    readonly timeoutMs: number,
    readonly holder: SignInLockHolder | undefined,
  ) {
    const who = holder
      ? `process ${holder.pid} on ${holder.hostname}, signing in since ${holder.createdAt}`
      : 'another process';
    super(
      `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${who} (lock ${path}); if no sign-in is running, delete that file`,
    );
    this.name = 'SignInLockTimeoutError';
  }
}

/** "10 min", "45 s", "1500 ms": how long, as a person says it. */
function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}
