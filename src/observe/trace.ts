/**
 * The trace log (`--trace FILE`, `PROXY_TRACE`): one JSON object per line per actor transition, appended to the
 * file. A line holds the time, the actor (supervisor, an upstream's name, or `call:<id>`), its machine, the event's
 * type, and the state before and after. Never the context or the event's data, so no argument, token or header
 * value can reach the file. Off, it costs nothing: there is no listener.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { ConfigError } from '../errors/index.js';
import type { Logger } from './log.js';
import type { Transition, TransitionListener } from './transitions.js';

export interface TraceLine {
  time: string;
  actor: string;
  machine: string;
  event: string;
  from: string | null;
  state: string;
}

export interface TraceLog {
  listener: TransitionListener;
  /** Flushes what is buffered and closes the file. */
  close(): Promise<void>;
}

export function toTraceLine(transition: Transition): TraceLine {
  return {
    time: new Date(transition.time).toISOString(),
    actor: transition.actor,
    machine: transition.machine,
    event: transition.event,
    from: transition.from ?? null,
    state: transition.state,
  };
}

/** Opens (appends to) the trace file; rejects with a message naming the file when it cannot be written. */
export async function openTraceLog(path: string, logger: Logger): Promise<TraceLog> {
  const stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  try {
    await once(stream, 'open');
  } catch (error) {
    throw new ConfigError([`trace file (--trace or PROXY_TRACE): cannot write ${path} (${(error as Error).message})`]);
  }
  let failed = false;
  stream.on('error', (error) => {
    if (failed) return;
    failed = true;
    logger.warn(`trace file ${path}: ${error.message}; tracing stopped`);
  });
  return {
    listener: (transition) => {
      if (!failed) stream.write(`${JSON.stringify(toTraceLine(transition))}\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (stream.closed) resolve();
        else stream.end(() => resolve());
      }),
  };
}
