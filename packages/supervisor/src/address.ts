/** The daemon's socket: refuse a live one, remove a stale one. */
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { FlotillaError, Code } from '@flotilla/api';

/** Whether something accepts connections on the unix socket at `path`. */
export function socketIsLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const t = setTimeout(() => (s.destroy(), resolve(false)), timeoutMs);
    s.once('connect', () => (clearTimeout(t), s.destroy(), resolve(true)));
    s.once('error', () => (clearTimeout(t), resolve(false)));
  });
}

/** Throws if a live daemon serves `address`; removes the file if it is a stale socket. */
export async function claimAddress(address: string): Promise<void> {
  if (!existsSync(address)) return;
  if (await socketIsLive(address)) {
    throw new FlotillaError(Code.AlreadyExists, `address ${address} is served by a live daemon; refusing to start`);
  }
  rmSync(address, { force: true });
}
