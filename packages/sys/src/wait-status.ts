/**
 * Decoding waitpid(2) status words the way containerd reports exits: the exit code of a process
 * that exited, or 128 + the signal number of one a signal killed (`sys/reaper` and
 * `runc/task/service.go` both do this), so `kill -9` shows as 137 exactly as in containerd.
 */

/** How a process ended. */
export interface ExitInfo {
  pid: number;
  /** The exit code, or 128 + signal when a signal killed the process (containerd's convention). */
  exitStatus: number;
  /** The signal that killed the process, when one did. */
  signal?: number;
  /** Whether the kernel wrote a core dump (only with `signal`). */
  coreDumped?: boolean;
  /** When the reaper collected the exit. */
  exitedAt: Date;
}

/** WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG / WCOREDUMP of a raw status word. */
export function decodeWaitStatus(pid: number, status: number, exitedAt: Date = new Date()): ExitInfo {
  const low = status & 0x7f;
  if (low === 0) return { pid, exitStatus: (status >> 8) & 0xff, exitedAt };
  if (low !== 0x7f) {
    const info: ExitInfo = { pid, exitStatus: 128 + low, signal: low, exitedAt };
    if ((status & 0x80) !== 0) info.coreDumped = true;
    return info;
  }
  // Stopped or continued: the reaper never asks for these (no WUNTRACED/WCONTINUED).
  throw new RangeError(`wait status 0x${status.toString(16)} of pid ${pid} is not an exit`);
}

/** A raw status word for an exit code (the inverse of WEXITSTATUS), for fakes and tests. */
export function exitedStatus(code: number): number {
  return (code & 0xff) << 8;
}

/** A raw status word for death by `signal` (the inverse of WTERMSIG), for fakes and tests. */
export function signaledStatus(signal: number, coreDumped = false): number {
  return (signal & 0x7f) | (coreDumped ? 0x80 : 0);
}
