/** What a daemon may leave behind after its tasks are gone: bundles and mounts, for leak checks. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The runtime's bundle folder name under root and state. */
export const TASK_DIR = 'io.containerd.runtime.v2.task';

/** Bundles (`<ns>/<id>`) under `<dir>/io.containerd.runtime.v2.task` of each of `dirs`. */
export function bundlesLeft(...dirs: string[]): string[] {
  return dirs.flatMap((d) => {
    const base = join(d, TASK_DIR);
    try {
      return readdirSync(base).flatMap((ns) => readdirSync(join(base, ns)).map((id) => `${base}/${ns}/${id}`));
    } catch {
      return []; // never created
    }
  });
}

/** Lines of /proc/self/mounts whose mount point is `prefix` or below it. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => {
      const point = l.split(' ')[1];
      return point !== undefined && (point === prefix || point.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
    });
}
