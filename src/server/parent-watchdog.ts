/**
 * Notices when the process that started the proxy has died without closing our stdin (a grandchild may hold the
 * pipe open, or the parent was SIGKILLed while something else shares it): the proxy would otherwise live on as an
 * orphan, holding upstream sessions and sign-in locks, until the machine reboots.
 */

/** How often the parent is looked at: cheap (one system call), and an orphan lingers at most this long. */
export const PARENT_POLL_MS = 1_000;

/**
 * Calls `onGone` once when the parent is gone: our parent pid changed (Linux and macOS re-parent an orphan to init
 * or a subreaper) or the original parent no longer exists. The timer is unref'd, so it never keeps the process up.
 * Returns the stop function.
 */
export function watchParent(onGone: (why: string) => void, intervalMs = PARENT_POLL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    const now = process.ppid;
    const why = now !== parent ? `parent process ${parent} exited (now ${now})` : missing(parent);
    if (why === undefined) return;
    clearInterval(timer);
    onGone(why);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function missing(pid: number): string | undefined {
  // Pid 0 or 1 as the parent: started by init or from outside any process tree; there is nothing to watch.
  if (pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (error) {
    // EPERM: it exists, we may just not signal it.
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? `parent process ${pid} no longer exists` : undefined;
  }
}
