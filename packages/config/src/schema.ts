/**
 * Per-key validators for the known parts of the config. Each validator returns the accepted
 * value or throws a `ConfigError` (code 3) that names the dotted key.
 */
import { posix } from 'node:path';
import { GC_SCHEDULER_PLUGIN, LMDB_METADATA_PLUGIN, LOG_LEVELS, MAX_WARM_SHIMS, RUNTIME_TASK_PLUGIN } from './defaults.js';
import { parseDuration } from './duration.js';
import { ConfigError, INVALID_ARGUMENT } from './errors.js';
import { describeValue, isTable, keyPath } from './keys.js';
import type {
  BusConfig,
  DebugConfig,
  FlotillaConfig,
  GcSchedulerConfig,
  GrpcConfig,
  LmdbMetadataConfig,
  LogLevel,
  RuntimeTaskConfig,
  SupervisorConfig,
  TtrpcConfig,
} from './types.js';

/** Validates one value found at `path`. */
export type Check<T> = (value: unknown, path: string) => T;

/** One validator per key of `T`. */
export type SectionSpec<T> = { [K in keyof T]-?: Check<T[K]> };

/** Throws the InvalidArgument error `invalid config: <path> must be <expected>, got <value>`. */
export function invalid(path: string, expected: string, value: unknown): never {
  throw new ConfigError(INVALID_ARGUMENT, `invalid config: ${path} must be ${expected}, got ${describeValue(value)}`);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

const positiveInt: Check<number> = (v, p) => (isInt(v) && v > 0 ? v : invalid(p, 'a positive integer', v));
const nonNegativeInt: Check<number> = (v, p) => (isInt(v) && v >= 0 ? v : invalid(p, 'a non-negative integer', v));
const id: Check<number> = (v, p) => (isInt(v) && v >= 0 ? v : invalid(p, 'a non-negative integer id', v));
const port: Check<number> = (v, p) => (isInt(v) && v >= 0 && v <= 65535 ? v : invalid(p, 'an integer from 0 to 65535', v));
const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : invalid(p, 'true or false', v));
const anyString: Check<string> = (v, p) => (typeof v === 'string' ? v : invalid(p, 'a string', v));
const nonEmpty: Check<string> = (v, p) => (typeof v === 'string' && v !== '' ? v : invalid(p, 'a non-empty string', v));
const absolutePath: Check<string> = (v, p) =>
  typeof v === 'string' && posix.isAbsolute(v) ? v : invalid(p, 'an absolute path', v);
const absolutePathOrEmpty: Check<string> = (v, p) =>
  typeof v === 'string' && (v === '' || posix.isAbsolute(v)) ? v : invalid(p, 'empty or an absolute path', v);
const warmShims: Check<number> = (v, p) =>
  isInt(v) && v >= 0 && v <= MAX_WARM_SHIMS ? v : invalid(p, `an integer from 0 to ${MAX_WARM_SHIMS}`, v);
const ratio: Check<number> = (v, p) =>
  typeof v === 'number' && v >= 0 && v <= 1 ? v : invalid(p, 'a number from 0 to 1', v);
const logLevel: Check<LogLevel> = (v, p) =>
  LOG_LEVELS.includes(v as LogLevel) ? (v as LogLevel) : invalid(p, `one of ${LOG_LEVELS.join(', ')}`, v);
const natsUrl: Check<string> = (v, p) =>
  typeof v === 'string' && (v === '' || v.startsWith('nats://'))
    ? v
    : invalid(p, 'empty (embedded server) or a nats:// URL', v);

const duration: Check<string> = (v, p) => {
  if (typeof v === 'string') {
    try {
      parseDuration(v);
      return v;
    } catch {
      // reported below with the key name
    }
  }
  return invalid(p, 'a duration like "100ms", "30s" or "1m"', v);
};

const stringList: Check<string[]> = (v, p) =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? [...(v as string[])] : invalid(p, 'an array of strings', v);

const serviceList: Check<string[]> = (v, p) => {
  const list = stringList(v, p);
  if (list.some((s) => s === '') || new Set(list).size !== list.length) {
    return invalid(p, 'an array of distinct, non-empty service names', v);
  }
  return list;
};

