/**
 * The snapshotter service's configuration: containerd's plugin sections, read from the free-form
 * plugin tables the config package keeps, with defaults and validation.
 *
 * ```toml
 * [plugins."io.containerd.snapshotter.v1.overlayfs"]
 * root_path = ""          # default <root>/io.containerd.snapshotter.v1.overlayfs (containerd key)
 * upperdir_label = false  # report containerd.io/snapshot/overlay.upperdir (containerd key)
 * map_size_mb = 256       # Flotilla: LMDB map size of the metastore
 * no_sync = false         # Flotilla: skip fsync on metastore commits
 *
 * [plugins."io.containerd.snapshotter.v1.native"]
 * root_path = ""          # default <root>/io.containerd.snapshotter.v1.native
 * map_size_mb = 256
 * no_sync = false
 * ```
 */
import { isAbsolute, join } from 'node:path';
import { invalidArgument } from '@flotilla/api';
import type { FlotillaConfig } from '@flotilla/config';

/** Plugin id (type.id) of the overlayfs snapshotter. */
export const OVERLAYFS_PLUGIN = 'io.containerd.snapshotter.v1.overlayfs';
/** Plugin id (type.id) of the native snapshotter. */
export const NATIVE_PLUGIN = 'io.containerd.snapshotter.v1.native';

/** Settings of one local snapshotter. */
export interface LocalSnapshotterConfig {
  /** The plugin root directory. */
  root: string;
  mapSizeMb: number;
  noSync: boolean;
}

/** Settings of the snapshotter service. */
export interface SnapshotterConfig {
  overlayfs: LocalSnapshotterConfig & { upperdirLabel: boolean };
  native: LocalSnapshotterConfig;
}

const DEFAULT_MAP_SIZE_MB = 256;

function section(cfg: FlotillaConfig, plugin: string): Record<string, unknown> {
  const s = cfg.plugins[plugin];
  return s && typeof s === 'object' ? s : {};
}

function bad(plugin: string, key: string, expected: string, v: unknown): never {
  throw invalidArgument(`invalid config: plugins.${JSON.stringify(plugin)}.${key} must be ${expected}, got ${JSON.stringify(v)}`);
}

function local(cfg: FlotillaConfig, plugin: string): LocalSnapshotterConfig {
  const s = section(cfg, plugin);
  const rootPath = s.root_path ?? '';
  if (typeof rootPath !== 'string' || (rootPath !== '' && !isAbsolute(rootPath))) bad(plugin, 'root_path', 'empty or an absolute path', rootPath);
  const mapSizeMb = s.map_size_mb ?? DEFAULT_MAP_SIZE_MB;
  if (typeof mapSizeMb !== 'number' || !Number.isSafeInteger(mapSizeMb) || mapSizeMb <= 0) bad(plugin, 'map_size_mb', 'a positive integer', mapSizeMb);
  const noSync = s.no_sync ?? false;
  if (typeof noSync !== 'boolean') bad(plugin, 'no_sync', 'true or false', noSync);
  return { root: rootPath || join(cfg.root, plugin), mapSizeMb, noSync };
}

/** Extracts and validates the snapshotter settings; throws InvalidArgument naming the bad key. */
export function snapshotterConfig(cfg: FlotillaConfig): SnapshotterConfig {
  const upperdirLabel = section(cfg, OVERLAYFS_PLUGIN).upperdir_label ?? false;
  if (typeof upperdirLabel !== 'boolean') bad(OVERLAYFS_PLUGIN, 'upperdir_label', 'true or false', upperdirLabel);
  return { overlayfs: { ...local(cfg, OVERLAYFS_PLUGIN), upperdirLabel }, native: local(cfg, NATIVE_PLUGIN) };
}
