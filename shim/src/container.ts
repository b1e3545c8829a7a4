/**
 * One container in the shim: its init process, its exec processes, its bundle, rootfs and runc
 * — the runc shim's `runc.Container` plus `pkg/process` Init/exec state machines
 * (containerd-facts §2.5, §2.8, §2.9).
 *
 * States and their answers follow `pkg/process/{init_state,exec_state,deleted_state}.go`
 * (created → running ⇄ paused → stopped → deleted; an exec: created → running → stopped →
 * deleted), including the error texts containerd users see. State is our own bookkeeping; runc
 * is never asked for it.
 *
 * Exits: see exits.ts. An exit that arrives while that process's Start is still in flight waits
 * until TaskStart/TaskExecStarted has been published, so `/tasks/exit` never overtakes them. On an
 * exit the process becomes stopped, `/tasks/exit` is published, and only then are Wait calls
 * answered (after the event was delivered, or 2 s at most).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, FlotillaError, failedPrecondition, messageOf, notFound } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import { mountAll, unmountAll, type ExitInfo, type Sys } from '@flotilla/sys';
import { cgroupDirsOf, type CgroupDirs, type OomWatcher } from './cgroups.js';
import { timestamp, type EventName } from './events.js';
import type { ExitRouter } from './exits.js';
import { RUNC_ROOT, Runc, RuncError, killError, readPidFile } from './runc.js';
import { ProcessIO, type StdioConfig } from './stdio.js';

/** What a container needs from the shim around it. */
export interface ContainerEnv {
  namespace: string;
  sys: Sys;
  logger: Logger;
  exits: ExitRouter;
  /** Queues an event; resolves once delivered (or dropped). */
  publish(name: EventName, payload: object): Promise<void>;
  oom?: OomWatcher;
}

/** `containerd.runc.v1.Options` as decoded (snake_case, proto3 defaults filled in). */
export interface RuncOptions {
  no_pivot_root?: boolean;
  no_new_keyring?: boolean;
  shim_cgroup?: string;
  io_uid?: number;
  io_gid?: number;
  binary_name?: string;
  root?: string;
  criu_path?: string;
  systemd_cgroup?: boolean;
  criu_image_path?: string;
  criu_work_path?: string;
}

/** A containerd mount record (CreateTaskRequest.rootfs). */
export interface MountSpec {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** What Create is asked for. */
export interface CreateConfig {
  id: string;
  bundle: string;
  rootfs: MountSpec[];
  stdio: StdioConfig;
  options: RuncOptions;
}

/** Status names as State reports them. */
export type Status = 'created' | 'running' | 'stopped' | 'paused' | 'pausing';

/** `containerd.v1.types.Status` numbers. */
export const STATUS_NUMBER: Record<Status, number> = { created: 1, running: 2, stopped: 3, paused: 4, pausing: 5 };

/** A plain error with no kind (Go's errors.New → gRPC Unknown). */
function plain(message: string): FlotillaError {
  return new FlotillaError(Code.Unknown, message);
}

function after(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Runs async operations one at a time (the Go shim's per-process mutex). */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** What init and exec processes share. */
export abstract class ShimProcess {
  pid = 0;
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: ProcessIO | undefined;
  /** A Start is running; an exit that arrives now waits for it. */
  startInFlight = false;
  deferredExit: ExitInfo | undefined;
  private released = false;
  private waiters: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly stdio: StdioConfig,
  ) {}

  /** The status State reports. */
  abstract status(): Status;

  /** Resolves when the process has exited and its exit was published (or could never start). */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.released) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new FlotillaError(Code.Canceled, 'context canceled'));
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  /** Answers every Wait. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const w of this.waiters.splice(0)) w();
  }
}

/** A container's init process. */
export class InitProcess extends ShimProcess {
  state: 'created' | 'running' | 'paused' | 'stopped' | 'deleted' = 'created';
  pausing = false;

  status(): Status {
    if (this.pausing) return 'pausing';
    return this.state === 'deleted' ? 'stopped' : this.state;
  }
}

/** An exec process. */
export class ExecProcess extends ShimProcess {
  state: 'created' | 'running' | 'stopped' | 'deleted' = 'created';

