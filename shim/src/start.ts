/**
 * `containerd-shim-flotilla-v2 … start`: find or make the shim for this container's group and
 * print its address (containerd-facts §2.2, §2.3, §2.7; `runc/manager/manager_linux.go Start`).
 *
 * 1. The group id comes from `config.json` in the bundle (the working directory containerd gives
 *    us); the address from {@link socketAddress}.
 * 2. If a shim already serves that socket (another container of the same pod), write its address
 *    into `<bundle>/address` and print it. A socket file nobody answers on is stale: removed.
 * 3. Otherwise listen on the socket (0660), write `address`, and start the long-lived shim: this
 *    same program without an action, in its own session, with the listening socket as fd 3, the
 *    bundle's `log` FIFO (which containerd reads) as stderr, and stdin/stdout on /dev/null so
 *    containerd's read of our output ends when we exit. Its oom_score_adj is set one above
 *    containerd's (only ever raised: ARCHITECTURE §10), and it joins the runc options'
 *    `shim_cgroup` when containerd sent options on our stdin.
 * 4. Print the bare `unix://…` address; exit 0 without closing the listener (closing a bound unix
 *    socket in libuv unlinks its file).
 *
 * Only Node built-ins are loaded here: containerd waits for this process on every task create.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { addressPath, readGroupId, socketAddress, socketDir } from './address.js';
import { joinCgroup } from './cgroup-paths.js';
import type { ShimFlags } from './flags.js';
import { decodeAny, decodeShimCgroup, isRuncOptionsType } from './wire.js';

/** What `start` did. */
export interface StartResult {
  /** The `unix://` address to print. */
  address: string;
  /** True when an existing shim of the same group serves it. */
  grouped: boolean;
  /** The pid of the shim started, when one was. */
  pid?: number;
}

/** Options of {@link startShim}. */
export interface StartOptions {
  /** The bundle (default: `-bundle`, else the working directory). */
  bundle?: string;
  /** The script the long-lived shim runs (this program's main.js). */
  entry: string;
  /** Node options for the long-lived shim. */
  nodeArgs?: readonly string[];
  /** The runtime options containerd wrote on stdin (read from fd 0 when undefined). */
  stdin?: Buffer;
  /** Socket directory (default {@link socketDir}). */
  socketDir?: string;
}

/** Whether something accepts connections on `path` within `timeoutMs` (Go's CanConnect: 100 ms). */
export function canConnect(path: string, timeoutMs = 100): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Writes `<dir>/address` through a temporary file and a rename (Go's WriteAddress). */
export function writeAddress(bundle: string, address: string): void {
  const tmp = join(bundle, `.address.${process.pid}`);
  writeFileSync(tmp, address, { mode: 0o666 });
  renameSync(tmp, join(bundle, 'address'));
}

/** The listening socket's descriptor (libuv's handle keeps it; Node has no public accessor). */
function serverFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot get the listening socket descriptor');
  return fd;
}

/** Opens `<bundle>/log` for writing if it is a FIFO with a reader (containerd's), else undefined. */
export function openShimLog(bundle: string): number | undefined {
  const path = join(bundle, 'log');
  try {
    if (!lstatSync(path).isFIFO()) return undefined;
    return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return undefined; // no FIFO, or nobody reads it (ENXIO)
  }
}

