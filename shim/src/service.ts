/**
 * `containerd.task.v2.Task` (containerd-facts §2.5): the ttrpc handlers of the long-lived shim,
 * over the containers it holds (several when containers are grouped per pod, §2.7). The runc
 * shim's `runc/task/service.go`, request by request; events in its order (§2.4, §4.1).
 *
 * Requests and responses are plain objects as `@flotilla/ttrpc` decodes them (snake_case; Any as
 * `{type_url, value}`; timestamps as `{seconds, nanos}`).
 */
import type protobuf from 'protobufjs';
import { Code, FlotillaError, notFound, unimplemented } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import { loadRoot } from '@flotilla/protos';
import type { CallContext, Handler } from '@flotilla/ttrpc';
import { encodeMessage } from '@flotilla/ttrpc';
import { cgroupStats } from './cgroups.js';
import { Container, ExecProcess, STATUS_NUMBER, type ContainerEnv, type MountSpec, type RuncOptions } from './container.js';
import { timestamp } from './events.js';

/** The task service's name. */
export const TASK_SERVICE = 'containerd.task.v2.Task';

/** Path of the cgroups v1 metrics proto inside the `.protos` tree (when it is there). */
export const CGROUPS_V1_METRICS_PROTO = 'github.com/containerd/cgroups/stats/v1/metrics.proto';

interface AnyIn {
  type_url: string;
  value: Buffer;
}

/** Options of {@link TaskService}. */
export interface TaskServiceOptions {
  env: ContainerEnv;
  root: protobuf.Root;
  logger: Logger;
  /** Called when Shutdown finds no containers left (the shim then exits). */
  onShutdown: () => void;
}

/** The task service; {@link TaskService.handlers} are registered with the ttrpc server. */
export class TaskService {
  readonly containers = new Map<string, Container>();
  private metricsType: protobuf.Type | null | undefined;

  constructor(private readonly opts: TaskServiceOptions) {}

  private get env(): ContainerEnv {
    return this.opts.env;
  }

  private container(id: string): Container {
    const c = this.containers.get(id);
    if (!c) throw notFound('container not created');
    return c;
  }

  /** Decodes the runc options Any (`containerd.runc.v1.Options`), or none. */
  private runcOptions(any: AnyIn | null | undefined): RuncOptions {
    if (!any || !any.type_url) return {};
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    if (name !== 'containerd.runc.v1.Options') {
      throw new FlotillaError(Code.InvalidArgument, `unsupported runtime options type ${any.type_url}`);
    }
    const t = this.opts.root.lookupType('containerd.runc.v1.Options');
    return t.toObject(t.decode(any.value), { defaults: true, longs: Number }) as RuncOptions;
  }

  /** The handlers, keyed by method name. */
  handlers(): Record<string, Handler> {
    return {
      Create: (r, ctx) => this.create(r, ctx),
      Start: (r) => this.start(r),
      State: (r) => this.state(r),
      Delete: (r) => this.delete(r),
      Pids: (r) => this.pids(r),
      Pause: (r) => this.pause(r),
      Resume: (r) => this.resume(r),
      Checkpoint: () => {
        throw unimplemented('checkpoint');
      },
      Kill: (r) => this.kill(r),
      Exec: (r) => this.exec(r),
      ResizePty: (r) => this.resizePty(r),
      CloseIO: (r) => this.closeIO(r),
      Update: (r) => this.update(r),
      Wait: (r, ctx) => this.wait(r, ctx),
      Stats: (r) => this.stats(r),
      Connect: (r) => this.connect(r),
      Shutdown: () => this.shutdown(),
    };
  }

  async create(
    r: {
      id: string;
      bundle: string;
      rootfs: MountSpec[];
      terminal: boolean;
      stdin: string;
      stdout: string;
      stderr: string;
      checkpoint: string;
      parent_checkpoint: string;
      options: AnyIn | null;
    },
    _ctx: CallContext,
  ): Promise<{ pid: number }> {
    if (this.containers.has(r.id)) throw new FlotillaError(Code.AlreadyExists, `container ${r.id}: already exists`);
    if (r.checkpoint) throw unimplemented('restoring a checkpoint');
    const stdio = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    const c = await Container.create(
      { id: r.id, bundle: r.bundle, rootfs: r.rootfs ?? [], stdio, options: this.runcOptions(r.options) },
      this.env,
    );
    this.containers.set(r.id, c);
    void this.env.publish('TaskCreate', {
      container_id: r.id,
      bundle: r.bundle,
      rootfs: r.rootfs,
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      checkpoint: r.checkpoint,
      pid: c.init.pid,
    });
    return { pid: c.init.pid };
  }

  async start(r: { id: string; exec_id: string }): Promise<{ pid: number }> {
    const c = this.container(r.id);
    if (!r.exec_id) return { pid: await c.startInit() };
    const p = c.process(r.exec_id) as ExecProcess;
    return { pid: await c.startExec(p) };
  }

