/** What Linux's /proc says about a process: CPU time and memory, for the benches' per-process figures. */
import { readFileSync, writeFileSync } from 'node:fs';

/** Linux reports process CPU time in ticks of 1/USER_HZ s, which is 100 on every common platform. */
const CLOCK_TICKS_PER_SECOND = 100;

function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of a process in MB, from /proc (Linux); undefined where that cannot be read. */
export function rssMb(pid: number | null | undefined): number | undefined {
  if (!pid) return undefined;
  return statusMb(pid, 'VmRSS') ?? (pid === process.pid ? process.memoryUsage.rss() / 2 ** 20 : undefined);
}

/** VmHWM (the peak RSS since the process started) in MB; undefined where /proc cannot be read. */
export function peakRssMb(pid: number | null | undefined): number | undefined {
  return pid ? statusMb(pid, 'VmHWM') : undefined;
}

/** User + system CPU time of a process so far, in ms; undefined where /proc cannot be read. */
export function cpuMs(pid: number | null | undefined): number | undefined {
  if (pid === process.pid) {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
  if (!pid) return undefined;
  try {
    // Fields after the command name (which may hold spaces, hence the split at ") "): utime is the 12th, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * Resets a process's VmHWM to its current RSS (writing 5 to /proc/<pid>/clear_refs, Linux 4.0+), so the next
 * peakRssMb is the peak of what ran since. False where that is not allowed: the peak is then since the start.
 */
export function resetPeakRss(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
