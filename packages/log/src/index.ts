/** One pino logger per process, tagged with the service and pid; JSON to stderr. */
import { pino, destination, type Logger, type Level } from 'pino';

export type { Logger, Level };

/** Creates the process logger: `{svc, pid}` on every line, written to stderr. */
export function createLogger(service: string, level: string = process.env.FLOTILLA_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { svc: service, pid: process.pid } }, destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