  state(r: { id: string; exec_id: string }): object {
    const c = this.container(r.id);
    const p = c.process(r.exec_id);
    return {
      id: p.id,
      bundle: c.bundle,
      pid: p.pid,
      status: STATUS_NUMBER[p.status()],
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exit_status: p.exitStatus,
      exited_at: timestamp(p.exitedAt),
    };
  }

  async delete(r: { id: string; exec_id: string }): Promise<object> {
    const c = this.container(r.id);
    if (r.exec_id) {
      const e = await c.deleteExec(c.process(r.exec_id) as ExecProcess);
      return { pid: e.pid, exit_status: e.exitStatus, exited_at: timestamp(e.exitedAt) };
    }
    const p = await c.deleteInit();
    this.containers.delete(r.id);
    void this.env.publish('TaskDelete', {
      container_id: c.id,
      pid: p.pid,
      exit_status: p.exitStatus,
      exited_at: timestamp(p.exitedAt),
    });
    return { pid: p.pid, exit_status: p.exitStatus, exited_at: timestamp(p.exitedAt) };
  }

  async pids(r: { id: string }): Promise<object> {
    const c = this.container(r.id);
    let pids: number[];
    try {
      pids = await c.ps();
    } catch (err) {
      // The runc shim returns go-runc's error as it is (no runc log lookup, no prefix).
      throw new FlotillaError(Code.Unknown, (err as Error).message ?? String(err), { cause: err });
    }
    const detailsType = this.opts.root.lookupType('containerd.runc.v1.ProcessDetails');
    return {
      processes: pids.map((pid) => {
        const e = [...c.execs.values()].find((x) => x.pid === pid);
        if (!e) return { pid };
        return { pid, info: { type_url: 'containerd.runc.v1.ProcessDetails', value: encodeMessage(detailsType, { exec_id: e.id }) } };
      }),
    };
  }

  async pause(r: { id: string }): Promise<object> {
    const c = this.container(r.id);
    await c.pause();
    void this.env.publish('TaskPaused', { container_id: c.id });
    return {};
  }

  async resume(r: { id: string }): Promise<object> {
    const c = this.container(r.id);
    await c.resume();
    void this.env.publish('TaskResumed', { container_id: c.id });
    return {};
  }

  async kill(r: { id: string; exec_id: string; signal: number; all: boolean }): Promise<object> {
    const c = this.container(r.id);
    await c.kill(r.exec_id, r.signal, r.all);
    return {};
  }

  async exec(r: { id: string; exec_id: string; terminal: boolean; stdin: string; stdout: string; stderr: string; spec: AnyIn | null }): Promise<object> {
    const c = this.container(r.id);
    if (!r.spec) throw new FlotillaError(Code.InvalidArgument, 'exec process spec is missing');
    const e = await c.exec(r.exec_id, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal }, r.spec.value);
    void this.env.publish('TaskExecAdded', { container_id: c.id, exec_id: e.id });
    return {};
  }

  resizePty(r: { id: string; exec_id: string; width: number; height: number }): object {
    this.container(r.id).resize(r.exec_id, r.width, r.height);
    return {};
  }

  closeIO(r: { id: string; exec_id: string; stdin: boolean }): object {
    const p = this.container(r.id).process(r.exec_id);
    if (r.stdin) p.io?.closeStdin();
    return {};
  }

  async update(r: { id: string; resources: AnyIn | null }): Promise<object> {
    const c = this.container(r.id);
    if (!r.resources) throw new FlotillaError(Code.InvalidArgument, 'update: resources are missing');
    await c.update(r.resources.value);
    return {};
  }

  async wait(r: { id: string; exec_id: string }, ctx: CallContext): Promise<object> {
    const c = this.container(r.id);
    const p = c.process(r.exec_id);
    await p.wait(ctx.signal);
    return { exit_status: p.exitStatus, exited_at: timestamp(p.exitedAt) };
  }

  /** The cgroups v1 Metrics type, if its proto is in the `.protos` tree. */
  private metrics(): protobuf.Type | null {
    if (this.metricsType === undefined) {
      try {
        this.metricsType = loadRoot([CGROUPS_V1_METRICS_PROTO]).lookupType('io.containerd.cgroups.v1.Metrics');
      } catch (err) {
        this.opts.logger.debug({ err: (err as Error).message }, 'cgroups v1 metrics proto not available');
        this.metricsType = null;
      }
    }
    return this.metricsType;
  }

  stats(r: { id: string }): object {
    const c = this.container(r.id);
    if (c.cgroups.size === 0) throw notFound('cgroup does not exist');
    const type = this.metrics();
    if (!type) throw unimplemented(`stats: the ${CGROUPS_V1_METRICS_PROTO} proto is not in the .protos tree`);
    return { stats: { type_url: 'io.containerd.cgroups.v1.Metrics', value: encodeMessage(type, cgroupStats(c.cgroups)) } };
  }

  connect(r: { id: string }): object {
    const c = this.containers.get(r.id);
    return { shim_pid: process.pid, task_pid: c?.init.pid ?? 0 };
  }

  shutdown(): object {
    if (this.containers.size > 0) return {};
    this.opts.onShutdown();
    return {};
  }
}
