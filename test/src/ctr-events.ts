/** `ctr events` as a long-running child whose stdout lines are timestamped on arrival. */
import { spawn, type ChildProcess } from 'node:child_process';

/** One line `ctr events` printed, with `performance.now()` when it reached us. */
export interface EventLine {
  text: string;
  at: number;
}

/** A running `ctr events`. */
export interface CtrEvents {
  child: ChildProcess;
  lines: EventLine[];
  /** Everything it wrote to stderr. */
  stderr(): string;
  /** The first line at index >= `from` matching `match`, waiting up to `ms`. */
  waitLine(match: (text: string) => boolean, ms: number, from?: number): Promise<EventLine & { index: number }>;
  /** SIGKILLs the child and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `ctr -a ADDRESS events` (plus `args`). */
export function startCtrEvents(address: string, args: string[] = []): CtrEvents {
  const child = spawn('ctr', ['-a', address, 'events', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: EventLine[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    const at = performance.now();
    partial += d.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ text, at });
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      r();
      for (const w of [...waiters]) w();
    }),
  );
  return {
    child,
    lines,
    stderr: () => err,
    waitLine: (match, ms, from = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < lines.length; i++) {
            if (match(lines[i].text)) {
              waiters.delete(check);
              clearTimeout(t);
              resolve({ ...lines[i], index: i });
              return;
            }
          }
          if (child.exitCode !== null) {
            waiters.delete(check);
            clearTimeout(t);
            reject(new Error(`ctr events exited ${child.exitCode}: ${err}`));
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching ctr events line within ${ms} ms; got:\n${lines.slice(from).map((l) => l.text).join('\n')}\nstderr: ${err}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