/** The runtime options containerd may have written on our stdin (a serialized Any), or empty. */
function readStdin(): Buffer {
  try {
    const st = fstatSync(0);
    if (!st.isFIFO() && !st.isSocket() && !st.isFile()) return Buffer.alloc(0);
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

/** Raises the shim's oom_score_adj to containerd's + 1 (never lowers it). Best effort. */
function adjustOomScore(pid: number): void {
  try {
    const parent = Number.parseInt(readFileSync(`/proc/${process.ppid}/oom_score_adj`, 'utf8').trim(), 10);
    const own = Number.parseInt(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), 10);
    const want = Math.min(parent + 1, 1000);
    if (Number.isFinite(want) && want > own) writeFileSync(`/proc/${pid}/oom_score_adj`, String(want));
  } catch {
    // Raising needs no privilege; if /proc refuses anyway, the shim just keeps containerd's score.
  }
}

/** The group's socket, claimed by {@link claimSocket}. */
export interface ClaimedSocket {
  /** The `unix://` address (already written to `<bundle>/address`). */
  address: string;
  /** Its file. */
  path: string;
  /** Listening, when this process is to serve the group; undefined when another shim already does. */
  server?: Server;
}

/**
 * Steps 1–2 of `start` and the listening half of 3: the group's socket address, then either the
 * live shim serving it (grouped) or a fresh listener at mode 0660. `<bundle>/address` names it.
 */
export async function claimSocket(flags: Pick<ShimFlags, 'namespace' | 'id' | 'address'>, bundle: string, dir = socketDir()): Promise<ClaimedSocket> {
  if (!flags.namespace) throw new Error('shim namespace cannot be empty');
  if (!flags.id) throw new Error('shim id cannot be empty');
  const group = readGroupId(bundle, flags.id);
  const address = socketAddress(flags.address, flags.namespace, group, dir);
  const path = addressPath(address);

  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let server: Server;
  try {
    server = await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new Error(`create new shim socket: ${(err as Error).message}`);
    if (await canConnect(path)) {
      writeAddress(bundle, address);
      return { address, path };
    }
    if (existsSync(path)) unlinkSync(path);
    server = await listen(path);
  }
  try {
    chmodSync(path, 0o660);
    writeAddress(bundle, address);
  } catch (err) {
    releaseSocket({ address, path, server });
    throw err;
  }
  return { address, path, server };
}

/** Undoes {@link claimSocket} of a shim that will not serve after all: the socket file goes. */
export function releaseSocket(claimed: ClaimedSocket): void {
  try {
    unlinkSync(claimed.path);
  } catch {
    // not there
  }
  claimed.server?.close();
}

/**
 * Places shim `pid` as containerd wants it: in the runc options' `shim_cgroup` (from the
 * serialized Any containerd wrote on `start`'s stdin; empty = none) and one oom_score_adj above
 * its parent's. Throws when the cgroup cannot be joined.
 */
export function placeShim(pid: number, options: Buffer): void {
  if (options.length > 0) {
    const any = decodeAny(options);
    if (isRuncOptionsType(any.typeUrl)) {
      const cgroup = decodeShimCgroup(any.value);
      if (cgroup) {
        try {
          joinCgroup(pid, cgroup);
        } catch (err) {
          throw new Error(`failed to join cgroup ${cgroup}: ${(err as Error).message}`);
        }
      }
    }
  }
  adjustOomScore(pid);
}

/** Runs the `start` action; see the file comment. Throws on failure (the caller exits 1). */
export async function startShim(flags: ShimFlags, opts: StartOptions): Promise<StartResult> {
  const bundle = opts.bundle ?? (flags.bundle || process.cwd());
  const claimed = await claimSocket(flags, bundle, opts.socketDir ?? socketDir());
  const { address, server } = claimed;
  if (!server) return { address, grouped: true };
  try {
    const logFd = openShimLog(bundle);
    const args = [...(opts.nodeArgs ?? []), opts.entry, '-namespace', flags.namespace, '-id', flags.id, '-address', flags.address];
    if (flags.debug) args.push('-debug');
    const child = spawn(process.execPath, args, {
      cwd: bundle,
      env: process.env,
      detached: true,
      stdio: ['ignore', 'ignore', logFd ?? 'ignore', serverFd(server)],
    });
    if (logFd !== undefined) closeSync(logFd);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.unref();
    const pid = child.pid!;
    try {
      placeShim(pid, opts.stdin ?? readStdin());
    } catch (err) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      throw err;
    }
    return { address, grouped: false, pid };
  } catch (err) {
    releaseSocket(claimed);
    throw err;
  }
}
