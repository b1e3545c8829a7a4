/**
 * Knowing which of our children belong to Node's child_process, so the reaper never reaps them.
 *
 * libuv reaps the children it spawned with `waitpid(pid, WNOHANG)` for each of its own process
 * handles when SIGCHLD arrives. If anyone else reaps such a pid first, libuv gets ECHILD, treats
 * the exit as "stolen" and drops it: the ChildProcess never emits 'exit', `execFile` never calls
 * back. So the reaper reaps only pids that are not in this set.
 *
 * Every asynchronous spawn in Node (spawn, exec, execFile, fork, in ESM or CJS, by us or by any
 * library) goes through `ChildProcess.prototype.spawn`, which calls uv_spawn and sets `this.pid`
 * before it returns. Wrapping that method records the pid in the same synchronous turn, before
 * any SIGCHLD listener can run (those run on the event loop), so there is no window where a Node
 * child is unknown. The pid leaves the set from the handle's `onexit`, i.e. right after libuv has
 * reaped it, so a pid is never in the set while it could name a different process.
 *
 * Not covered, by design or by limitation:
 * - `spawnSync`/`execSync` run their own private libuv loop and reap their child before returning
 *   to JavaScript; the reaper cannot see that child as a zombie, so nothing to track.
 * - child_process used inside worker_threads: each thread has its own copy of the module. Spawn
 *   from the main thread in a process that runs a reaper.
 * - Children spawned before {@link trackNodeChildren} was first called: those still running and
 *   referenced are found through `process._getActiveHandles()`; unref'd ones are not. Start the
 *   reaper before spawning anything.
 */
import { ChildProcess } from 'node:child_process';

const nodePids = new Set<number>();
let installed = false;

/* eslint-disable @typescript-eslint/no-explicit-any */

function remember(child: any): void {
  const pid = child.pid;
  if (typeof pid !== 'number' || pid <= 0) return; // spawn failed: there is no process
  nodePids.add(pid);
  const handle = child._handle;
  if (handle && typeof handle.onexit === 'function') {
    const onexit = handle.onexit;
    handle.onexit = function (this: unknown, ...args: unknown[]) {
      nodePids.delete(pid);
      return onexit.apply(this, args);
    };
  } else {
    child.once('exit', () => nodePids.delete(pid));
  }
}

/**
 * Starts recording the pids Node's child_process spawns (idempotent, process-wide). Called by
 * `startReaper`; call it yourself only when you reap children some other way.
 */
export function trackNodeChildren(): void {
  if (installed) return;
  installed = true;
  const proto = ChildProcess.prototype as any;
  const spawn = proto.spawn as (...args: unknown[]) => unknown;
  proto.spawn = function (this: unknown, ...args: unknown[]) {
    const r = spawn.apply(this, args);
    remember(this);
    return r;
  };
  const active = (process as any)._getActiveHandles;
  if (typeof active === 'function') {
    for (const h of active.call(process) as unknown[]) if (h instanceof ChildProcess) remember(h);
  }
}

/** Whether `pid` is a child that Node's child_process spawned and libuv has not reaped yet. */
export function isNodeChild(pid: number): boolean {
  return nodePids.has(pid);
}

/** How many Node children are being tracked (for tests and diagnostics). */
export function nodeChildCount(): number {
  return nodePids.size;
}
