/**
 * The reaper: collects the exit status of every child that Node's child_process did not spawn —
 * above all container inits and exec processes reparented to us as a child subreaper — and fans
 * the exits out to subscribers (containerd's `sys/reaper`).
 *
 * ## Coexisting with libuv
 *
 * containerd's reaper calls wait4(-1) for everything. In Node that would steal the exits of
 * libuv's own children (libuv waits per pid, gets ECHILD and silently drops the exit, so
 * `execFile('runc', ...)` would never call back). So on every SIGCHLD this reaper:
 *
 * 1. peeks with `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`, which names one zombie child
 *    without reaping it;
 * 2. if that pid is not a Node child (node-children.ts tracks them exactly), reaps it with
 *    `waitpid(pid, WNOHANG)` and goes back to 1;
 * 3. if it is a Node child, leaves it for libuv. The peek keeps returning that same zombie until
 *    libuv reaps it, so other zombies behind it are found by listing our children
 *    (/proc/self/task/<tid>/children) and reaping each non-Node pid with `waitpid(pid, WNOHANG)`
 *    (a no-op for the living); and a retry is scheduled (1 ms, 2 ms, … 1 s, timers unref'd) in
 *    case /proc is unavailable or a pid left libuv's hands in between.
 *
 * Both Node's own SIGCHLD watcher and ours are libuv signal handles on the same loop, so nothing
 * here runs concurrently with libuv's reaping; all waits are WNOHANG and never block the loop.
 *
 * ## Reading exits
 *
 * - `reaper.on('exit', info => ...)` sees every exit.
 * - `reaper.wait(pid)` resolves with the exit of `pid`, also when it was reaped before the call:
 *   exits nobody was waiting for are kept in a bounded table (1024 entries, 5 minutes) and a
 *   `wait` takes its entry out, so a later reuse of the pid cannot return a stale exit.
 * - `reaper.subscribe()` buffers the exits from now on, for the race-free pattern containerd uses
 *   around `runc create`/`runc exec`: subscribe, run runc, read the pid file, `sub.wait(pid)`.
 */
import { EventEmitter } from 'node:events';
import { canceled } from '@flotilla/api';
import { defaultSys } from './native.js';
import { isNodeChild, trackNodeChildren } from './node-children.js';
import type { Sys } from './sys.js';
import { decodeWaitStatus, type ExitInfo } from './wait-status.js';

export type { ExitInfo } from './wait-status.js';

/** Options of {@link startReaper} / {@link Reaper}. */
export interface ReaperOptions {
  /** The system calls (a FakeSys in unit tests); the native ones by default. */
  sys?: Sys;
  /** Exits nobody waited for that are kept for a later {@link Reaper.wait}; default 1024. */
  historySize?: number;
  /** How long such an exit is kept; default 5 minutes. */
  historyTtlMs?: number;
  /** Which pids to leave alone; default: children spawned through node:child_process. */
  isNodeChild?: (pid: number) => boolean;
}

/** Retry delays while a Node child heads the zombie queue. */
const RETRY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

interface Waiter {
  resolve(info: ExitInfo): void;
  cancel(why: string): void;
}

/** Rejects every pending wait in `map` with Canceled. */
function cancelAll(map: Map<number, Waiter[]>, why: string): void {
  const all = [...map.values()].flat();
  map.clear();
  for (const w of all) w.cancel(why);
}

/**
 * Keeps the event loop alive while someone awaits an exit, as a running ChildProcess does (the
 * SIGCHLD listener itself does not hold the loop).
 */
class KeepAlive {
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  acquire(): void {
    if (this.count++ === 0) this.timer = setInterval(() => undefined, 1 << 30);
  }

