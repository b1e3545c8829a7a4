/** The busybox test image: Debian's busybox-static binary, its applets, and a minimal /etc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { assembleImage, DEFAULT_PATH, type TestImage } from './image.js';
import { buildLayerInMemory } from './layer.js';
import { sortEntries, type TarEntry } from './tar.js';

/** Where Debian's `busybox-static` installs its binary. */
export const BUSYBOX_STATIC = '/bin/busybox';

/** The default name of the busybox test image. */
export const BUSYBOX_IMAGE_NAME = 'flotilla.test/busybox:latest';

/** Applets every busybox test image has in /bin (the build fails if the binary lacks one). */
export const REQUIRED_APPLETS = ['sh', 'echo', 'cat', 'ls', 'sleep', 'true', 'false', 'env', 'id', 'wc', 'head', 'top', 'ps', 'mkdir', 'touch', 'rm', 'stty', 'tty'] as const;

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/** Options of {@link buildBusyboxImage}. */
export interface BusyboxImageOptions {
  /** Image name; default `flotilla.test/busybox:latest`. */
  name?: string;
  /** The busybox binary to copy; default `/bin/busybox` (Debian `busybox-static`). */
  busybox?: string;
  /** How applets point at `/bin/busybox`; default `symlink`. */
  applets?: 'symlink' | 'hardlink';
}

/** Applet names a busybox binary provides (`busybox --list`), sorted. */
export function busyboxApplets(binary = BUSYBOX_STATIC): string[] {
  const out = execFileSync(binary, ['--list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'))
    .sort();
}

/**
 * The entries of the busybox root filesystem layer, in archive order: `/bin/busybox` with every
 * applet as a link in /bin, `/etc/passwd`, `/etc/group`, `/tmp` (1777), `/root` (0700) and empty
 * `/dev`, `/proc`, `/sys` mount points.
 */
export function busyboxRootfsEntries(opts: Pick<BusyboxImageOptions, 'busybox' | 'applets'> = {}): TarEntry[] {
  const binary = opts.busybox ?? BUSYBOX_STATIC;
  const applets = busyboxApplets(binary);
  for (const a of REQUIRED_APPLETS) if (!applets.includes(a)) throw new Error(`${binary} has no applet ${a}`);
  const entries: TarEntry[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: readFileSync(binary) },
    { path: 'dev', type: 'dir' },
    { path: 'etc', type: 'dir' },
    { path: 'etc/group', type: 'file', data: Buffer.from(GROUP) },
    { path: 'etc/passwd', type: 'file', data: Buffer.from(PASSWD) },
    { path: 'proc', type: 'dir', mode: 0o555 },
    { path: 'root', type: 'dir', mode: 0o700 },
    { path: 'sys', type: 'dir', mode: 0o555 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
  ];
  for (const a of applets) {
    entries.push(opts.applets === 'hardlink' ? { path: `bin/${a}`, type: 'hardlink', linkname: 'bin/busybox', mode: 0o755 } : { path: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  }
  return sortEntries(entries);
}

/**
 * Builds the busybox test image in memory: one layer (the rootfs of {@link busyboxRootfsEntries}),
 * config `Cmd ["/bin/sh"]`, the standard PATH, linux/amd64. Deterministic: the digests depend only
 * on the busybox binary (and the zlib in Node for the compressed blob).
 */
export async function buildBusyboxImage(opts: BusyboxImageOptions = {}): Promise<TestImage> {
  const layer = await buildLayerInMemory(busyboxRootfsEntries(opts));
  return assembleImage(opts.name ?? BUSYBOX_IMAGE_NAME, [layer], {
    config: { Env: [DEFAULT_PATH], Cmd: ['/bin/sh'] },
    history: ['flotilla testkit: busybox rootfs'],
  });
}
