/**
 * The runtime service's configuration, built from the config package's typed and validated
 * `io.containerd.runtime.v2.task` plugin section (see `RuntimeTaskConfig` in @flotilla/config and
 * `flotilla config default`) plus values derived from the rest of the config.
 *
 * ```toml
 * [plugins."io.containerd.runtime.v2.task"]
 * # Flotilla: runtime name → shim binary. Names not listed resolve as containerd does
 * # (io.containerd.runc.v2 → containerd-shim-runc-v2 on PATH; an absolute path is used as is),
 * # except that io.containerd.runc.v2 and io.containerd.flotilla.v2 default to Flotilla's shim.
 * runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }
 * # Flotilla: `root` given to runc shims (Debian's and Flotilla's) whose options leave it empty,
 * # so two daemons on one machine never share runc state. "" means <state>/runc; write
 * # "/run/containerd/runc" to use runc's own default (the root containerd's shims use).
 * runc_root = ""
 * # What shims get as -publish-binary (runc v2 shims publish over ttrpc and never run it).
 * publish_binary = ""       # "" = the flotilla command of this checkout
 * shim_debug = false        # pass -debug to shims
 * # Flotilla: idle Flotilla shims kept started, so a task create skips the shim's start-up.
 * warm_shims = 1            # 0..64; 0 = start every shim cold, as containerd does
 * ```
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '@flotilla/api';
import { RUNTIME_TASK_PLUGIN, defaultConfig, runcRoot, ttrpcAddress, type FlotillaConfig, type RuntimeTaskConfig } from '@flotilla/config';

/** Plugin id (type.id) of the runtime v2 task manager. */
export const RUNTIME_PLUGIN = RUNTIME_TASK_PLUGIN;

/** containerd's timeouts around shims (`io.containerd.timeout.shim.*`, `task.state`), in ms. */
export interface RuntimeTimeouts {
  /** Reconnecting to a shim at start (`shim.load`, 5 s). */
  load: number;
  /** `<shim> delete` after a dead shim (`shim.cleanup`, 5 s). */
  cleanup: number;
  /** Shutdown of a shim after its task was deleted (`shim.shutdown`, 3 s). */
  shutdown: number;
  /** State of one task for Get/List (`task.state`, 2 s). */
  state: number;
}

/** Settings of the runtime service. */
export interface RuntimeConfig {
  /** `<state>/io.containerd.runtime.v2.task`: bundles, one folder per namespace. */
  stateDir: string;
  /** `<root>/io.containerd.runtime.v2.task`: each bundle's `work` folder. */
  rootDir: string;
  /** The containerd gRPC socket (shims get it as `-address` and `GRPC_ADDRESS`). */
  grpcAddress: string;
  /** The ttrpc socket shims publish events to (`TTRPC_ADDRESS`). */
  ttrpcAddress: string;
  /** Owner of the ttrpc socket. */
  ttrpcUid: number;
  ttrpcGid: number;
  /** Runtime name → shim binary, before the PATH lookup. */
  runtimes: Record<string, string>;
  /** runc state root for runc shims whose options set none: `runc_root`, or `<state>/runc` when it is "". */
  runcRoot: string;
  /** `-publish-binary` of shims. */
  publishBinary: string;
  /** Pass `-debug` to shims. */
  shimDebug: boolean;
  /** Flotilla's shim launcher of this checkout ('' when not built). */
  flotillaShim: string;
  /** Idle Flotilla shims to keep started (warm-shims.ts). */
  warmShims: number;
  timeouts: RuntimeTimeouts;
}

/** containerd's defaults. */
export const DEFAULT_TIMEOUTS: Readonly<RuntimeTimeouts> = Object.freeze({ load: 5000, cleanup: 5000, shutdown: 3000, state: 2000 });

function bad(key: string, expected: string, v: unknown): never {
  throw invalidArgument(`invalid config: plugins.${JSON.stringify(RUNTIME_PLUGIN)}.${key} must be ${expected}, got ${JSON.stringify(v)}`);
}

/**
 * The runtime section of `cfg`. loadConfig has validated it; this only fills keys missing from a
 * hand-built or older config with the defaults and refuses values of the wrong type.
 */
function runtimeSection(cfg: FlotillaConfig): RuntimeTaskConfig {
  const dflt = defaultConfig().plugins[RUNTIME_PLUGIN];
  const raw: Partial<RuntimeTaskConfig> | undefined = cfg.plugins[RUNTIME_PLUGIN];
  const s: RuntimeTaskConfig = { ...dflt };
  for (const k of Object.keys(dflt) as (keyof RuntimeTaskConfig)[]) {
    const v: unknown = raw?.[k];
    if (v === undefined) continue;
    const type = typeof dflt[k];
    if (typeof v !== type || Array.isArray(v) || v === null) bad(k, type === 'object' ? 'a table' : `a ${type}`, v);
    (s as Record<string, unknown>)[k] = v;
  }
  for (const [name, path] of Object.entries(s.runtimes)) {
    if (typeof path !== 'string') bad(`runtimes.${JSON.stringify(name)}`, 'a path', path);
  }
  return s;
}

/** The flotilla command of this checkout (`bin/flotilla`), or node itself when it is not there. */
function defaultPublishBinary(): string {
  const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/flotilla');
  return existsSync(bin) ? bin : process.execPath;
}

/**
 * Flotilla's own shim runs `io.containerd.runc.v2` by default (the launcher of this checkout);
 * `runtimes` in the config overrides it, e.g. with Debian's `/usr/bin/containerd-shim-runc-v2`.
 */
function defaultRuntimes(shim: string): Record<string, string> {
  return shim ? { 'io.containerd.runc.v2': shim, 'io.containerd.flotilla.v2': shim } : {};
}

/** `bin/containerd-shim-flotilla-v2` of this checkout, or '' when it is not there. */
function flotillaShimLauncher(): string {
  const shim = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bin/containerd-shim-flotilla-v2');
  return existsSync(shim) ? shim : '';
}

/** The runtime settings of `cfg`; throws InvalidArgument naming the key if a value has the wrong type. */
export function runtimeConfig(cfg: FlotillaConfig): RuntimeConfig {
  const s = runtimeSection(cfg);
  const flotillaShim = flotillaShimLauncher();
  return {
    stateDir: join(cfg.state, RUNTIME_PLUGIN),
    rootDir: join(cfg.root, RUNTIME_PLUGIN),
    grpcAddress: cfg.grpc.address,
    ttrpcAddress: ttrpcAddress(cfg),
    ttrpcUid: cfg.ttrpc.uid,
    ttrpcGid: cfg.ttrpc.gid,
    runtimes: { ...defaultRuntimes(flotillaShim), ...s.runtimes },
    runcRoot: runcRoot(cfg),
    publishBinary: s.publish_binary || defaultPublishBinary(),
    shimDebug: s.shim_debug,
    flotillaShim,
    warmShims: s.warm_shims,
    timeouts: { ...DEFAULT_TIMEOUTS },
  };
}
