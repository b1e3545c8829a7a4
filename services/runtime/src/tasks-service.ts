/**
 * The Tasks API over the task manager, with containerd 1.6's semantics (`services/tasks/local.go`):
 * a task is looked up through its container record (NotFound for either), errors of the shim keep
 * their kind (e.g. Kill of a finished process: NotFound `process already finished`; Exec with an
 * exec id in use: AlreadyExists `id e1: already exists`), Checkpoint is not implemented.
 */
import { Code, FlotillaError, codeOf, failedPrecondition, invalidArgument, isCode, messageOf, unavailable, unimplemented, validateIdentifier } from '@flotilla/api';
import { adaptObject, parseFilters } from '@flotilla/filters';
import type { Logger } from '@flotilla/log';
import type { ShimTask } from './shim-task.js';
import type { TaskManager } from './task-manager.js';
import { nowTimestamp } from './timestamps.js';
import {
  TaskStatus,
  type AnyValue,
  type Metric,
  type Mount,
  type ProcessState,
  type RuntimeContract,
  type TaskCallContext,
  type TaskService,
} from './types.js';

/** The parts of a container record the runtime reads. */
export interface ContainerRecord {
  id: string;
  runtime: { name: string; options?: AnyValue };
  spec?: AnyValue;
  snapshotter: string;
  snapshot_key: string;
}

/** Reads container records (the metadata service). */
export interface ContainerSource {
  get(ns: string, id: string): Promise<ContainerRecord>;
}

/** Reads snapshot mounts (the metadata service's namespaced view of the snapshotter). */
export interface MountSource {
  mounts(ns: string, snapshotter: string, key: string): Promise<Mount[]>;
}

/** Collaborators of the service. */
export interface LocalTasksOptions {
  manager: TaskManager;
  containers: ContainerSource;
  snapshots: MountSource;
  log: Logger;
  /** Budget of one task's State in Get/List (containerd's `io.containerd.timeout.task.state`, 2 s). */
  stateTimeoutMs?: number;
}

type Res<M extends keyof RuntimeContract> = Promise<RuntimeContract[M]['res']>;
type Req<M extends keyof RuntimeContract> = RuntimeContract[M]['req'];

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument(`${what} must be set`);
  try {
    validateIdentifier(id);
  } catch (err) {
    throw invalidArgument(`${what} ${JSON.stringify(id)}: ${messageOf(err).replace(/: invalid argument$/, '')}`, err);
  }
  return id;
}

function checkNamespace(ctx: TaskCallContext): string {
  if (!ctx.namespace) throw failedPrecondition('namespace is required');
  return checkId(ctx.namespace, 'namespace');
}

/**
 * Why containerd 1.6 would refuse `spec` when it makes the bundle (a `json.Unmarshal` into its
 * `ociSpecUserNS`, a JSON object), or undefined (`null` passes, as in Go). Syntax errors are
 * worded by JavaScript's parser, not Go's.
 */
export function specJsonError(spec: Uint8Array): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(spec.buffer, spec.byteOffset, spec.byteLength).toString('utf8'));
  } catch (err) {
    return messageOf(err);
  }
  if (v === null || (typeof v === 'object' && !Array.isArray(v))) return undefined;
  const kind = Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v;
  return `json: cannot unmarshal ${kind} into Go value of type v2.ociSpecUserNS`;
}

/** A shim error after its connection closed reads as NotFound (containerd: ttrpc.ErrClosed → NotFound). */
function closedAsNotFound(task: ShimTask, err: unknown): unknown {
  return task.isClosed ? new FlotillaError(Code.NotFound, `task ${task.id} not found`, { cause: err }) : err;
}

/** The Tasks API implemented on this runtime process. */
export class LocalTasks implements TaskService {
  private readonly m: TaskManager;
  private readonly log: Logger;
  private readonly stateTimeoutMs: number;
  private stopped = false;
  private readonly stopping: { promise: Promise<never>; reject(err: unknown): void };

  constructor(private readonly o: LocalTasksOptions) {
    this.m = o.manager;
    this.log = o.log;
    this.stateTimeoutMs = o.stateTimeoutMs ?? 2000;
    let reject!: (err: unknown) => void;
    const promise = new Promise<never>((_, r) => (reject = r));
    promise.catch(() => undefined);
    this.stopping = { promise, reject };
  }

  private async task(ns: string, id: string): Promise<ShimTask> {
    await this.o.containers.get(ns, id);
    try {
      return await this.m.get(ns, id);
    } catch (err) {
      if (isCode(err, Code.NotFound)) throw new FlotillaError(Code.NotFound, `task ${id} not found`, { cause: err });
      throw err;
    }
  }

  /** Checks that exec `execId` exists (containerd's `t.Process`: a State call). */
  private async process(task: ShimTask, execId: string | undefined, signal?: AbortSignal): Promise<string> {
    if (!execId) return '';
    try {
      await task.state(execId, { signal, timeoutMs: this.stateTimeoutMs });
    } catch (err) {
      throw closedAsNotFound(task, err);
    }
    return execId;
  }

