import type { FlotillaConfig, LogLevel } from './types.js';

/** Where `loadConfig` looks for a config file when none is given (used only if it exists). */
export const DEFAULT_CONFIG_PATH = '/etc/flotilla/config.toml';

/** Plugin ID of the garbage collection scheduler section. */
export const GC_SCHEDULER_PLUGIN = 'io.containerd.gc.v1.scheduler';

/** Plugin ID of the LMDB metadata store section. */
export const LMDB_METADATA_PLUGIN = 'io.containerd.metadata.v1.lmdb';

/** Plugin ID of the runtime v2 task manager section (the runtime service). */
export const RUNTIME_TASK_PLUGIN = 'io.containerd.runtime.v2.task';

/** Largest accepted `warm_shims` of the runtime section. */
export const MAX_WARM_SHIMS = 64;

/** Every accepted `debug.level`, least to most severe. */
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Service processes the supervisor runs by default, in start order. */
export const DEFAULT_SERVICES: readonly string[] = ['metadata', 'content', 'snapshotter', 'runtime', 'cri', 'gateway'];

/** A fresh copy of the built-in configuration (safe to mutate). */
export function defaultConfig(): FlotillaConfig {
  return {
    version: 2,
    root: '/var/lib/flotilla',
    state: '/run/flotilla',
    disabled_plugins: [],
    required_plugins: [],
    grpc: {
      address: '/run/flotilla/containerd.sock',
      uid: 0,
      gid: 0,
      max_recv_message_size: 16 * 1024 * 1024,
      max_send_message_size: 16 * 1024 * 1024,
    },
    ttrpc: { address: '', uid: 0, gid: 0 },
    debug: { level: 'info' },
    bus: {
      url: '',
      listen_host: '127.0.0.1',
      port: 0,
      nats_server_binary: '/usr/sbin/nats-server',
      request_timeout_ms: 10000,
      heartbeat_ms: 500,
    },
    supervisor: {
      restart_backoff_initial_ms: 100,
      restart_backoff_max_ms: 5000,
      stop_timeout_ms: 10000,
      services: [...DEFAULT_SERVICES],
    },
    plugins: {
      [GC_SCHEDULER_PLUGIN]: {
        pause_threshold: 0.02,
        deletion_threshold: 0,
        mutation_threshold: 100,
        schedule_delay: '0s',
        startup_delay: '100ms',
        expire_check_interval: '30s',
      },
      [LMDB_METADATA_PLUGIN]: { map_size_mb: 1024, no_sync: false },
      [RUNTIME_TASK_PLUGIN]: { runtimes: {}, runc_root: '', publish_binary: '', shim_debug: false, warm_shims: 1 },
    },
  };
}
