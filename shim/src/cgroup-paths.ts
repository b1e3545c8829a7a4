/**
 * Where the cgroup hierarchies are mounted and which cgroup a process is in, read from /proc
 * (no native calls, so the `start` path can use it cheaply).
 *
 * On the machines we run on (ARCHITECTURE §10) cgroup v1 is mounted per controller under
 * /sys/fs/cgroup (`cpu` and `cpuacct` separately) with an empty v2 hierarchy at
 * /sys/fs/cgroup/unified; a pure v2 host has one `cgroup2` mount.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The cgroup mounts of this machine. */
export interface CgroupMounts {
  /** cgroup v1: controller (or `name=…`) → mount point. */
  v1: Map<string, string>;
  /** The cgroup2 mount point, if any. */
  v2: string | undefined;
}

/** Parses /proc/self/mountinfo (or the given text) for cgroup and cgroup2 mounts. */
export function cgroupMounts(mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupMounts {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = (left[4] ?? '').replace(/\\040/g, ' ');
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      v2 ??= mountPoint;
    } else if (fstype === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (['rw', 'ro'].includes(opt) || opt.startsWith('release_agent=') || opt === 'clone_children' || opt === 'xattr') continue;
        if (!v1.has(opt)) v1.set(opt, mountPoint);
      }
    }
  }
  return { v1, v2 };
}

/** Whether the host runs cgroup v2 only (no v1 controller mounted, a cgroup2 mount present). */
export function isUnified(mounts: CgroupMounts): boolean {
  return mounts.v1.size === 0 && mounts.v2 !== undefined;
}

/**
 * /proc/<pid>/cgroup as a map: v1 controller (each of a comma-joined list, and `name=…`) → path,
 * and the v2 path under the key ''.
 */
export function processCgroups(pid: number | 'self', text?: string): Map<string, string> {
  const content = text ?? readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const out = new Map<string, string>();
  for (const line of content.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

/**
 * Moves `pid` into the cgroup at `path` (the runc options' `shim_cgroup`): on cgroup v2 one
 * `cgroup.procs` write; on v1 a write in every hierarchy where that cgroup exists (containerd's
 * `cgroups.Load(V1, StaticPath(path)).Add`). Throws when it exists nowhere.
 */
export function joinCgroup(pid: number, path: string, mounts: CgroupMounts = cgroupMounts()): void {
  if (isUnified(mounts)) {
    writeFileSync(join(mounts.v2!, path, 'cgroup.procs'), String(pid));
    return;
  }
  let joined = 0;
  for (const mountPoint of new Set(mounts.v1.values())) {
    const dir = join(mountPoint, path);
    if (!existsSync(dir)) continue;
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    joined++;
  }
  if (joined === 0) throw new Error(`cgroup ${path} does not exist`);
}
