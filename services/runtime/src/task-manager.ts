/**
 * The task manager: bundles, shim processes and the connections to them (containerd's
 * `runtime/v2/manager.go` TaskManager, `shim.go`, `shim_load.go`).
 *
 * State lives on disk and in the shims, never only in this process: a task exists while its
 * bundle does and has an `address`; any runtime process (a restarted one, or a replica) can
 * reconnect to it. What this process keeps is a cache of open connections, each watched: when a
 * shim's connection drops without us asking, the shim is gone, and the task is cleaned up as
 * containerd does after a dead shim (`<shim> delete`, then `/tasks/exit` and `/tasks/delete`,
 * then the bundle is removed).
 *
 * Who tears a task down is decided by the `.flotilla-teardown` claim file in the bundle (created
 * exclusively), so a Delete racing a dead-shim cleanup — in this process or in two replicas —
 * tears down and publishes once.
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { basename } from 'node:path';
import type protobuf from 'protobufjs';
import { Code, FlotillaError, alreadyExists, codeOf, isCode, messageOf, unavailable } from '@flotilla/api';
import type { EventPayload } from '@flotilla/bus';
import type { Logger } from '@flotilla/log';
import { socketAccepts, socketPath } from '@flotilla/ttrpc';
import {
  BUNDLE_FILES,
  bundleExists,
  claimTeardown,
  createBundle,
  deleteBundle,
  listBundles,
  loadBundle,
  readBundleFile,
  removeDeleteLeftovers,
  teardownClaimed,
  writeBundleFile,
  type Bundle,
} from './bundle.js';
import type { RuntimeConfig } from './config.js';
import { deleteShim, encodeAnyMessage, resolveRuntimePath, startShim, type ShimCommand } from './shim-binary.js';
import { WarmShims } from './warm-shims.js';
import { openShimLog } from './shim-log.js';
import { ShimTask } from './shim-task.js';
import { nowTimestamp } from './timestamps.js';
import type { AnyValue, ExitInfo, Mount } from './types.js';

/** Publishes a containerd event on the bus. */
export type Publish = (topic: string, namespace: string, event: EventPayload) => void;

/** Settings and collaborators of a TaskManager. */
export interface TaskManagerOptions {
  config: RuntimeConfig;
  /** protobufjs root with the shim API and the runc options. */
  root: protobuf.Root;
  log: Logger;
  publish: Publish;
  /** The runtime name of a container, for bundles without `shim-binary-path` (recovery only). */
  containerRuntime?: (namespace: string, id: string) => Promise<string>;
}

/** What creating a task needs. */
export interface CreateTaskOptions {
  namespace: string;
  id: string;
  /** The OCI spec, JSON. */
  spec: Uint8Array;
  /** Runtime name (`io.containerd.runc.v2`) or absolute shim path. */
  runtime: string;
  /** Options for the shim: the task's, else the container's runtime options. */
  options?: AnyValue;
  rootfs: Mount[];
  io: { stdin: string; stdout: string; stderr: string; terminal: boolean };
  signal?: AbortSignal;
}

const RUNC_OPTIONS = 'containerd.runc.v1.Options';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One connected task. */
interface Entry {
  task: ShimTask;
  /** Set once we tear it down on purpose: its connection closing is then expected. */
  removing: boolean;
  /**
   * Resolves with the exit reported by the cleanup if the shim dies (or with the exit of a
   * delete); rejects with Unavailable if only our connection to a live shim was lost.
   */
  dead: Deferred<ExitInfo>;
}

const key = (ns: string, id: string) => `${ns}\u0000${id}`;

/** The exit containerd reports when even `<shim> delete` failed. */
const unknownExit = (): ExitInfo => ({ pid: 0, exit_status: 255, exited_at: nowTimestamp() });

/** Runs `fn`, giving up (without cancelling it) after `ms`. */
async function within<T>(ms: number, fn: Promise<T>): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([fn, new Promise<undefined>((res) => (t = setTimeout(() => res(undefined), ms)))]);
  clearTimeout(t);
  return r;
}

/** Bundles, shims and connections of this runtime process. */
export class TaskManager {
  private readonly entries = new Map<string, Entry>();
  /** Tasks being created or loaded by this process. */
  private readonly busy = new Map<string, Promise<Entry | undefined>>();
  private stopping = false;
  private readonly log: Logger;