  constructor(
    id: string,
    stdio: StdioConfig,
    readonly spec: Record<string, unknown>,
    private readonly parent: InitProcess,
  ) {
    super(id, stdio);
  }

  status(): Status {
    const p = this.parent.status();
    if (p === 'paused' || p === 'pausing') return p;
    return this.state === 'deleted' ? 'stopped' : this.state;
  }
}

/** Whether the bundle's spec has no pid namespace of its own (then exec processes outlive init). */
function sharesPidNamespace(bundle: string): boolean {
  try {
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
      linux?: { namespaces?: { type?: string; path?: string }[] };
    };
    return !(spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !ns.path);
  } catch {
    return true;
  }
}

/** The options as `options.json` holds them (Go's json.Marshal: snake_case, zero values omitted). */
function optionsJson(o: RuncOptions): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '' && v !== 0 && v !== false) out[k] = v;
  return JSON.stringify(out);
}

/** One container; create it with {@link Container.create}. */
export class Container {
  readonly init: InitProcess;
  readonly execs = new Map<string, ExecProcess>();
  private readonly serial = new Serial();
  cgroups: CgroupDirs = new Map();
  private killAllOnExit = false;

  private constructor(
    readonly id: string,
    readonly bundle: string,
    /** `<bundle>/rootfs` when the shim mounted the rootfs, else ''. */
    readonly rootfs: string,
    readonly runc: Runc,
    readonly options: RuncOptions,
    private readonly env: ContainerEnv,
    stdio: StdioConfig,
  ) {
    this.init = new InitProcess(id, stdio);
  }

  /**
   * Create: records the options in the bundle (`options.json`, `runtime`), mounts the rootfs on
   * `<bundle>/rootfs`, prepares stdio and runs `runc create`. On failure nothing is left behind.
   */
  static async create(cfg: CreateConfig, env: ContainerEnv): Promise<Container> {
    const o = cfg.options;
    writeFileSync(join(cfg.bundle, 'options.json'), optionsJson(o), { mode: 0o600 });
    writeFileSync(join(cfg.bundle, 'runtime'), o.binary_name ?? '', { mode: 0o600 });
    const rootfs = cfg.rootfs.length > 0 ? join(cfg.bundle, 'rootfs') : '';
    const runc = new Runc({
      command: o.binary_name || undefined,
      root: join(o.root || RUNC_ROOT, env.namespace),
      log: join(cfg.bundle, 'log.json'),
      systemdCgroup: o.systemd_cgroup,
    });
    const c = new Container(cfg.id, cfg.bundle, rootfs, runc, o, env, cfg.stdio);
    let mounted = false;
    let io: ProcessIO | undefined;
    let created = false;
    try {
      if (rootfs) {
        mkdirSync(rootfs, { mode: 0o711, recursive: true });
        try {
          await mountAll(
            cfg.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
            rootfs,
            env.sys,
          );
        } catch (err) {
          throw plain(`failed to mount rootfs component: ${messageOf(err)}`);
        }
        mounted = true;
      }
      io = await ProcessIO.open(cfg.stdio, {
        id: cfg.id,
        namespace: env.namespace,
        pipeDir: cfg.bundle,
        sys: env.sys,
        logger: env.logger,
        owner: { uid: o.io_uid ?? 0, gid: o.io_gid ?? 0 },
      });
      c.init.io = io;
      const pidFile = join(cfg.bundle, 'init.pid');
      await env.exits.during(async () => {
        try {
          await runc.create(cfg.id, cfg.bundle, {
            pidFile,
            consoleSocket: io!.consoleSocketPath,
            noPivot: o.no_pivot_root,
            noNewKeyring: o.no_new_keyring,
            stdio: io!.runcStdio,
          });
        } catch (err) {
          throw runc.runtimeError(err, 'OCI runtime create failed');
        } finally {
          io!.closeChildFds();
        }
        created = true;
        await io!.started();
        c.init.pid = readPidFile(pidFile);
        env.exits.watch(c.init.pid, (e) => c.onExit(c.init, e));
      });
      c.killAllOnExit = sharesPidNamespace(cfg.bundle);
      try {
        c.cgroups = cgroupDirsOf(c.init.pid);
      } catch (err) {
        env.logger.warn({ id: cfg.id, err: messageOf(err) }, 'loading cgroup');
      }
      return c;
    } catch (err) {
      if (created) await runc.delete(cfg.id, { force: true }).catch(() => undefined);
      if (c.init.pid) env.exits.unwatch(c.init.pid);
      await io?.close();
      if (mounted) await unmountAll(rootfs, 0, env.sys).catch(() => undefined);
      throw err;
    }
  }