  /** containerd's getProcessState: NotFound passes, other errors give an UNKNOWN process. */
  private async processState(task: ShimTask, execId: string, signal?: AbortSignal): Promise<ProcessState> {
    try {
      return await task.state(execId, { signal, timeoutMs: this.stateTimeoutMs });
    } catch (err) {
      const e = closedAsNotFound(task, err);
      if (isCode(e, Code.NotFound)) throw e;
      this.log.error({ id: task.id, execId, err: messageOf(err) }, 'get state');
      return { id: execId || task.id, pid: 0, status: TaskStatus.UNKNOWN, stdin: '', stdout: '', stderr: '', terminal: false, exit_status: 0, exited_at: { seconds: 0, nanos: 0 } };
    }
  }

  async create(req: Req<'Tasks.Create'>, ctx: TaskCallContext): Res<'Tasks.Create'> {
    const ns = checkNamespace(ctx);
    const id = checkId(req.container_id, 'container id');
    const container = await this.o.containers.get(ns, id);
    if (req.checkpoint && (req.checkpoint.digest || req.checkpoint.media_type)) throw unimplemented('restoring a task from a checkpoint');
    if (this.m.has(ns, id)) throw new FlotillaError(Code.AlreadyExists, `task ${id}: already exists`);
    if (!container.spec || container.spec.value.length === 0) throw invalidArgument(`container ${JSON.stringify(id)} has no spec`);
    // containerd writes the spec into the bundle first, and fails on one that is not JSON before
    // it resolves the runtime (`ShimManager.Start` → `NewBundle`).
    const specError = specJsonError(container.spec.value);
    if (specError) throw new FlotillaError(Code.Unknown, `failed to start shim: ${specError}`);
    let rootfs: Mount[] = (req.rootfs ?? []).map((m) => ({ type: m.type ?? '', source: m.source ?? '', target: m.target, options: m.options ?? [] }));
    if (rootfs.length === 0 && container.snapshot_key) {
      // (Flotilla's own convenience: containerd never reads the container's snapshot here. A
      // snapshot that does not exist is therefore no error of its own: as with containerd, the
      // task is created on the empty bundle rootfs, and runc says what is missing.)
      try {
        rootfs = await this.o.snapshots.mounts(ns, container.snapshotter, container.snapshot_key);
      } catch (err) {
        if (!isCode(err, Code.NotFound)) throw err;
      }
    }
    const taskOptions = req.options && req.options.type_url ? req.options : undefined;
    const { pid } = await this.m.create({
      namespace: ns,
      id,
      spec: container.spec.value,
      runtime: req.runtime_path || container.runtime.name,
      options: taskOptions ?? container.runtime.options,
      rootfs,
      io: { stdin: req.stdin ?? '', stdout: req.stdout ?? '', stderr: req.stderr ?? '', terminal: !!req.terminal },
      signal: ctx.signal,
    });
    return { container_id: id, pid };
  }

