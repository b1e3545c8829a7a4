/** The explanatory comments written above each key by `renderDefaultToml`. */
import { GC_SCHEDULER_PLUGIN, LMDB_METADATA_PLUGIN, MAX_WARM_SHIMS, RUNTIME_TASK_PLUGIN } from './defaults.js';
import type {
  BusConfig,
  DebugConfig,
  GcSchedulerConfig,
  GrpcConfig,
  LmdbMetadataConfig,
  RuntimeTaskConfig,
  SupervisorConfig,
  TtrpcConfig,
} from './types.js';

/** A comment for the table itself and one per key, in output order. */
export interface SectionNotes<T> {
  /** Comment above the `[table]` header. */
  about: string;
  /** Comment above each key (a `\n` starts another comment line); also fixes the order keys are written in. */
  keys: { [K in keyof T]-?: string };
}

/** Comments for the top-level keys, in output order. */
export const TOP_NOTES: {
  [K in 'version' | 'root' | 'state' | 'disabled_plugins' | 'required_plugins']-?: string;
} = {
  version: 'Config format version. Flotilla reads containerd version 2 configs only.',
  root: 'Persistent data: metadata database, content store, snapshots.',
  state: 'Runtime state (sockets, pid files, mounts); may live on tmpfs.',
  disabled_plugins: 'Plugin IDs not to load, e.g. ["io.containerd.grpc.v1.cri"].',
  required_plugins: 'Plugin IDs that must load, or startup fails.',
};

/** Comments for the top-level tables, in output order. */
export const SECTION_NOTES: {
  grpc: SectionNotes<GrpcConfig>;
  ttrpc: SectionNotes<TtrpcConfig>;
  debug: SectionNotes<DebugConfig>;
  bus: SectionNotes<BusConfig>;
  supervisor: SectionNotes<SupervisorConfig>;
} = {
  grpc: {
    about: 'containerd gRPC API served to clients (ctr, nerdctl, kubelet).',
    keys: {
      address: 'Unix socket path of the API.',
      uid: 'Owner uid of the socket.',
      gid: 'Owner gid of the socket.',
      max_recv_message_size: 'Largest request accepted, in bytes.',
      max_send_message_size: 'Largest response sent, in bytes.',
    },
  },
  ttrpc: {
    about: 'ttrpc API used by runtime shims.',
    keys: {
      address: 'Unix socket path; empty means grpc.address + ".ttrpc".',
      uid: 'Owner uid of the socket.',
      gid: 'Owner gid of the socket.',
    },
  },
  debug: {
    about: 'Logging.',
    keys: { level: 'Minimum log level: trace, debug, info, warn, error or fatal.' },
  },
  bus: {
    about: 'NATS bus connecting the Flotilla service processes.',
    keys: {
      url: 'nats:// URL of an external server; empty starts an embedded nats-server.',
      listen_host: 'Address the embedded nats-server listens on.',
      port: 'Port of the embedded nats-server; 0 picks a free port.',
      nats_server_binary: 'nats-server executable used for the embedded server.',
      request_timeout_ms: 'Default timeout of a bus request, in milliseconds.',
      heartbeat_ms: 'Interval between service heartbeats, in milliseconds.',
    },
  },
  supervisor: {
    about: 'Supervisor that starts, watches and restarts the service processes.',
    keys: {
      restart_backoff_initial_ms: 'First restart delay after a crash, in milliseconds.',
      restart_backoff_max_ms: 'Upper bound of the growing restart delay, in milliseconds.',
      stop_timeout_ms: 'Wait after SIGTERM before SIGKILL on shutdown, in milliseconds.',
      services: 'Service processes to run, in start order.',
    },
  },
};

/** Comments for the typed plugin sections, in output order. */
export const PLUGIN_NOTES: {
  [GC_SCHEDULER_PLUGIN]: SectionNotes<GcSchedulerConfig>;
  [LMDB_METADATA_PLUGIN]: SectionNotes<LmdbMetadataConfig>;
  [RUNTIME_TASK_PLUGIN]: SectionNotes<RuntimeTaskConfig>;
} = {
  [GC_SCHEDULER_PLUGIN]: {
    about: 'Garbage collection scheduling.',
    keys: {
      pause_threshold: 'Largest share of time (0 to 1) the database may be locked by GC.',
      deletion_threshold: 'Deletions that trigger a GC run; 0 disables this trigger.',
      mutation_threshold: 'Database writes that trigger a GC run; 0 disables this trigger.',
      schedule_delay: 'Wait between a trigger and the GC run.',
      startup_delay: 'Wait before the first GC run after startup.',
      expire_check_interval: 'Flotilla extension: how often expired leases are looked for.',
    },
  },
  [LMDB_METADATA_PLUGIN]: {
    about: 'LMDB metadata database.',
    keys: {
      map_size_mb: 'Maximum database size, in MiB.',
      no_sync: 'Skip fsync on commit: faster, but recent writes can be lost on power loss.',
    },
  },
  [RUNTIME_TASK_PLUGIN]: {
    about: 'Runtime service: starts a shim per task (settings are Flotilla\'s own).',
    keys: {
      runtimes:
        "Runtime name -> absolute path of its shim binary. io.containerd.runc.v2 and\n" +
        "io.containerd.flotilla.v2 default to Flotilla's shim; other names resolve as\n" +
        'containerd does (containerd-shim-<name>-<version> on PATH). Example:\n' +
        'runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }',
      runc_root:
        'State root given to runc shims whose options name none; empty means <state>/runc.\n' +
        '"/run/containerd/runc" is runc\'s own default, shared with containerd\'s shims.',
      publish_binary: 'What shims get as -publish-binary; empty means this installation\'s flotilla command.',
      shim_debug: 'Start shims with -debug.',
      warm_shims:
        `Idle Flotilla shims kept started, so a task create skips the shim's start-up (0 to ${MAX_WARM_SHIMS}).\n` +
        '0 starts every shim cold, as containerd does.',
    },
  },
};
