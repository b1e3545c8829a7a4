/** `<state>/supervisor.json`: what the supervisor runs, for `flotilla status`. */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notFound } from '@flotilla/api';
import type { ProcessStatus } from './service-runner.js';

/** Contents of the status file. */
export interface SupervisorStatus {
  pid: number;
  startedAt: number;
  address: string;
  /** Bus credentials file, for health queries. */
  credentials: string;
  processes: ProcessStatus[];
}

/** Path of the status file under `state`. */
export function statusFile(state: string): string {
  return join(state, 'supervisor.json');
}

/** Writes the status file atomically. */
export function writeStatus(state: string, s: SupervisorStatus): void {
  const file = statusFile(state);
  writeFileSync(`${file}.tmp`, JSON.stringify(s, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Reads the status file; NotFound when no supervisor ever ran with this state dir. */
export function readStatus(state: string): SupervisorStatus {
  try {
    return JSON.parse(readFileSync(statusFile(state), 'utf8')) as SupervisorStatus;
  } catch (err) {
    throw notFound(`no supervisor status under ${state}`, err);
  }
}
