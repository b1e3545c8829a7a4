/**
 * Task bundles on disk, laid out as containerd's runtime v2 lays them out (`runtime/v2/bundle.go`),
 * so shims written for containerd find what they expect:
 *
 * ```
 * <state>/io.containerd.runtime.v2.task/          0711  (RuntimeConfig.stateDir)
 *   <ns>/                                         0711
 *     <id>/                                       0700  the bundle; cwd of `<shim> start|delete`
 *       config.json                                     the container's OCI spec (written here)
 *       rootfs/                                   0711  the shim mounts the task's rootfs here
 *       work -> <root>/io.containerd.runtime.v2.task/<ns>/<id>   0711, the shim's work dir
 *       log                                             FIFO: the shim's stderr (created here, read by us)
 *       address                                         shim socket, `unix://…` (the shim writes it)
 *       shim-binary-path                                resolved shim binary (written after start)
 *       .flotilla-teardown                              teardown claim (see task-manager.ts)
 *       init.pid, log.json, options.json, runtime, …    the runc shim's own files
 *     .<id>/                                            a bundle being removed (atomic delete)
 * ```
 */
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { alreadyExists, invalidArgument, validateIdentifier } from '@flotilla/api';
import { mkfifo, unmountAll } from '@flotilla/sys';

/** File names inside a bundle. */
export const BUNDLE_FILES = Object.freeze({
  config: 'config.json',
  rootfs: 'rootfs',
  work: 'work',
  log: 'log',
  address: 'address',
  shimBinaryPath: 'shim-binary-path',
  teardown: '.flotilla-teardown',
});

/** Where bundles and their work folders live. */
export interface BundleDirs {
  /** `<state>/io.containerd.runtime.v2.task`. */
  stateDir: string;
  /** `<root>/io.containerd.runtime.v2.task`. */
  rootDir: string;
}

/** One task's bundle. */
export interface Bundle {
  id: string;
  namespace: string;
  /** The bundle folder. */
  path: string;
}

/** The bundle folder of task `id` in namespace `ns`. */
export function bundlePath(dirs: Pick<BundleDirs, 'stateDir'>, ns: string, id: string): string {
  return join(dirs.stateDir, ns, id);
}

/** A bundle handle for an existing folder (no checks). */
export function loadBundle(dirs: Pick<BundleDirs, 'stateDir'>, ns: string, id: string): Bundle {
  return { id, namespace: ns, path: bundlePath(dirs, ns, id) };
}

interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/**
 * With user namespaces the remapped root must be able to reach the bundle: group-owned by the
 * host gid of the container's gid 0, mode 0710 (containerd's prepareBundleDirectoryPermissions).
 */
function prepareUserNamespacePermissions(path: string, spec: Uint8Array): void {
  let parsed: { linux?: { uidMappings?: IdMapping[]; gidMappings?: IdMapping[] } };
  try {
    parsed = JSON.parse(Buffer.from(spec).toString('utf8'));
  } catch (err) {
    throw invalidArgument('spec is not valid JSON', err);
  }
  const gids = parsed?.linux?.gidMappings ?? [];
  if ((parsed?.linux?.uidMappings ?? []).length === 0 && gids.length === 0) return;
  const root = gids.find((m) => m.containerID <= 0 && 0 < m.containerID + m.size);
  if (!root) return;
  chownSync(path, -1, root.hostID - root.containerID);
  chmodSync(path, 0o710);
}

/**
 * Creates the bundle of task `id`: the folder (AlreadyExists when it is there), `rootfs/`, the
 * `work` folder and its symlink, `config.json` with `spec`, and the `log` FIFO. On failure nothing
 * is left behind.
 */
export function createBundle(dirs: BundleDirs, ns: string, id: string, spec: Uint8Array): Bundle {
  try {
    validateIdentifier(id);
  } catch (err) {
    throw invalidArgument(`invalid task id ${id}`, err);
  }
  const b = loadBundle(dirs, ns, id);
  const work = join(dirs.rootDir, ns, id);
  mkdirSync(dirname(b.path), { recursive: true, mode: 0o711 });
  try {
    mkdirSync(b.path, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`task ${id}`);
    throw err;
  }
  let workMade = false;
  try {
    prepareUserNamespacePermissions(b.path, spec);
    mkdirSync(join(b.path, BUNDLE_FILES.rootfs), { mode: 0o711 });
    mkdirSync(dirname(work), { recursive: true, mode: 0o711 });
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o711 });
    workMade = true;
    symlinkSync(work, join(b.path, BUNDLE_FILES.work));
    writeFileSync(join(b.path, BUNDLE_FILES.config), spec, { mode: 0o666 });
    mkfifo(join(b.path, BUNDLE_FILES.log), 0o700);
  } catch (err) {
    rmSync(b.path, { recursive: true, force: true });
    if (workMade) rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return b;
}

