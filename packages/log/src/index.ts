/** One pino logger per process, tagged with the service and pid; JSON to stderr. */
import { writeSync } from 'node:fs';
import { pino, destination, type DestinationStream, type Logger, type Level } from 'pino';

export type { Logger, Level };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /**
   * Write each line at once with one non-blocking write and drop it when stderr cannot take it
   * (full, or its reader gone). For shims, whose stderr is a FIFO that their daemon reads: a slow
   * or vanished reader must never stall the shim or keep it from exiting.
   */
  bestEffort?: boolean;
}

/** Lines a best-effort logger dropped. */
let droppedLines = 0;

/** How many lines best-effort loggers of this process dropped. */
export function droppedLogLines(): number {
  return droppedLines;
}

/** fd 2, one write per line, errors (EAGAIN, EPIPE) counted and ignored. */
function bestEffortStderr(): DestinationStream {
  return {
    write(line: string) {
      try {
        writeSync(2, line);
      } catch {
        droppedLines++;
      }
    },
  };
}

/** Creates the process logger: `{svc, pid}` on every line, written to stderr. */
export function createLogger(service: string, level: string = process.env.FLOTILLA_LOG_LEVEL ?? 'info', opts: LoggerOptions = {}): Logger {
  return pino({ level, base: { svc: service, pid: process.pid } }, opts.bestEffort ? bestEffortStderr() : destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
