/** Stopping a child process politely, then firmly. */
import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after `ms`; resolves when the child has exited (at once if it already had). */
export async function stopProcess(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(t);
}