  /** The init (`execId` '') or an exec process. */
  process(execId: string): ShimProcess {
    if (!execId) return this.init;
    const p = this.execs.get(execId);
    if (!p) throw notFound(`process does not exist ${execId}`);
    return p;
  }

  /** All pids we know of (init and execs). */
  get pids(): number[] {
    return [this.init.pid, ...[...this.execs.values()].map((e) => e.pid)].filter((p) => p > 0);
  }

  // ---- exits ----

  private onExit(p: ShimProcess, e: ExitInfo): void {
    if (p.startInFlight) {
      p.deferredExit = e;
      return;
    }
    void this.handleExit(p, e);
  }

  private async handleExit(p: ShimProcess, e: ExitInfo): Promise<void> {
    if (p === this.init && this.killAllOnExit) {
      await this.runc.kill(this.id, 9, { all: true }).catch((err: unknown) => {
        this.env.logger.debug({ id: this.id, err: messageOf(err) }, "failed to kill init's children");
      });
    }
    if (p instanceof InitProcess) {
      if (p.state === 'deleted' || p.state === 'stopped') return;
      if (p.state === 'paused') {
        // The runc shim resumes a container whose init died while paused.
        void this.runc.resume(this.id).catch(() => undefined);
      }
      p.state = 'stopped';
      p.pausing = false;
    } else if (p instanceof ExecProcess) {
      if (p.state === 'deleted' || p.state === 'stopped') return;
      p.state = 'stopped';
    }
    p.exitStatus = e.exitStatus;
    p.exitedAt = e.exitedAt;
    p.io?.processExited();
    const delivered = this.env.publish('TaskExit', {
      container_id: this.id,
      id: p.id,
      pid: e.pid,
      exit_status: e.exitStatus,
      exited_at: timestamp(e.exitedAt),
    });
    await Promise.race([delivered, after(2000)]);
    p.release();
  }

  private finishStart(p: ShimProcess): void {
    p.startInFlight = false;
    const e = p.deferredExit;
    p.deferredExit = undefined;
    if (e) void this.handleExit(p, e);
  }

  // ---- init operations ----

  /** Start of the init: `runc start`, then TaskStart. */
  startInit(): Promise<number> {
    const p = this.init;
    return this.serial.run(async () => {
      switch (p.state) {
        case 'created':
          break;
        case 'deleted':
          throw plain('cannot start a deleted process');
        default:
          throw plain(`cannot start a ${p.state} process`);
      }
      p.startInFlight = true;
      try {
        try {
          await this.runc.start(this.id);
        } catch (err) {
          throw this.runc.runtimeError(err, 'OCI runtime start failed');
        }
        if (p.state === 'created') p.state = 'running';
        if (this.cgroups.has('memory')) this.env.oom?.add(this.id, this.cgroups.get('memory')!);
        void this.env.publish('TaskStart', { container_id: this.id, pid: p.pid });
        return p.pid;
      } finally {
        this.finishStart(p);
      }
    });
  }