  /** Flotilla shims started ahead of their tasks. */
  private readonly warm: WarmShims;

  constructor(private readonly o: TaskManagerOptions) {
    this.log = o.log;
    const c = o.config;
    this.warm = new WarmShims({ launcher: c.flotillaShim, size: c.warmShims, grpcAddress: c.grpcAddress, ttrpcAddress: c.ttrpcAddress, log: o.log.child({ component: 'warm-shims' }) });
  }

  private command(b: Bundle, binary: string): ShimCommand {
    const c = this.o.config;
    return {
      binary,
      namespace: b.namespace,
      id: b.id,
      bundle: b.path,
      grpcAddress: c.grpcAddress,
      ttrpcAddress: c.ttrpcAddress,
      publishBinary: c.publishBinary,
      debug: c.shimDebug,
    };
  }

  /**
   * Gives runc shims (Debian's and Flotilla's, which read the same options) our runc root when
   * their options name none (RuntimeConfig.runcRoot): a containerd on the same machine uses
   * runc's default root, and the same namespace and container id there must not collide.
   */
  private shimOptions(binary: string, flotillaShim: boolean, options: AnyValue | undefined): AnyValue | undefined {
    const runcRoot = this.o.config.runcRoot;
    if (!runcRoot || !(flotillaShim || /^containerd-shim-runc-v[12]$/.test(basename(binary)))) return options;
    if (options && options.type_url !== RUNC_OPTIONS) return options;
    const type = this.o.root.lookupType(RUNC_OPTIONS);
    const fields = options ? (type.toObject(type.decode(options.value), { longs: Number }) as Record<string, unknown>) : {};
    if (fields.root) return options;
    const value = type.encode(type.fromObject({ ...fields, root: runcRoot })).finish();
    return { type_url: RUNC_OPTIONS, value };
  }

  private register(task: ShimTask): Entry {
    const e: Entry = { task, removing: false, dead: deferred<ExitInfo>() };
    this.entries.set(key(task.namespace, task.id), e);
    void task.closed.then(() => {
      if (this.stopping || e.removing) return;
      void this.onShimGone(e);
    });
    return e;
  }

  private forget(e: Entry): void {
    const k = key(e.task.namespace, e.task.id);
    if (this.entries.get(k) === e) this.entries.delete(k);
  }

  /** The connection to a live shim dropped: clean up as containerd's cleanupAfterDeadShim. */
  private async onShimGone(e: Entry): Promise<void> {
    const { task } = e;
    // The entry stays until the cleanup is done: calls on it meanwhile fail as NotFound (closed).
    task.close();
    // Only a shim that no longer listens is dead; a lost connection to a live one is re-made on next use.
    await new Promise((r) => setTimeout(r, 100));
    if (await socketAccepts(socketPath(task.address), 1000)) {
      this.log.error({ id: task.id, namespace: task.namespace }, 'connection to a live shim lost; reconnecting on next use');
      this.forget(e);
      e.dead.reject(unavailable(`connection to the shim of task ${task.id} lost`));
      return;
    }
    this.log.warn({ id: task.id, namespace: task.namespace }, 'shim disconnected; cleaning up');
    if (!claimTeardown(task.bundle, 'dead-shim')) {
      this.forget(e);
      e.dead.resolve(unknownExit());
      return;
    }
    const exit = await this.cleanupDeadShim(task.bundle, task.binary, true);
    this.forget(e);
    e.dead.resolve(exit);
  }

  /**
   * `<shim> delete` in the bundle, `/tasks/exit` + `/tasks/delete` (when `publish`), then the
   * bundle is removed. The caller holds the teardown claim.
   */
  private async cleanupDeadShim(b: Bundle, binary: string | undefined, publish: boolean): Promise<ExitInfo> {
    let exit = unknownExit();
    if (binary) {
      try {
        const r = await deleteShim(this.command(b, binary), this.o.root, this.o.config.timeouts.cleanup);
        exit = r.exit;
        if (r.warnings) this.log.warn({ id: b.id, namespace: b.namespace, warnings: r.warnings }, 'cleanup warnings');
      } catch (err) {
        this.log.warn({ id: b.id, namespace: b.namespace, err: messageOf(err) }, 'failed to clean up after shim disconnected');
      }
    }
    await this.removeStaleSocket(b);
    if (publish) {
      this.o.publish('/tasks/exit', b.namespace, {
        type_url: 'containerd.events.TaskExit',
        value: { container_id: b.id, id: b.id, pid: exit.pid, exit_status: exit.exit_status, exited_at: exit.exited_at },
      });
      this.o.publish('/tasks/delete', b.namespace, {
        type_url: 'containerd.events.TaskDelete',
        value: { container_id: b.id, pid: exit.pid, exit_status: exit.exit_status, exited_at: exit.exited_at },
      });
    }
    try {
      await deleteBundle(b);
    } catch (err) {
      this.log.error({ id: b.id, namespace: b.namespace, err: messageOf(err) }, 'failed to delete bundle');
    }
    return exit;
  }

