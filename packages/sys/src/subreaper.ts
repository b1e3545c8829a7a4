/**
 * Child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER): orphans among our descendants are reparented
 * to us instead of to PID 1. A shim needs it because the container's init is a child of
 * `runc create`, which exits; the init then becomes our child and its exit status reaches us only
 * through the reaper (reference/containerd-facts.md §2.9). The attribute is per process, is not
 * inherited by fork, and survives execve.
 */
import { defaultSys } from './native.js';
import type { Sys } from './sys.js';

/** Marks this process a child subreaper. */
export function setChildSubreaper(sys: Sys = defaultSys()): void {
  sys.setChildSubreaper(true);
}

/** Whether this process is a child subreaper. */
export function isChildSubreaper(sys: Sys = defaultSys()): boolean {
  return sys.isChildSubreaper();
}