  /**
   * Delete of the init: waits (≤ 2 s) for the output to drain, `runc delete`, closes stdio,
   * unmounts the rootfs. A created task is killed by runc delete: its exit (137) is published
   * before this returns.
   */
  deleteInit(): Promise<InitProcess> {
    const p = this.init;
    return this.serial.run(async () => {
      switch (p.state) {
        case 'running':
          throw plain('cannot delete a running process');
        case 'paused':
          throw plain('cannot delete a paused process');
        case 'deleted':
          throw notFound('cannot delete a deleted process');
        default:
          break;
      }
      const wasCreated = p.state === 'created';
      const t0 = performance.now();
      const lap = (what: string) => this.env.logger.debug({ task: this.id, step: what, ms: Math.round(performance.now() - t0) }, 'delete');
      await p.io?.waitOutput(2000);
      lap('output drained');
      let error: Error | undefined;
      try {
        await this.runc.delete(this.id);
      } catch (err) {
        const text = err instanceof RuncError ? `${err.message}\n${err.output}` : messageOf(err);
        if (!text.includes('does not exist')) error = this.runc.runtimeError(err, 'failed to delete task');
      }
      lap('runc delete');
      if (wasCreated && p.pid > 0) await Promise.race([p.wait(), after(2000)]);
      await p.io?.close();
      lap('io closed');
      if (this.rootfs) {
        try {
          await unmountAll(this.rootfs, 0, this.env.sys);
        } catch (err) {
          this.env.logger.warn({ id: this.id, err: messageOf(err) }, 'failed to cleanup rootfs mount');
          error ??= plain(`failed rootfs umount: ${messageOf(err)}`);
        }
      }
      lap('unmounted');
      if (error) throw error;
      p.state = 'deleted';
      if (p.pid) this.env.exits.unwatch(p.pid);
      this.env.oom?.remove(this.id);
      return p;
    });
  }

