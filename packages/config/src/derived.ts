import { posix } from 'node:path';
import { RUNTIME_TASK_PLUGIN } from './defaults.js';
import type { FlotillaConfig } from './types.js';

/** The effective ttrpc socket path: `ttrpc.address`, or `grpc.address + ".ttrpc"` when it is empty. */
export function ttrpcAddress(cfg: FlotillaConfig): string {
  return cfg.ttrpc.address || cfg.grpc.address + '.ttrpc';
}

/** The effective runc root of the runtime section: its `runc_root`, or `<state>/runc` when that is empty. */
export function runcRoot(cfg: FlotillaConfig): string {
  return cfg.plugins[RUNTIME_TASK_PLUGIN]?.runc_root || posix.join(cfg.state, 'runc');
}
