/**
 * The shim's socket address, computed exactly as the runc shim does (containerd-facts §2.3, §2.7;
 * `runtime/v2/shim/util_unix.go SocketAddress`, `runc/manager/manager_linux.go Start`):
 *
 * ```
 * unix://<socket dir>/<hex(sha256(filepath.Join(<containerd grpc address>, <namespace>, <group id>)))>
 * ```
 *
 * The socket directory is `/run/containerd/s` (containerd 1.6 fixes it to its default state dir,
 * whatever containerd's configured state is); `FLOTILLA_SHIM_SOCKET_DIR` overrides it for tests
 * and for a runtime that keeps its sockets elsewhere. The group id is the first of the annotations
 * `io.containerd.runc.v2.group`, `io.kubernetes.cri.sandbox-id` present in the bundle's
 * `config.json`, else the container id — so every container of a pod lands in one shim.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where containerd 1.6's shims put their sockets. */
export const DEFAULT_SOCKET_DIR = '/run/containerd/s';

/** Environment variable overriding {@link DEFAULT_SOCKET_DIR}. */
export const SOCKET_DIR_ENV = 'FLOTILLA_SHIM_SOCKET_DIR';

/** Annotations naming a shim group, in order of precedence (`groupLabels`). */
export const GROUP_ANNOTATIONS = ['io.containerd.runc.v2.group', 'io.kubernetes.cri.sandbox-id'] as const;

/** The socket directory to use: `$FLOTILLA_SHIM_SOCKET_DIR` or `/run/containerd/s`. */
export function socketDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[SOCKET_DIR_ENV] || DEFAULT_SOCKET_DIR;
}

/**
 * Go's `path/filepath.Clean` on Unix: the shortest equivalent path by purely lexical processing
 * (collapse `//`, drop `.`, resolve `..` against the preceding element, no trailing slash).
 */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Go's `path/filepath.Join` on Unix: the non-empty elements joined with `/`, then cleaned. */
export function goJoin(...elems: string[]): string {
  const parts = elems.filter((e) => e !== '');
  return parts.length === 0 ? '' : goClean(parts.join('/'));
}

/** The socket address of shim group `groupId` (see the file comment). */
export function socketAddress(containerdAddress: string, namespace: string, groupId: string, dir: string = socketDir()): string {
  const digest = createHash('sha256').update(goJoin(containerdAddress, namespace, groupId)).digest('hex');
  return `unix://${join(dir, digest)}`;
}

/** The group id from OCI spec annotations, else `id`. */
export function groupIdFromAnnotations(annotations: Record<string, string> | undefined, id: string): string {
  for (const key of GROUP_ANNOTATIONS) {
    const v = annotations?.[key];
    // Go checks presence in the map (`if groupID, ok := ...`), so an empty value still counts.
    if (v !== undefined && annotations && Object.prototype.hasOwnProperty.call(annotations, key)) return v;
  }
  return id;
}

/** Reads `<bundle>/config.json` and returns the group id of container `id`. Throws when unreadable. */
export function readGroupId(bundle: string, id: string): string {
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
  return groupIdFromAnnotations(spec.annotations ?? undefined, id);
}

/** The filesystem path of a `unix://` address (an address without the prefix is returned as is). */
export function addressPath(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}
