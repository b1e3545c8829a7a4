/**
 * @flotilla/config: Flotilla's typed configuration, read from and written to containerd's
 * config `version = 2` TOML format.
 */

/** Config types (see each interface for the meaning of its keys). */
export type {
  BusConfig,
  DebugConfig,
  DeepPartial,
  FlotillaConfig,
  GcSchedulerConfig,
  GrpcConfig,
  LmdbMetadataConfig,
  LogLevel,
  PluginsConfig,
  RuntimeTaskConfig,
  SupervisorConfig,
  TtrpcConfig,
} from './types.js';
/** Defaults and well-known names. */
export {
  DEFAULT_CONFIG_PATH,
  DEFAULT_SERVICES,
  GC_SCHEDULER_PLUGIN,
  LMDB_METADATA_PLUGIN,
  LOG_LEVELS,
  MAX_WARM_SHIMS,
  RUNTIME_TASK_PLUGIN,
  defaultConfig,
} from './defaults.js';
/** Derived values. */
export { runcRoot, ttrpcAddress } from './derived.js';
/** Go-style duration strings. */
export { parseDuration } from './duration.js';
/** The error type thrown by this package (check its numeric `code`). */
export { ConfigError } from './errors.js';
/** Loading. */
export { loadConfig, type LoadOptions, type LoadResult } from './load.js';
/** Writing TOML. */
export { renderDefaultToml, renderToml } from './render.js';