  /** A shim killed outright leaves its socket file behind: remove it once nothing listens there. */
  private async removeStaleSocket(b: Bundle): Promise<void> {
    const address = readBundleFile(b, BUNDLE_FILES.address)?.trim();
    if (!address) return;
    const path = socketPath(address);
    try {
      if (!lstatSync(path).isSocket() || (await socketAccepts(path, 500))) return;
      unlinkSync(path);
    } catch {
      /* gone already */
    }
  }

  /**
   * Creates task `id`: bundle, shim start, connection, shim `Create` (containerd's
   * TaskManager.Create). Nothing is left behind when a step fails.
   */
  async create(c: CreateTaskOptions): Promise<{ task: ShimTask; pid: number }> {
    const k = key(c.namespace, c.id);
    if (this.entries.has(k) || this.busy.has(k)) throw alreadyExists(`task ${c.id}`);
    const done = deferred<Entry | undefined>();
    this.busy.set(k, done.promise);
    try {
      const r = await this.createLocked(c);
      done.resolve(this.entries.get(k));
      return r;
    } catch (err) {
      done.resolve(undefined);
      throw err;
    } finally {
      this.busy.delete(k);
    }
  }

  private async createLocked(c: CreateTaskOptions): Promise<{ task: ShimTask; pid: number }> {
    let binary: string;
    try {
      binary = resolveRuntimePath(c.runtime, this.o.config.runtimes);
    } catch (err) {
      throw new FlotillaError(codeOf(err), `failed to start shim: failed to resolve runtime path: ${messageOf(err)}`, { cause: err });
    }
    const b = createBundle(this.o.config, c.namespace, c.id, c.spec);
    const log = this.log.child({ id: c.id, namespace: c.namespace });
    let shimLog;
    try {
      shimLog = openShimLog(b, log);
    } catch (err) {
      await deleteBundle(b).catch(() => undefined);
      throw err;
    }
    const flotillaShim = this.warm.isFlotillaShim(binary);
    const options = this.shimOptions(binary, flotillaShim, c.options);
    const cmd = this.command(b, binary);
    let task: ShimTask;
    try {
      // Not cancelled with the call: killing `start` midway could leave a daemonized shim nobody knows.
      const encoded = options ? encodeAnyMessage(options) : undefined;
      const started = (flotillaShim ? await this.warm.start(cmd, encoded) : undefined) ?? (await startShim(cmd, encoded));
      try {
        task = await ShimTask.connect(b, binary, started.address, this.o.root, { shimLog, timeoutMs: this.o.config.timeouts.load });
      } catch (err) {
        await deleteShim(cmd, this.o.root, this.o.config.timeouts.cleanup).catch(() => undefined);
        throw err;
      }
      writeBundleFile(b, BUNDLE_FILES.shimBinaryPath, binary);
    } catch (err) {
      shimLog.close();
      await deleteBundle(b).catch((e) => log.warn({ err: messageOf(e) }, 'failed to delete bundle'));
      throw new FlotillaError(codeOf(err), `failed to start shim: ${messageOf(err)}`, { cause: err });
    }
    const entry = this.register(task);
    try {
      const pid = await task.create({ rootfs: c.rootfs, ...c.io, options }, { signal: c.signal });
      return { task, pid };
    } catch (err) {
      entry.removing = true;
      entry.dead.resolve(unknownExit());
      this.forget(entry);
      if (claimTeardown(b, 'create-failed')) {
        const t = this.o.config.timeouts;
        await within(t.cleanup, task.delete('', { timeoutMs: t.cleanup }).catch(() => undefined));
        await within(t.shutdown, task.shutdown({ timeoutMs: t.shutdown }).catch(() => undefined));
        task.close();
        await deleteBundle(b).catch((e) => log.warn({ err: messageOf(e) }, 'failed to delete bundle'));
      } else {
        task.close();
      }
      throw new FlotillaError(codeOf(err), `failed to create shim task: ${messageOf(err)}`, { cause: err });
    }
  }

