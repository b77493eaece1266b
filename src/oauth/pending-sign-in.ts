/** A sign-in waiting for the user: where to go, and how they were sent there. A leaf, for the session and its flows. */
export interface PendingSignIn {
  url: string;
  /** 'opened': a browser was started; 'printed': only the URL was printed (no browser, or BROWSER=none). */
  how: 'opened' | 'printed';
  /** The device flow (RFC 8628): the code the user enters at `url`; shown even when `url` already holds it. */
  userCode?: string;
}
