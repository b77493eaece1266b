/** Failures of the token store on disk. */

/** An upstream name that would not stay inside the token root (`..`, a slash, too long). */
export class InvalidUpstreamNameError extends Error {
  readonly code = 'ERR_TOKEN_STORE_NAME';

  constructor(name: string) {
    super(`token store: ${JSON.stringify(name)} is not a valid upstream name (1 to 64 letters, digits, "-" or "_")`);
    this.name = 'InvalidUpstreamNameError';
  }
}

/** Reading or writing the store failed (permissions, disk full, a file where a folder should be). */
export class TokenStoreIoError extends Error {
  readonly code = 'ERR_TOKEN_STORE_IO';

  /** `reason` is the system error code (EACCES, ENOSPC...) or a short phrase; never file content. */
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'TokenStoreIoError';
  }
}