  /** Kill: `runc kill [--all]` for the init, kill(2) for an exec. */
  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    if (p instanceof InitProcess) {
      if (p.state === 'deleted') throw notFound('cannot kill a deleted process');
      try {
        await this.runc.kill(this.id, signal, { all });
      } catch (err) {
        throw killError(err);
      }
      return;
    }
    const e = p as ExecProcess;
    if (e.state === 'deleted') throw notFound('cannot kill a deleted process');
    if (e.pid === 0) throw failedPrecondition('process not created');
    if (e.exitedAt) throw notFound('process already finished');
    try {
      process.kill(e.pid, signal);
    } catch (err) {
      const k = killError(err);
      throw new FlotillaError(k.message.startsWith('unknown') ? Code.Unknown : Code.NotFound, `exec kill error: ${k.message}`, { cause: err });
    }
  }

  /** Pause: `runc pause` (State says pausing meanwhile). */
  pause(): Promise<void> {
    const p = this.init;
    return this.serial.run(async () => {
      switch (p.state) {
        case 'running':
          break;
        case 'created':
          throw plain('cannot pause task in created state');
        case 'paused':
          throw plain('cannot pause a paused container');
        case 'stopped':
          throw plain('cannot pause a stopped container');
        default:
          throw plain('cannot pause a deleted process');
      }
      p.pausing = true;
      try {
        await this.runc.pause(this.id);
      } catch (err) {
        throw this.runc.runtimeError(err, 'OCI runtime pause failed');
      } finally {
        p.pausing = false;
      }
      if (p.state === 'running') p.state = 'paused';
    });
  }

  /** Resume: `runc resume`. */
  resume(): Promise<void> {
    const p = this.init;
    return this.serial.run(async () => {
      switch (p.state) {
        case 'paused':
          break;
        case 'created':
          throw plain('cannot resume task in created state');
        case 'running':
          throw plain('cannot resume a running process');
        case 'stopped':
          throw plain('cannot resume a stopped container');
        default:
          throw plain('cannot resume a deleted process');
      }
      try {
        await this.runc.resume(this.id);
      } catch (err) {
        throw this.runc.runtimeError(err, 'OCI runtime resume failed');
      }
      if (p.state === 'paused') p.state = 'running';
    });
  }

  /** Update: `runc update --resources -` with the LinuxResources JSON. */
  update(resources: Buffer): Promise<void> {
    const p = this.init;
    return this.serial.run(async () => {
      if (p.state === 'stopped') throw plain('cannot update a stopped container');
      if (p.state === 'deleted') throw plain('cannot update a deleted process');
      try {
        JSON.parse(resources.toString('utf8'));
      } catch (err) {
        throw new FlotillaError(Code.InvalidArgument, `invalid LinuxResources: ${messageOf(err)}`);
      }
      try {
        await this.runc.update(this.id, resources);
      } catch (err) {
        throw this.runc.runtimeError(err, 'OCI runtime update failed');
      }
    });
  }

  /** Pids: `runc ps`. */
  ps(): Promise<number[]> {
    return this.runc.ps(this.id);
  }

  // ---- exec processes ----

  /** Exec: records the process (runc runs at its Start). */
  exec(execId: string, stdio: StdioConfig, specJson: Buffer): Promise<ExecProcess> {
    const p = this.init;
    return this.serial.run(async () => {
      if (this.execs.has(execId)) throw new FlotillaError(Code.AlreadyExists, `id ${execId}: already exists`);
      switch (p.state) {
        case 'created':
        case 'running':
          break;
        default:
          throw plain(`cannot exec in a ${p.state} state`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(specJson.toString('utf8'));
      } catch (err) {
        // The runc shim returns json.Unmarshal's error as is (kind Unknown).
        throw plain(messageOf(err));
      }
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
        const kind = Array.isArray(parsed) ? 'array' : typeof parsed === 'boolean' ? 'bool' : typeof parsed;
        throw plain(`json: cannot unmarshal ${kind} into Go value of type specs.Process`);
      }
      const spec = (parsed ?? {}) as Record<string, unknown>;
      spec.terminal = stdio.terminal;
      const e = new ExecProcess(execId, stdio, spec, p);
      this.execs.set(execId, e);
      return e;
    });
  }

  /** Start of an exec: `runc exec --detach`, then TaskExecStarted. */
  async startExec(e: ExecProcess): Promise<number> {
    switch (e.state) {
      case 'created':
        break;
      case 'deleted':
        throw plain('cannot start a deleted process');
      default:
        throw plain(`cannot start a ${e.state} process`);
    }
    if (e.startInFlight) throw plain('cannot start a running process');
    e.startInFlight = true;
    try {
      const io = await ProcessIO.open(e.stdio, {
        id: e.id,
        namespace: this.env.namespace,
        pipeDir: this.bundle,
        sys: this.env.sys,
        logger: this.env.logger,
        owner: { uid: this.options.io_uid ?? 0, gid: this.options.io_gid ?? 0 },
      });
      e.io = io;
      const pidFile = join(this.bundle, `${e.id}.pid`);
      await this.env.exits.during(async () => {
        try {
          await this.runc.exec(this.id, e.spec, { pidFile, consoleSocket: io.consoleSocketPath, stdio: io.runcStdio });
        } catch (err) {
          await io.close();
          e.release();
          throw this.runc.runtimeError(err, 'OCI runtime exec failed');
        } finally {
          io.closeChildFds();
        }
        await io.started();
        e.pid = readPidFile(pidFile);
        this.env.exits.watch(e.pid, (x) => this.onExit(e, x));
      });
      if (e.state === 'created') e.state = 'running';
      void this.env.publish('TaskExecStarted', { container_id: this.id, exec_id: e.id, pid: e.pid });
      return e.pid;
    } finally {
      this.finishStart(e);
    }
  }

  /** Delete of an exec: closes its stdio and forgets it. */
  async deleteExec(e: ExecProcess): Promise<ExecProcess> {
    switch (e.state) {
      case 'running':
        throw plain('cannot delete a running process');
      case 'deleted':
        throw notFound('cannot delete a deleted process');
      default:
        break;
    }
    await e.io?.waitOutput(2000);
    await e.io?.close();
    rmSync(join(this.bundle, `${e.id}.pid`), { force: true });
    e.state = 'deleted';
    if (e.pid) this.env.exits.unwatch(e.pid);
    this.execs.delete(e.id);
    return e;
  }

  /** ResizePty of the init or an exec. */
  resize(execId: string, width: number, height: number): void {
    const p = this.process(execId);
    if (p instanceof ExecProcess) {
      if (p.state === 'stopped') throw plain('cannot resize a stopped container');
      if (p.state === 'deleted') throw plain('cannot resize a deleted process');
    }
    p.io?.resize(width, height);
  }
}
