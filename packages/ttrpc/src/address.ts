/**
 * Unix socket addresses and listening sockets for ttrpc servers, the way containerd's shims make
 * them (`runtime/v2/shim/util_unix.go NewSocket`, `runc/manager start`): `unix://` prefixes are
 * accepted, a missing parent directory is created, a stale socket file nobody listens on is
 * replaced, a live one is an error, and the socket's mode is set after bind.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { Code, FlotillaError } from '@flotilla/api';

/** The filesystem path of a ttrpc address (`unix:///run/x.sock` or `/run/x.sock`). */
export function socketPath(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

/** Whether something accepts connections on the unix socket at `path`. */
export function socketAccepts(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Options of {@link listenUnix}. */
export interface ListenOptions {
  /** Mode of the socket file (default 0o660, ARCHITECTURE §6; Go's shim uses 0o600). */
  mode?: number;
  /** Mode of the parent directory if it has to be created (default 0o700). */
  dirMode?: number;
}

/**
 * Listens on a unix socket at `address`. Throws AlreadyExists when another process already serves
 * there.
 */
export async function listenUnix(address: string, opts: ListenOptions = {}): Promise<Server> {
  const path = socketPath(address);
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: opts.dirMode ?? 0o700 });
  if (existsSync(path)) {
    if (!lstatSync(path).isSocket()) {
      throw new FlotillaError(Code.AlreadyExists, `ttrpc: ${path} exists and is not a socket`);
    }
    if (await socketAccepts(path)) {
      throw new FlotillaError(Code.AlreadyExists, `ttrpc: address ${path} is already in use`);
    }
    unlinkSync(path);
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    chmodSync(path, opts.mode ?? 0o660);
  } catch (err) {
    server.close();
    throw err;
  }
  return server;
}
