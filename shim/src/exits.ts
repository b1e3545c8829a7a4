/**
 * Routing process exits from the reaper to the process they belong to.
 *
 * A container init (child of `runc create`, which exits) and an exec process (child of
 * `runc exec --detach`) are reparented to the shim, so their exits reach us only through the
 * subreaper (containerd-facts §2.9). The race to handle: a process may exit before we know its pid
 * (between runc returning and us reading the pid file — or a `--detach`ed exec that is over at
 * once). So every runc call that creates a process runs inside a *window*: while any window is
 * open, exits of unknown pids are kept; {@link ExitRouter.watch} then finds an exit that came
 * early. When the last window closes the kept exits are dropped (they were runc's own helpers).
 */
import type { ExitInfo, Reaper } from '@flotilla/sys';

/** Where exits go; see the file comment. */
export class ExitRouter {
  private readonly handlers = new Map<number, (e: ExitInfo) => void>();
  private readonly early = new Map<number, ExitInfo>();
  private windows = 0;

  constructor(reaper: Pick<Reaper, 'on'>) {
    reaper.on('exit', (e: ExitInfo) => this.dispatch(e));
  }

  /** @internal (and tests) Routes one exit. */
  dispatch(e: ExitInfo): void {
    const h = this.handlers.get(e.pid);
    if (h) {
      this.handlers.delete(e.pid);
      h(e);
      return;
    }
    if (this.windows > 0) this.early.set(e.pid, e);
  }

  /** Runs `fn` with a window open (see the file comment). */
  async during<T>(fn: () => Promise<T>): Promise<T> {
    this.windows++;
    try {
      return await fn();
    } finally {
      if (--this.windows === 0) this.early.clear();
    }
  }

  /**
   * Calls `handler` once with the exit of `pid`: soon if it already came during the open window,
   * else when it comes. Call it inside the window that created the process.
   */
  watch(pid: number, handler: (e: ExitInfo) => void): void {
    const e = this.early.get(pid);
    if (e) {
      this.early.delete(pid);
      queueMicrotask(() => handler(e));
      return;
    }
    this.handlers.set(pid, handler);
  }

  /** Forgets the handler of `pid`. */
  unwatch(pid: number): void {
    this.handlers.delete(pid);
  }

  /** Pids being watched (diagnostics). */
  get watching(): number {
    return this.handlers.size;
  }
}
