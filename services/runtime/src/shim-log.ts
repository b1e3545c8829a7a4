/**
 * The shim's log: the shim dup2s `<bundle>/log` (a FIFO) onto its stderr. We hold the FIFO open
 * read-write and non-blocking (containerd's openShimLog: O_RDWR|O_NONBLOCK), so the shim never
 * blocks on open and never sees EPIPE while we run, and copy each line into our log.
 */
import { join } from 'node:path';
import type { Logger } from '@flotilla/log';
import { openFifoReader } from '@flotilla/sys';
import { BUNDLE_FILES, type Bundle } from './bundle.js';

/** logrus level → pino method. */
const LEVELS: Record<string, 'debug' | 'info' | 'warn' | 'error'> = {
  trace: 'debug',
  debug: 'debug',
  info: 'debug',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  fatal: 'error',
  panic: 'error',
};

/** One line of shim output into `log`, at the level logrus wrote (`level=warning …`). */
export function logShimLine(log: Logger, line: string): void {
  const text = line.trim();
  if (!text) return;
  const m = /\blevel=(\w+)/.exec(text);
  const level = (m && LEVELS[m[1]!]) || 'info';
  log[level]({ shimLog: text }, 'shim');
}

/** A running copy of a shim's log FIFO. */
export interface ShimLog {
  /** Stops copying and closes the FIFO. */
  close(): void;
}

/** Opens the bundle's log FIFO and copies its lines to `log` until closed. */
export function openShimLog(b: Bundle, log: Logger): ShimLog {
  const stream = openFifoReader(join(b.path, BUNDLE_FILES.log), { keepOpen: true });
  let partial = '';
  stream.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 64 * 1024) {
      lines.push(partial);
      partial = '';
    }
    for (const l of lines) logShimLine(log, l);
  });
  stream.on('error', (err) => log.debug({ err }, 'shim log closed'));
  let closed = false;
  return {
    close: () => {
      if (closed) return;
      closed = true;
      if (partial) logShimLine(log, partial);
      stream.destroy();
    },
  };
}
