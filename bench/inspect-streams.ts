/**
 * The status page's and the inspector feed's event streams (PROXY_INSPECT=1), read to the end as a browser showing
 * both would: shared by `--inspect` in bench/run.ts and the observability table of bench/scaling.ts.
 */

/**
 * Finds the status page URL in the proxy's stderr lines (waiting up to 5 s for it), opens both streams and drains
 * them in the background; the function returned stops reading. Throws when there is no page or a stream is refused.
 */
export async function followInspectStreams(proxyLog: readonly string[]): Promise<() => Promise<void>> {
  const findPage = () => proxyLog.map((line) => /status page: (\S+)/.exec(line)?.[1]).find(Boolean);
  // stderr is read asynchronously: the line may land a moment after the first answer on stdout.
  for (let waited = 0; !findPage() && waited < 5_000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const page = findPage();
  if (!page) throw new Error('inspect: the proxy printed no status page URL');
  const abort = new AbortController();
  const drain = async (url: string) => {
    const response = await fetch(url, { signal: abort.signal });
    if (!response.ok || !response.body) throw new Error(`inspect: ${url} answered ${response.status}`);
    void (async () => {
      try {
        for await (const _chunk of response.body!) {
          // discarded: only the proxy's cost of sending it is measured
        }
      } catch {
        // aborted at the end
      }
    })();
  };
  try {
    await Promise.all([drain(`${page}events`), drain(`${page}inspector/events`)]);
  } catch (error) {
    abort.abort();
    throw error;
  }
  return async () => abort.abort();
}
