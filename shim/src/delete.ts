/**
 * `containerd-shim-flotilla-v2 … -bundle <bundle> delete`: cleanup after a shim that is gone
 * (containerd-facts §2.2, §2.6; `runc/manager/manager_linux.go Stop`).
 *
 * `runc delete --force <id>` (with the runtime binary and root the container was created with,
 * from `<bundle>/runtime` and `<bundle>/options.json`), unmount `<bundle>/rootfs`, read
 * `<bundle>/init.pid`; problems are warnings on stderr (containerd logs them). Prints a
 * `containerd.task.v2.DeleteResponse` on stdout: that pid, exit status 137 (the real status is
 * unknown once the shim is gone — it was SIGKILLed if it still ran), exited now.
 */
import { readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { unmountAll } from '@flotilla/sys';
import type { ShimFlags } from './flags.js';
import { RUNC_ROOT, Runc, readPidFile } from './runc.js';
import { encodeDeleteResponse } from './wire.js';

/** SIGKILL's exit status (128 + 9). */
export const KILLED_EXIT_STATUS = 137;

function warn(message: string): void {
  writeSync(2, `${message}\n`);
}

/** The runtime options the bundle recorded (`options.json`, `runtime`). */
function readBundleOptions(bundle: string): { binary: string; root: string; systemdCgroup: boolean } {
  let binary = '';
  let root = '';
  let systemdCgroup = false;
  try {
    binary = readFileSync(join(bundle, 'runtime'), 'utf8').trim();
  } catch {
    // not written: default runtime
  }
  try {
    const o = JSON.parse(readFileSync(join(bundle, 'options.json'), 'utf8')) as { root?: string; systemd_cgroup?: boolean; binary_name?: string };
    root = o.root ?? '';
    systemdCgroup = o.systemd_cgroup ?? false;
    binary ||= o.binary_name ?? '';
  } catch {
    // not written: defaults
  }
  return { binary, root, systemdCgroup };
}

/** Runs the `delete` action; returns the DeleteResponse bytes. */
export async function deleteAction(flags: ShimFlags): Promise<Buffer> {
  if (!flags.id) throw new Error('shim id cannot be empty');
  const bundle = flags.bundle || process.cwd();
  const o = readBundleOptions(bundle);
  const runc = new Runc({
    command: o.binary || undefined,
    root: join(o.root || RUNC_ROOT, flags.namespace),
    log: join(bundle, 'log.json'),
    systemdCgroup: o.systemdCgroup,
  });
  try {
    await runc.delete(flags.id, { force: true });
  } catch (err) {
    warn(`failed to remove runc container: ${(err as Error).message}`);
  }
  try {
    await unmountAll(join(bundle, 'rootfs'), 0);
  } catch (err) {
    warn(`failed to cleanup rootfs mount: ${(err as Error).message}`);
  }
  let pid = 0;
  try {
    pid = readPidFile(join(bundle, 'init.pid'));
  } catch (err) {
    warn(`failed to read init pid file: ${(err as Error).message}`);
  }
  return encodeDeleteResponse({ pid, exitStatus: KILLED_EXIT_STATUS, exitedAt: new Date() });
}
