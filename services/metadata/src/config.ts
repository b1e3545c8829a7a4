/** The metadata service's configuration section. */
import type { FlotillaConfig } from '@flotilla/config';

/** Settings the metadata service uses. */
export interface MetadataConfig {
  root: string;
  mapSizeMb: number;
  noSync: boolean;
}

/** Extracts the metadata settings from the effective configuration. */
export function metadataConfig(cfg: FlotillaConfig): MetadataConfig {
  const lmdb = cfg.plugins['io.containerd.metadata.v1.lmdb'];
  return { root: cfg.root, mapSizeMb: lmdb.map_size_mb, noSync: lmdb.no_sync };
}