  release(): void {
    if (--this.count === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** Exits received since {@link Reaper.subscribe}; see the file comment. */
export class ExitSubscription {
  private readonly exits = new Map<number, ExitInfo>();
  private readonly waiters = new Map<number, Waiter[]>();
  private closed = false;

  constructor(
    private readonly limit: number,
    private readonly keepAlive: KeepAlive,
    private readonly onClose: (s: ExitSubscription) => void,
  ) {}

  /** @internal Called by the reaper for each exit; returns whether a waiter took it. */
  deliver(info: ExitInfo): boolean {
    if (this.closed) return false;
    const ws = this.waiters.get(info.pid);
    if (ws) {
      this.waiters.delete(info.pid);
      for (const w of ws) w.resolve(info);
      return true;
    }
    this.exits.set(info.pid, info);
    if (this.exits.size > this.limit) this.exits.delete(this.exits.keys().next().value!);
    return false;
  }

  /** The exit of `pid` since the subscription began, as soon as there is one. */
  wait(pid: number, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    const seen = this.exits.get(pid);
    if (seen) {
      this.exits.delete(pid);
      return Promise.resolve(seen);
    }
    return addWaiter(this.waiters, pid, this.keepAlive, opts.signal);
  }

  /** Stops buffering; pending waits reject with Canceled. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.exits.clear();
    cancelAll(this.waiters, 'exit subscription closed');
    this.onClose(this);
  }
}

function addWaiter(map: Map<number, Waiter[]>, pid: number, keepAlive: KeepAlive, signal?: AbortSignal): Promise<ExitInfo> {
  if (signal?.aborted) return Promise.reject(canceled(`waiting for pid ${pid}`, signal.reason));
  return new Promise((resolve, reject) => {
    keepAlive.acquire();
    const onAbort = () => {
      keepAlive.release();
      const ws = map.get(pid);
      const i = ws?.indexOf(w) ?? -1;
      if (ws && i >= 0) {
        ws.splice(i, 1);
        if (ws.length === 0) map.delete(pid);
      }
      reject(canceled(`waiting for pid ${pid}`, signal?.reason));
    };
    const w: Waiter = {
      resolve(info) {
        keepAlive.release();
        signal?.removeEventListener('abort', onAbort);
        resolve(info);
      },
      cancel(why) {
        keepAlive.release();
        signal?.removeEventListener('abort', onAbort);
        reject(canceled(`waiting for pid ${pid}: ${why}`));
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ws = map.get(pid);
    if (ws) ws.push(w);
    else map.set(pid, [w]);
  });
}

/** A SIGCHLD-driven reaper; create it with {@link startReaper}. */
export class Reaper extends EventEmitter<{ exit: [ExitInfo]; error: [unknown] }> {
  private readonly sys: Sys;
  private readonly historySize: number;
  private readonly historyTtlMs: number;
  private readonly skip: (pid: number) => boolean;
  private readonly recent = new Map<number, { info: ExitInfo; at: number }>();
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly subs = new Set<ExitSubscription>();
  private unlisten: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly keepAlive = new KeepAlive();
  /** Counters for diagnostics and tests. */
  readonly stats = { reaped: 0, leftToNode: 0, retries: 0 };

  constructor(opts: ReaperOptions = {}) {
    super();
    this.sys = opts.sys ?? defaultSys();
    this.historySize = opts.historySize ?? 1024;
    this.historyTtlMs = opts.historyTtlMs ?? 5 * 60_000;
    if (opts.isNodeChild) this.skip = opts.isNodeChild;
    else {
      trackNodeChildren();
      this.skip = isNodeChild;
    }
    this.unlisten = this.sys.onSigchld(() => this.reap());
    // Children that exited before we listened raised their SIGCHLD already.
    setImmediate(() => this.reap());
  }

  /** Whether the reaper still listens for SIGCHLD. */
  get running(): boolean {
    return this.unlisten !== undefined;
  }

  /**
   * Reaps every exited child that is not Node's, records and announces the exits, and returns
   * them. SIGCHLD calls this; calling it yourself is harmless.
   */
  reap(): ExitInfo[] {
    if (!this.running) return [];
    const out: ExitInfo[] = [];
    try {
      let blocked = false;
      for (;;) {
        const pid = this.sys.peekExited();
        if (pid === undefined) break;
        if (this.skip(pid)) {
          this.stats.leftToNode++;
          blocked = true;
          break;
        }
        if (!this.collect(pid, out)) {
          blocked = true; // not reapable after all (someone else took it): never spin here
          break;
        }
      }
      if (blocked) {
        for (const pid of this.sys.listChildren()) if (!this.skip(pid)) this.collect(pid, out);
        this.scheduleRetry();
      } else {
        this.attempt = 0;
      }
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err);
      else process.emitWarning(`reaper: ${(err as Error).message ?? String(err)}`);
    }
    for (const info of out) this.dispatch(info);
    return out;
  }

  private collect(pid: number, out: ExitInfo[]): boolean {
    let r;
    try {
      r = this.sys.waitpid(pid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ECHILD') return false;
      throw err;
    }
    if (!r) return false;
    this.stats.reaped++;
    out.push(decodeWaitStatus(r.pid, r.status));
    return true;
  }

  private scheduleRetry(): void {
    if (this.retry || this.attempt >= RETRY_MS.length) return;
    const delay = RETRY_MS[this.attempt++]!;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.stats.retries++;
      this.reap();
    }, delay);
    this.retry.unref();
  }

  private dispatch(info: ExitInfo): void {
    let taken = false;
    for (const s of this.subs) if (s.deliver(info)) taken = true;
    const ws = this.waiters.get(info.pid);
    if (ws) {
      this.waiters.delete(info.pid);
      for (const w of ws) w.resolve(info);
      taken = true;
    }
    if (!taken) this.remember(info);
    this.emit('exit', info);
  }

  private remember(info: ExitInfo): void {
    const now = Date.now();
    this.recent.delete(info.pid);
    this.recent.set(info.pid, { info, at: now });
    for (const [pid, e] of this.recent) {
      if (this.recent.size <= this.historySize && now - e.at <= this.historyTtlMs) break;
      this.recent.delete(pid);
    }
  }

  /**
   * The exit of `pid`: at once if it was reaped earlier and nobody took it yet, else when it
   * comes. Rejects with Canceled when `signal` aborts. Like a running ChildProcess, a pending
   * wait keeps the event loop alive.
   */
  wait(pid: number, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    const e = this.recent.get(pid);
    if (e) {
      this.recent.delete(pid);
      if (Date.now() - e.at <= this.historyTtlMs) return Promise.resolve(e.info);
    }
    return addWaiter(this.waiters, pid, this.keepAlive, opts.signal);
  }

  /** Buffers every exit from now on until closed; see the file comment. */
  subscribe(): ExitSubscription {
    const s = new ExitSubscription(this.historySize, this.keepAlive, (x) => this.subs.delete(x));
    this.subs.add(s);
    return s;
  }

  /** Stops listening for SIGCHLD; pending waits (also of subscriptions) reject with Canceled. */
  stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
    cancelAll(this.waiters, 'reaper stopped');
    for (const sub of [...this.subs]) sub.close();
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    if (shared === this) shared = undefined;
  }
}

let shared: Reaper | undefined;

/**
 * Starts reaping. Without `opts.sys` this returns the one process-wide reaper over the native
 * calls (created on first use; later options are ignored) — there must be only one, since a
 * reaped exit reaches only the reaper that reaped it. Call it before spawning anything, and make
 * this process a subreaper with `setChildSubreaper()` if orphans should come to it.
 */
export function startReaper(opts: ReaperOptions = {}): Reaper {
  if (opts.sys) return new Reaper(opts);
  shared ??= new Reaper(opts);
  return shared;
}
