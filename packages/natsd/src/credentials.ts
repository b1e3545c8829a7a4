/** Bus credentials: generated per start, kept in a 0600 file under the state directory. */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { unavailable } from '@flotilla/api';

/** How a process reaches the bus. */
export interface BusCredentials {
  url: string;
  user?: string;
  pass?: string;
}

/** Fresh random credentials for the embedded server. */
export function generateCredentials(url: string): BusCredentials {
  return { url, user: 'flotilla', pass: randomBytes(24).toString('base64url') };
}

/** Writes credentials to `file` with mode 0600 (its folder 0700). */
export function writeCredentials(file: string, creds: BusCredentials): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Reads credentials written by writeCredentials. */
export function readCredentials(file: string): BusCredentials {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BusCredentials;
  } catch (err) {
    throw unavailable(`bus credentials ${file}`, err);
  }
}
