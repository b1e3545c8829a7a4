/** The metadata service's configuration section. */
import { parseDuration, type FlotillaConfig } from '@flotilla/config';
import type { GcSchedule } from './gc/scheduler.js';

/** Settings the metadata service uses. */
export interface MetadataConfig {
  root: string;
  mapSizeMb: number;
  noSync: boolean;
  gc: GcSchedule;
}

/** Extracts the metadata settings from the effective configuration. */
export function metadataConfig(cfg: FlotillaConfig): MetadataConfig {
  const lmdb = cfg.plugins['io.containerd.metadata.v1.lmdb'];
  const gc = cfg.plugins['io.containerd.gc.v1.scheduler'];
  return {
    root: cfg.root,
    mapSizeMb: lmdb.map_size_mb,
    noSync: lmdb.no_sync,
    gc: {
      pauseThreshold: gc.pause_threshold,
      deletionThreshold: gc.deletion_threshold,
      mutationThreshold: gc.mutation_threshold,
      scheduleDelayMs: parseDuration(gc.schedule_delay),
      startupDelayMs: parseDuration(gc.startup_delay),
      expireCheckMs: parseDuration(gc.expire_check_interval),
    },
  };
}
