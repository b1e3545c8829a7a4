import type { FlotillaConfig } from './types.js';

/** The effective ttrpc socket path: `ttrpc.address`, or `grpc.address + ".ttrpc"` when it is empty. */
export function ttrpcAddress(cfg: FlotillaConfig): string {
  return cfg.ttrpc.address || cfg.grpc.address + '.ttrpc';
}
