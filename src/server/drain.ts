/**
 * When and how the proxy stops, so that it never holds the client up and never leaves a request unanswered:
 * - stdin ends: keep serving until every request already read is answered (a client may pipe its requests and
 *   close its end at once), bounded by a deadline; at the deadline answer what is left with an error, then stop;
 * - SIGINT, SIGTERM, or the parent process gone: answer what is open with an error at once, then stop;
 * - stdout broken: nobody can read an answer, so exit at once.
 * Stopping (ending upstream sessions) is bounded: whatever hangs, the process is gone 2 s after it starts.
 */
import type { ProxyConfig } from '../config/index.js';
import type { Logger } from '../observe/log.js';
import { watchParent } from './parent-watchdog.js';
import type { ClientStdioTransport } from './stdio.js';

/** Shutdown is bounded: whatever hangs, the process is gone after this. */
export const EXIT_DEADLINE_MS = 2_000;
/** Past the longest wait the proxy itself imposes, so that its own answer (a timeout error, say) comes first. */
const DRAIN_MARGIN_MS = 1_000;

/**
 * How long requests may still run after stdin ends: a request may wait for the upstreams to start
 * (`startupTimeoutMs`) and then for its call's timeout (the longest `timeoutMs` of any upstream). A call that keeps
 * reporting progress may run longer (up to `maxCallMs`), but a client that closed its input is not kept for that.
 */
export function drainDeadlineMs(config: Pick<ProxyConfig, 'upstreams' | 'startupTimeoutMs'>): number {
  const longestCall = Math.max(0, ...config.upstreams.map((upstream) => upstream.timeoutMs));
  return config.startupTimeoutMs + longestCall + DRAIN_MARGIN_MS;
}

export interface ShutdownOptions {
  transport: ClientStdioTransport;
  /** Ends upstream sessions and closes the transport (`RunningProxy.stop`). */
  stop: () => Promise<void>;
  logger: Logger;
  drainDeadlineMs: number;
  /** Flushed before exit: the last answers must not die in a buffer. */
  stdout?: NodeJS.WritableStream & { writableLength: number };
  exit?: (code: number) => void;
}

/**
 * Installs the stdin-end drain, the signal handlers, the stdout-broken exit and the parent watchdog. Returns what
 * removes the signal handlers and the watchdog again (for tests that run it inside their own process).
 */
export function superviseShutdown(options: ShutdownOptions): () => void {
  const { transport, stop, logger, drainDeadlineMs } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const stdout = options.stdout ?? process.stdout;
  let phase: 'serving' | 'draining' | 'stopping' = 'serving';

  /** `why` for the log, `reason` for the clients' error answers; `expected` stops quietly (only with DEBUG). */
  const stopNow = async (why: string, reason: string, expected = false) => {
    if (phase === 'stopping') return;
    phase = 'stopping';
    if (expected) logger.debug(`stopping: ${why}`);
    else logger.info(`stopping: ${why}`);
    setTimeout(() => exit(0), EXIT_DEADLINE_MS).unref();
    const open = transport.requests.size;
    if (open > 0) logger.warn(`${why}: answering ${open} open request(s) with an error`);
    await transport.failOpenRequests(reason);
    await stop().catch((error: unknown) => logger.error(`stopping: ${String(error)}`));
    await flushed(stdout);
    exit(0);
  };

  transport.onInputEnd = () => {
    if (phase !== 'serving') return;
    phase = 'draining';
    const open = transport.requests.size;
    if (open > 0) {
      logger.info(
        `stdin ended with ${open} request(s) still running; answering them first (at most ${Math.ceil(drainDeadlineMs / 1000)} s)`,
      );
    }
    // A ref'd timer: it keeps the process up until the deadline even when nothing else would.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, drainDeadlineMs);
    });
    void Promise.race([transport.requests.whenNoneOpen(), deadline]).then(() => {
      clearTimeout(timer);
      // The end of stdin is how a session normally ends.
      void stopNow('stdin ended', 'input ended (stdin closed) before this request was answered', true);
    });
  };
  if (transport.hasInputEnded) transport.onInputEnd();
  transport.onOutputBroken = (error) => {
    logger.warn(`stdout is closed (${(error as NodeJS.ErrnoException).code ?? error.message}); exiting`);
    exit(0);
  };
  const onSignal = (signal: NodeJS.Signals) => void stopNow(signal, `received ${signal}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopWatching = watchParent((why) => void stopNow(why, 'the process that started it exited'));
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopWatching();
  };
}

/**
 * Resolves once what was written to `stdout` has left the process: answers are batched (corked) until the end of the
 * turn (uncorked by a setImmediate queued before this one), and a client that reads slowly leaves some in the
 * stream's buffer. Bounded by the caller's exit timer.
 */
async function flushed(stdout: NodeJS.WritableStream & { writableLength: number }): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  if (stdout.writableLength > 0) await new Promise((resolve) => stdout.once('drain', resolve));
}
