/** Waiting for things and stopping processes by PID in tests. */
import type { ChildProcess } from 'node:child_process';
import { stopProcess } from '@flotilla/natsd';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

/** Resolves when `fn` returns truthy; rejects after `ms`. */
export async function waitFor<T>(what: string, ms: number, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Whether a unix socket accepts connections. */
export function socketAccepts(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Whether `pid` is alive. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `ms`; resolves when the child exited. */
export function stopChild(child: ChildProcess, ms = 10_000): Promise<void> {
  return stopProcess(child, ms);
}
