/**
 * The runtime service's configuration: containerd's `io.containerd.runtime.v2.task` plugin section
 * (free-form in the config package), with defaults and validation.
 *
 * ```toml
 * [plugins."io.containerd.runtime.v2.task"]
 * # Flotilla: runtime name → shim binary. Names not listed resolve as containerd does
 * # (io.containerd.runc.v2 → containerd-shim-runc-v2 on PATH; an absolute path is used as is).
 * runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }
 * # Flotilla: `root` given to runc shims (Debian's and Flotilla's) whose options leave it empty,
 * # so two daemons on one machine never share runc state. "" leaves runc's default (/run/containerd/runc).
 * runc_root = ""            # default <state>/runc
 * # What shims get as -publish-binary (runc v2 shims publish over ttrpc and never run it).
 * publish_binary = ""       # default: the flotilla command of this checkout
 * shim_debug = false        # pass -debug to shims
 * # Flotilla: idle Flotilla shims kept started, so a task create skips the shim's start-up.
 * warm_shims = 1            # 0 = start every shim cold, as containerd does
 * ```
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '@flotilla/api';
import { ttrpcAddress, type FlotillaConfig } from '@flotilla/config';

/** Plugin id (type.id) of the runtime v2 task manager. */
export const RUNTIME_PLUGIN = 'io.containerd.runtime.v2.task';

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
  /** runc state root for runc shims whose options set none; "" = the shim's default. */
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

/** Extracts and validates the runtime settings; throws InvalidArgument naming the bad key. */
export function runtimeConfig(cfg: FlotillaConfig): RuntimeConfig {
  const raw = cfg.plugins[RUNTIME_PLUGIN];
  const s: Record<string, unknown> = raw && typeof raw === 'object' ? raw : {};
  const runtimes = s.runtimes ?? {};
  if (typeof runtimes !== 'object' || runtimes === null || Array.isArray(runtimes)) bad('runtimes', 'a table of runtime name = binary path', runtimes);
  for (const [name, path] of Object.entries(runtimes)) {
    if (typeof path !== 'string' || !isAbsolute(path)) bad(`runtimes.${JSON.stringify(name)}`, 'an absolute path', path);
  }
  const runcRoot = s.runc_root ?? join(cfg.state, 'runc');
  if (typeof runcRoot !== 'string' || (runcRoot !== '' && !isAbsolute(runcRoot))) bad('runc_root', 'empty or an absolute path', runcRoot);
  const publishBinary = s.publish_binary ?? '';
  if (typeof publishBinary !== 'string' || (publishBinary !== '' && !isAbsolute(publishBinary))) bad('publish_binary', 'empty or an absolute path', publishBinary);
  const shimDebug = s.shim_debug ?? false;
  if (typeof shimDebug !== 'boolean') bad('shim_debug', 'true or false', shimDebug);
  const warmShims = s.warm_shims ?? 1;
  if (typeof warmShims !== 'number' || !Number.isInteger(warmShims) || warmShims < 0 || warmShims > 64) bad('warm_shims', 'an integer from 0 to 64', warmShims);
  const flotillaShim = flotillaShimLauncher();
  return {
    stateDir: join(cfg.state, RUNTIME_PLUGIN),
    rootDir: join(cfg.root, RUNTIME_PLUGIN),
    grpcAddress: cfg.grpc.address,
    ttrpcAddress: ttrpcAddress(cfg),
    ttrpcUid: cfg.ttrpc.uid,
    ttrpcGid: cfg.ttrpc.gid,
    runtimes: { ...defaultRuntimes(flotillaShim), ...(runtimes as Record<string, string>) },
    runcRoot,
    publishBinary: publishBinary || defaultPublishBinary(),
    shimDebug,
    flotillaShim,
    warmShims,
    timeouts: { ...DEFAULT_TIMEOUTS },
  };
}