/** A table of runtime name → absolute shim path; a bad entry is reported by its own key. */
const runtimeTable: Check<Record<string, string>> = (v, p) => {
  if (!isTable(v)) return invalid(p, 'a table of runtime name = absolute shim path', v);
  const out: Record<string, string> = {};
  for (const [name, path] of Object.entries(v)) {
    if (path === undefined) continue;
    const k = keyPath(p, name);
    // defineProperty: a runtime called "__proto__" stays data.
    Object.defineProperty(out, name, { value: absolutePath(path, k), enumerable: true, writable: true, configurable: true });
  }
  return out;
};

const version: Check<2> = (v, p) => {
  if (v === 2) return 2;
  if (v === 3) return invalid(p, '2 (containerd version 3 configs are not supported yet)', v);
  if (v === 1) return invalid(p, '2 (version 1 configs are not supported; convert to version = 2)', v);
  return invalid(p, '2', v);
};

/** Validators for the top-level scalar keys. */
export const TOP_LEVEL: SectionSpec<Pick<FlotillaConfig, 'version' | 'root' | 'state' | 'disabled_plugins' | 'required_plugins'>> = {
  version,
  root: absolutePath,
  state: absolutePath,
  disabled_plugins: stringList,
  required_plugins: stringList,
};

/** Validators for the top-level tables other than `[plugins]`. */
export const SECTIONS: {
  grpc: SectionSpec<GrpcConfig>;
  ttrpc: SectionSpec<TtrpcConfig>;
  debug: SectionSpec<DebugConfig>;
  bus: SectionSpec<BusConfig>;
  supervisor: SectionSpec<SupervisorConfig>;
} = {
  grpc: {
    address: nonEmpty,
    uid: id,
    gid: id,
    max_recv_message_size: positiveInt,
    max_send_message_size: positiveInt,
  },
  ttrpc: { address: anyString, uid: id, gid: id },
  debug: { level: logLevel },
  bus: {
    url: natsUrl,
    listen_host: nonEmpty,
    port,
    nats_server_binary: nonEmpty,
    request_timeout_ms: positiveInt,
    heartbeat_ms: positiveInt,
  },
  supervisor: {
    restart_backoff_initial_ms: positiveInt,
    restart_backoff_max_ms: positiveInt,
    stop_timeout_ms: nonNegativeInt,
    services: serviceList,
  },
};

/** Validators for the plugin sections Flotilla understands; other plugin tables are free-form. */
export const PLUGIN_SECTIONS: {
  [GC_SCHEDULER_PLUGIN]: SectionSpec<GcSchedulerConfig>;
  [LMDB_METADATA_PLUGIN]: SectionSpec<LmdbMetadataConfig>;
  [RUNTIME_TASK_PLUGIN]: SectionSpec<RuntimeTaskConfig>;
} = {
  [GC_SCHEDULER_PLUGIN]: {
    pause_threshold: ratio,
    deletion_threshold: nonNegativeInt,
    mutation_threshold: nonNegativeInt,
    schedule_delay: duration,
    startup_delay: duration,
    expire_check_interval: duration,
  },
  [LMDB_METADATA_PLUGIN]: { map_size_mb: positiveInt, no_sync: bool },
  [RUNTIME_TASK_PLUGIN]: {
    runtimes: runtimeTable,
    runc_root: absolutePathOrEmpty,
    publish_binary: absolutePathOrEmpty,
    shim_debug: bool,
    warm_shims: warmShims,
  },
};

/** Checks that relate several keys; run once on the fully merged config. */
export function checkCrossFields(cfg: FlotillaConfig): void {
  const s = cfg.supervisor;
  if (s.restart_backoff_max_ms < s.restart_backoff_initial_ms) {
    invalid(
      'supervisor.restart_backoff_max_ms',
      `at least supervisor.restart_backoff_initial_ms (${s.restart_backoff_initial_ms})`,
      s.restart_backoff_max_ms,
    );
  }
}