  async start(req: Req<'Tasks.Start'>, ctx: TaskCallContext): Res<'Tasks.Start'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    return { pid: await task.start(execId, { signal: ctx.signal }) };
  }

  async delete(req: Req<'Tasks.Delete'>, ctx: TaskCallContext): Res<'Tasks.Delete'> {
    const ns = checkNamespace(ctx);
    const id = checkId(req.container_id, 'container id');
    await this.task(ns, id);
    let exit;
    try {
      exit = await this.m.delete(ns, id, ctx.signal);
    } catch (err) {
      // containerd's TaskManager.Delete wraps what the shim said (not a task that is gone).
      if (err instanceof FlotillaError && !(isCode(err, Code.NotFound) && err.message === `task ${id} not found`)) {
        throw new FlotillaError(err.code, `failed to delete task: ${err.message}`, { cause: err });
      }
      throw err;
    }
    return { id: '', ...exit };
  }

  async deleteProcess(req: Req<'Tasks.DeleteProcess'>, ctx: TaskCallContext): Res<'Tasks.DeleteProcess'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    if (!req.exec_id) throw invalidArgument('exec id cannot be empty');
    const execId = await this.process(task, req.exec_id, ctx.signal);
    const exit = await task.delete(execId, { signal: ctx.signal });
    return { id: execId, ...exit };
  }

  async get(req: Req<'Tasks.Get'>, ctx: TaskCallContext): Res<'Tasks.Get'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    return { process: await this.processState(task, execId, ctx.signal) };
  }

  async list(_req: Req<'Tasks.List'>, ctx: TaskCallContext): Res<'Tasks.List'> {
    const ns = checkNamespace(ctx);
    const tasks: ProcessState[] = [];
    for (const t of await this.m.list(ns)) {
      try {
        tasks.push(await this.processState(t, '', ctx.signal));
      } catch (err) {
        if (!isCode(err, Code.NotFound)) this.log.error({ id: t.id, err: messageOf(err) }, 'converting task to protobuf');
      }
    }
    return { tasks };
  }

  async kill(req: Req<'Tasks.Kill'>, ctx: TaskCallContext): Res<'Tasks.Kill'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    await task.kill(req.signal ?? 0, !!req.all, execId, { signal: ctx.signal });
    return {};
  }

  async exec(req: Req<'Tasks.Exec'>, ctx: TaskCallContext): Res<'Tasks.Exec'> {
    const ns = checkNamespace(ctx);
    if (!req.exec_id) throw new FlotillaError(Code.InvalidArgument, 'exec id cannot be empty');
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    try {
      validateIdentifier(req.exec_id);
    } catch (err) {
      throw new FlotillaError(Code.InvalidArgument, `invalid exec id ${req.exec_id}: ${messageOf(err)}`, { cause: err });
    }
    await task.exec(
      { exec_id: req.exec_id, stdin: req.stdin ?? '', stdout: req.stdout ?? '', stderr: req.stderr ?? '', terminal: !!req.terminal, spec: req.spec },
      { signal: ctx.signal },
    );
    return {};
  }

  async resizePty(req: Req<'Tasks.ResizePty'>, ctx: TaskCallContext): Res<'Tasks.ResizePty'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    await task.resizePty(req.width ?? 0, req.height ?? 0, execId, { signal: ctx.signal });
    return {};
  }

  async closeIO(req: Req<'Tasks.CloseIO'>, ctx: TaskCallContext): Res<'Tasks.CloseIO'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    if (req.stdin) await task.closeIO(true, execId, { signal: ctx.signal });
    return {};
  }

  async pause(req: Req<'Tasks.Pause'>, ctx: TaskCallContext): Res<'Tasks.Pause'> {
    const ns = checkNamespace(ctx);
    await (await this.task(ns, checkId(req.container_id, 'container id'))).pause({ signal: ctx.signal });
    return {};
  }

  async resume(req: Req<'Tasks.Resume'>, ctx: TaskCallContext): Res<'Tasks.Resume'> {
    const ns = checkNamespace(ctx);
    await (await this.task(ns, checkId(req.container_id, 'container id'))).resume({ signal: ctx.signal });
    return {};
  }

  async listPids(req: Req<'Tasks.ListPids'>, ctx: TaskCallContext): Res<'Tasks.ListPids'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    return { processes: await task.pids({ signal: ctx.signal }) };
  }

  async checkpoint(_req: Req<'Tasks.Checkpoint'>, ctx: TaskCallContext): Res<'Tasks.Checkpoint'> {
    checkNamespace(ctx);
    throw unimplemented('checkpoint');
  }

  async update(req: Req<'Tasks.Update'>, ctx: TaskCallContext): Res<'Tasks.Update'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    await task.update(req.resources, req.annotations, { signal: ctx.signal });
    return {};
  }

  async metrics(req: Req<'Tasks.Metrics'>, ctx: TaskCallContext): Res<'Tasks.Metrics'> {
    const ns = checkNamespace(ctx);
    const filter = parseFilters(req.filters ?? []);
    const metrics: Metric[] = [];
    for (const t of await this.m.list(ns)) {
      if (!filter.match(adaptObject({ id: t.id, namespace: t.namespace }))) continue;
      const collected = nowTimestamp();
      try {
        const data = await t.stats({ signal: ctx.signal });
        metrics.push(data ? { timestamp: collected, id: t.id, data } : { timestamp: collected, id: t.id });
      } catch (err) {
        if (!isCode(closedAsNotFound(t, err), Code.NotFound)) this.log.error({ id: t.id, err: messageOf(err) }, 'collecting metrics');
      }
    }
    return { metrics };
  }

  async wait(req: Req<'Tasks.Wait'>, ctx: TaskCallContext): Res<'Tasks.Wait'> {
    const ns = checkNamespace(ctx);
    const task = await this.task(ns, checkId(req.container_id, 'container id'));
    const execId = await this.process(task, req.exec_id, ctx.signal);
    const waited = task.wait(execId, { signal: ctx.signal });
    // If the shim dies meanwhile, the dead-shim cleanup says how the task ended.
    const dead = this.m.deadExit(task).then((e) => ({ exit_status: e.exit_status, exited_at: e.exited_at }));
    try {
      return await Promise.race([waited, dead, this.stopping.promise]);
    } catch (err) {
      if (task.isClosed && codeOf(err) === Code.Unavailable && !this.stopped) return await Promise.race([dead, this.stopping.promise]);
      throw err;
    } finally {
      waited.catch(() => undefined);
    }
  }

  /**
   * Ends every Wait in progress with Unavailable (the process is stopping): callers retry against
   * the next runtime process instead of holding this one's shutdown up.
   */
  stopWaits(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.reject(unavailable('runtime: shutting down'));
  }
}