  /** The connected task `id`, reconnecting to its shim if another process started it; NotFound otherwise. */
  async get(ns: string, id: string): Promise<ShimTask> {
    const e = await this.entry(ns, id);
    if (!e) throw new FlotillaError(Code.NotFound, `task ${id} not found`);
    return e.task;
  }

  /** Whether task `id` exists (connected, or being created here). */
  has(ns: string, id: string): boolean {
    const k = key(ns, id);
    return this.entries.has(k) || this.busy.has(k);
  }

  private async entry(ns: string, id: string): Promise<Entry | undefined> {
    const k = key(ns, id);
    const e = this.entries.get(k);
    if (e) return e;
    // Being created or loaded here: the answer is what that ends with.
    const pending = this.busy.get(k);
    if (pending) return pending;
    const b = loadBundle(this.o.config, ns, id);
    if (!bundleExists(b) || teardownClaimed(b) || readBundleFile(b, BUNDLE_FILES.address) === undefined) return undefined;
    const loading = this.loadOne(b, false);
    this.busy.set(k, loading);
    try {
      return await loading;
    } finally {
      this.busy.delete(k);
    }
  }

  /** Every task of namespace `ns` (from the bundles on disk, so tasks of other replicas count). */
  async list(ns: string): Promise<ShimTask[]> {
    const ids = new Set(listBundles(this.o.config, ns).map((b) => b.id));
    for (const e of this.entries.values()) if (e.task.namespace === ns) ids.add(e.task.id);
    const out: ShimTask[] = [];
    for (const id of [...ids].sort()) {
      const e = await this.entry(ns, id).catch(() => undefined);
      if (e) out.push(e.task);
    }
    return out;
  }

  /** Resolves with the exit the dead-shim cleanup found, if the shim of this task dies. */
  deadExit(task: ShimTask): Promise<ExitInfo> {
    const e = this.entries.get(key(task.namespace, task.id));
    return e && e.task === task ? e.dead.promise : new Promise<ExitInfo>(() => undefined);
  }

  /**
   * Deletes task `id` (containerd's shimTask.delete): shim `Delete` (the shim publishes
   * `/tasks/exit` if it never ran, and `/tasks/delete`), shim `Shutdown`, connection closed,
   * bundle removed. A shim error other than NotFound leaves everything as it was.
   */
  async delete(ns: string, id: string, signal?: AbortSignal): Promise<ExitInfo> {
    const e = await this.entry(ns, id);
    if (!e) throw new FlotillaError(Code.NotFound, `task ${id} not found`);
    const { task } = e;
    let exit: ExitInfo | undefined;
    let shimErr: unknown;
    try {
      exit = await task.delete('', { signal });
    } catch (err) {
      if (task.isClosed) {
        // The shim died under us: the dead-shim cleanup reports how the task ended.
        const dead = await within(this.o.config.timeouts.cleanup * 2, e.dead.promise.catch(() => undefined));
        if (dead) return dead;
        throw err;
      }
      if (!isCode(err, Code.NotFound)) throw err;
      shimErr = err;
    }
    e.removing = true;
    e.dead.resolve(exit ?? unknownExit());
    this.forget(e);
    if (claimTeardown(task.bundle, 'delete')) {
      const t = this.o.config.timeouts;
      await within(t.shutdown, task.shutdown({ timeoutMs: t.shutdown }).catch((err) => this.log.warn({ id, err: messageOf(err) }, 'failed to shutdown shim task')));
      task.close();
      await deleteBundle(task.bundle).catch((err) => this.log.error({ id, err: messageOf(err) }, 'failed to delete bundle'));
    } else {
      task.close();
    }
    if (shimErr) throw shimErr;
    return exit!;
  }

