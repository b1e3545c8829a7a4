/**
 * The typed shape of a Flotilla configuration file (containerd's config `version = 2` layout).
 *
 * Every field is present after loading: missing keys take the values of `defaultConfig()`.
 */

/** Log levels accepted by `debug.level`, least to most severe. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** The containerd gRPC API endpoint. */
export interface GrpcConfig {
  /** Unix socket path the gRPC API listens on. */
  address: string;
  /** Owner uid of the socket. */
  uid: number;
  /** Owner gid of the socket. */
  gid: number;
  /** Largest accepted request message, in bytes. */
  max_recv_message_size: number;
  /** Largest response message, in bytes. */
  max_send_message_size: number;
}

/** The ttrpc endpoint used by shims. */
export interface TtrpcConfig {
  /** Unix socket path; `""` means `grpc.address + ".ttrpc"` (see `ttrpcAddress`). */
  address: string;
  /** Owner uid of the socket. */
  uid: number;
  /** Owner gid of the socket. */
  gid: number;
}

/** Logging settings. */
export interface DebugConfig {
  /** Minimum level that is logged. */
  level: LogLevel;
}

/** The NATS bus joining Flotilla's processes. */
export interface BusConfig {
  /** `nats://` URL of an external server; `""` means the supervisor starts an embedded nats-server. */
  url: string;
  /** Host the embedded nats-server binds to. */
  listen_host: string;
  /** Port of the embedded nats-server; 0 picks a free port. */
  port: number;
  /** Path of the nats-server executable used for the embedded server. */
  nats_server_binary: string;
  /** Default timeout of a bus request, in milliseconds. */
  request_timeout_ms: number;
  /** Interval between service heartbeats, in milliseconds. */
  heartbeat_ms: number;
}

/** The supervisor that starts and restarts the service processes. */
export interface SupervisorConfig {
  /** First delay before restarting a crashed service, in milliseconds. */
  restart_backoff_initial_ms: number;
  /** Cap of the exponential restart delay, in milliseconds. */
  restart_backoff_max_ms: number;
  /** Grace period between SIGTERM and SIGKILL on shutdown, in milliseconds. */
  stop_timeout_ms: number;
  /** Service processes to run, in start order. */
  services: string[];
}

/**
 * Section `plugins."io.containerd.gc.v1.scheduler"`: when garbage collection runs.
 * (A type alias rather than an interface so it fits `Record<string, unknown>`.)
 */
export type GcSchedulerConfig = {
  /** Maximum fraction of time the database may be paused by GC (0..1). */
  pause_threshold: number;
  /** Number of deletions that triggers a GC; 0 disables the trigger. */
  deletion_threshold: number;
  /** Number of database mutations that triggers a GC; 0 disables the trigger. */
  mutation_threshold: number;
  /** Delay between a trigger and the GC run (duration string, e.g. "0s"). */
  schedule_delay: string;
  /** Delay before the first GC after startup (duration string, e.g. "100ms"). */
  startup_delay: string;
  /** Flotilla extension: how often leases are checked for expiry (duration string). */
  expire_check_interval: string;
};

/** Section `plugins."io.containerd.metadata.v1.lmdb"`: the LMDB metadata store. */
export type LmdbMetadataConfig = {
  /** Maximum size of the LMDB map, in MiB. */
  map_size_mb: number;
  /** Skip fsync on commit (faster, loses the last transactions on power loss). */
  no_sync: boolean;
};

/**
 * Section `plugins."io.containerd.runtime.v2.task"`: the runtime service that runs shims.
 * All keys are Flotilla's (containerd 1.6 has no such settings for v2 shims).
 */
export type RuntimeTaskConfig = {
  /**
   * Runtime name → absolute path of its shim binary, consulted before the PATH lookup
   * (e.g. `{ "io.containerd.runc.v2": "/usr/bin/containerd-shim-runc-v2" }`). Replaced whole by each layer.
   */
  runtimes: Record<string, string>;
  /** runc state root given to runc shims whose options name none; `""` means `<state>/runc`. */
  runc_root: string;
  /** `-publish-binary` of shims; `""` means the flotilla command of the installation. */
  publish_binary: string;
  /** Pass `-debug` to shims. */
  shim_debug: boolean;
  /** Idle Flotilla shims kept started so a task create skips the shim's start-up (0..64; 0 = cold starts). */
  warm_shims: number;
};

/**
 * The `[plugins]` table: per-plugin sections keyed by plugin ID.
 * Known sections are typed; any other plugin table (e.g. the CRI one) is kept as free-form data.
 */
export interface PluginsConfig {
  /** Garbage collection scheduler. */
  'io.containerd.gc.v1.scheduler': GcSchedulerConfig;
  /** LMDB metadata store. */
  'io.containerd.metadata.v1.lmdb': LmdbMetadataConfig;
  /** Runtime v2 task manager (shims). */
  'io.containerd.runtime.v2.task': RuntimeTaskConfig;
  /** Any other plugin's section, kept as parsed. */
  [pluginId: string]: Record<string, unknown>;
}

/** The whole Flotilla configuration. */
export interface FlotillaConfig {
  /** Config format version; only 2 is supported. */
  version: 2;
  /** Directory for persistent data. */
  root: string;
  /** Directory for runtime state (sockets, pids). */
  state: string;
  /** Plugin IDs that are not loaded. */
  disabled_plugins: string[];
  /** Plugin IDs that must load or startup fails. */
  required_plugins: string[];
  /** gRPC API endpoint. */
  grpc: GrpcConfig;
  /** ttrpc endpoint. */
  ttrpc: TtrpcConfig;
  /** Logging. */
  debug: DebugConfig;
  /** NATS bus. */
  bus: BusConfig;
  /** Process supervisor. */
  supervisor: SupervisorConfig;
  /** Per-plugin sections. */
  plugins: PluginsConfig;
}

/** `T` with every property optional, recursively; arrays are replaced whole, never merged. */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;