/** Renames `path` to `.<name>` beside it, then removes it (containerd's atomicDelete). */
function atomicDelete(path: string): void {
  const hidden = join(dirname(path), '.' + path.slice(dirname(path).length + 1));
  try {
    renameSync(path, hidden);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  rmSync(hidden, { recursive: true, force: true });
}

/**
 * Removes the empty directories and empty files under `dir` that are on filesystem `dev`,
 * depth first; returns whether `dir` is left empty. Nothing with content is touched, and no other
 * filesystem is entered.
 */
function pruneEmpty(dir: string, dev: number, depth = 0): boolean {
  let empty = true;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.dev === dev && st.isDirectory() && depth < 16 && pruneEmpty(path, dev, depth + 1)) {
      rmdirSync(path);
    } else if (st.dev === dev && st.isFile() && st.size === 0) {
      unlinkSync(path);
    } else {
      empty = false;
    }
  }
  return empty;
}

/**
 * Removes the bundle's `rootfs` folder once nothing is mounted on it. runc, given a task whose
 * rootfs was never mounted (no rootfs mounts in the request), makes its mount points (`proc`,
 * `dev`, `sys`, `run`, empty files for file mounts) in the folder itself; those are removed too.
 * Anything with content stays, and the removal fails (`ENOTEMPTY`), as containerd's does.
 */
function removeRootfsFolder(rootfs: string): void {
  try {
    rmdirSync(rootfs);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  pruneEmpty(rootfs, lstatSync(rootfs).dev);
  rmdirSync(rootfs);
}

/**
 * Removes a bundle: unmounts whatever is still mounted on `rootfs`, removes the folder and its
 * work folder. A bundle that is already gone is fine.
 */
export async function deleteBundle(b: Bundle): Promise<void> {
  let work: string | undefined;
  try {
    work = readlinkSync(join(b.path, BUNDLE_FILES.work));
  } catch {
    work = undefined;
  }
  const rootfs = join(b.path, BUNDLE_FILES.rootfs);
  await unmountAll(rootfs);
  removeRootfsFolder(rootfs);
  atomicDelete(b.path);
  if (work) atomicDelete(work);
}

/** Every bundle under `stateDir`, namespace by namespace; leftovers of interrupted deletes are removed. */
export function listBundles(dirs: Pick<BundleDirs, 'stateDir'>, onlyNamespace?: string): Bundle[] {
  const out: Bundle[] = [];
  let namespaces: string[];
  try {
    namespaces = onlyNamespace === undefined ? readdirSync(dirs.stateDir) : [onlyNamespace];
  } catch {
    return out;
  }
  for (const ns of namespaces) {
    if (ns.startsWith('.')) continue;
    let ids: string[];
    try {
      ids = readdirSync(join(dirs.stateDir, ns));
    } catch {
      continue;
    }
    for (const id of ids) {
      const path = join(dirs.stateDir, ns, id);
      if (id.startsWith('.')) continue;
      try {
        if (!lstatSync(path).isDirectory()) continue;
      } catch {
        continue;
      }
      out.push({ id, namespace: ns, path });
    }
  }
  return out;
}

/** Removes `.<id>` leftovers of interrupted bundle deletes under `stateDir` (not mounted: rootfs was unmounted first). */
export function removeDeleteLeftovers(dirs: Pick<BundleDirs, 'stateDir'>): void {
  let namespaces: string[];
  try {
    namespaces = readdirSync(dirs.stateDir);
  } catch {
    return;
  }
  for (const ns of namespaces) {
    let ids: string[];
    try {
      ids = readdirSync(join(dirs.stateDir, ns));
    } catch {
      continue;
    }
    for (const id of ids) if (id.startsWith('.')) rmSync(join(dirs.stateDir, ns, id), { recursive: true, force: true });
  }
}

/** A bundle file's text, or undefined when it does not exist. */
export function readBundleFile(b: Bundle, name: string): string | undefined {
  try {
    return readFileSync(join(b.path, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes a bundle file (mode 0600). */
export function writeBundleFile(b: Bundle, name: string, data: string): void {
  writeFileSync(join(b.path, name), data, { mode: 0o600 });
}

/** Whether the bundle folder exists. */
export function bundleExists(b: Bundle): boolean {
  return existsSync(b.path);
}

/**
 * Claims the teardown of a bundle by creating its `.flotilla-teardown` file exclusively: true
 * for exactly one caller (across processes), false when someone already claimed it or the
 * bundle is gone.
 */
export function claimTeardown(b: Bundle, why: string): boolean {
  try {
    const fd = openSync(join(b.path, BUNDLE_FILES.teardown), 'wx', 0o600);
    writeFileSync(fd, `${why} ${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOENT') return false;
    throw err;
  }
}

/** Whether the teardown of a bundle was claimed. */
export function teardownClaimed(b: Bundle): boolean {
  return existsSync(join(b.path, BUNDLE_FILES.teardown));
}