  /**
   * Connects to the shim of bundle `b` (containerd's loadShim). A shim that is gone is cleaned up
   * (`<shim> delete`; `/tasks/exit` + `/tasks/delete` when it had started, i.e. wrote `address`)
   * and undefined returned. Outside start-up, a shim that still listens but does not answer in
   * time is left alone.
   */
  private async loadOne(b: Bundle, atStart: boolean): Promise<Entry | undefined> {
    const log = this.log.child({ id: b.id, namespace: b.namespace });
    let binary = readBundleFile(b, BUNDLE_FILES.shimBinaryPath)?.trim() || undefined;
    if (!binary && this.o.containerRuntime) {
      try {
        binary = resolveRuntimePath(await this.o.containerRuntime(b.namespace, b.id), this.o.config.runtimes);
      } catch (err) {
        log.warn({ err: messageOf(err) }, 'cannot resolve the runtime of a bundle without shim-binary-path');
      }
    }
    const address = readBundleFile(b, BUNDLE_FILES.address)?.trim();
    if (address) {
      try {
        const task = await ShimTask.connect(b, binary ?? '', address, this.o.root, { timeoutMs: this.o.config.timeouts.load });
        try {
          await task.connectInfo({ timeoutMs: this.o.config.timeouts.load });
        } catch (err) {
          task.close();
          throw err;
        }
        if (teardownClaimed(b)) {
          task.close();
          return undefined;
        }
        try {
          task.attachLog(openShimLog(b, log));
        } catch (err) {
          log.warn({ err: messageOf(err) }, 'cannot open the shim log');
        }
        const k = key(b.namespace, b.id);
        const existing = this.entries.get(k);
        if (existing) {
          task.close();
          return existing;
        }
        if (atStart) log.info({ address }, 'reconnected to shim');
        return this.register(task);
      } catch (err) {
        if (!atStart && (await socketAccepts(socketPath(address)))) {
          // Alive but not answering in time: not ours to clean up now.
          log.warn({ err: messageOf(err) }, 'cannot reach shim');
          return undefined;
        }
        log.warn({ err: messageOf(err) }, 'shim is gone; cleaning up');
      }
    }
    if (!claimTeardown(b, 'dead-shim')) return undefined;
    await this.cleanupDeadShim(b, binary, address !== undefined);
    return undefined;
  }

  /**
   * Recovery at start (containerd's loadShims): removes leftovers of interrupted deletes and
   * teardowns, reconnects to every live shim, and cleans up after the dead ones.
   */
  async load(): Promise<void> {
    removeDeleteLeftovers(this.o.config);
    const work: Promise<unknown>[] = [];
    for (const b of listBundles(this.o.config)) {
      const k = key(b.namespace, b.id);
      if (this.entries.has(k) || this.busy.has(k)) continue;
      if (teardownClaimed(b)) {
        work.push(this.finishTeardown(b));
        continue;
      }
      const p = this.loadOne(b, true).catch((err) => {
        this.log.error({ id: b.id, namespace: b.namespace, err: messageOf(err) }, 'cannot load task');
        return undefined;
      });
      this.busy.set(k, p);
      work.push(p.finally(() => this.busy.delete(k)));
    }
    await Promise.all(work);
    // Idle shims only when the default runtime (ctr's, kubelet's) is Flotilla's shim; otherwise
    // the pool fills once a task uses it.
    const dflt = this.o.config.runtimes['io.containerd.runc.v2'];
    if (dflt && this.warm.isFlotillaShim(dflt)) this.warm.fill();
  }

  /** A teardown interrupted by a crash: stop the shim if it is still there, remove the bundle. */
  private async finishTeardown(b: Bundle): Promise<void> {
    const address = readBundleFile(b, BUNDLE_FILES.address)?.trim();
    const t = this.o.config.timeouts;
    if (address && (await socketAccepts(socketPath(address)))) {
      try {
        const task = await ShimTask.connect(b, '', address, this.o.root, { timeoutMs: t.load });
        await within(t.shutdown, task.shutdown({ timeoutMs: t.shutdown }).catch(() => undefined));
        task.close();
      } catch {
        /* gone meanwhile */
      }
    }
    await deleteBundle(b).catch((err) => this.log.error({ id: b.id, namespace: b.namespace, err: messageOf(err) }, 'failed to delete bundle'));
  }

  /** Closes every connection and log copy; the shims and their containers keep running. */
  close(): void {
    this.stopping = true;
    this.warm.close();
    for (const e of this.entries.values()) e.task.close();
    this.entries.clear();
  }

  /** Number of connected tasks. */
  get size(): number {
    return this.entries.size;
  }
}
