/**
 * One task's connection to its shim: `containerd.task.v2.Task` over ttrpc with the namespace in
 * the request metadata (containerd's `runtime/v2/shim.go shimTask`). Replies are turned into the
 * bus shapes (numbers, `{seconds, nanos}`, `{type_url, value}`); shim errors keep their kind, and
 * their message ends with the kind's text as containerd's `errdefs.FromGRPC` makes it
 * (`cannot start a running process: unknown`, `process does not exist e1: not found`).
 */
import type protobuf from 'protobufjs';
import { Code, FlotillaError, codeOf, messageOf } from '@flotilla/api';
import { NAMESPACE_METADATA_KEY, TtrpcClient, ttrpcClient, type TypedClient } from '@flotilla/ttrpc';
import type { Bundle } from './bundle.js';
import type { ShimLog } from './shim-log.js';
import { toTimestamp } from './timestamps.js';
import type { AnyValue, ExitInfo, Mount, ProcessInfo, ProcessState, TaskStatus, Timestamp } from './types.js';

/** The shim task API's service name. */
export const SHIM_TASK_SERVICE = 'containerd.task.v2.Task';

type RawAny = { type_url?: string; value?: Uint8Array } | null | undefined;
type RawTimestamp = { seconds?: unknown; nanos?: unknown } | null | undefined;

/** An Any from a decoded message (undefined when unset). */
export function anyOut(a: RawAny): AnyValue | undefined {
  if (!a || !a.type_url) return undefined;
  const v = a.value ?? new Uint8Array(0);
  return { type_url: a.type_url, value: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
}

/** An Any for an outgoing message (protobufjs wants `value` as bytes). */
function anyIn(a: AnyValue | null | undefined): { type_url: string; value: Buffer } | undefined {
  if (!a || !a.type_url) return undefined;
  return { type_url: a.type_url, value: Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength) };
}

/**
 * The kinds a shim's reply can carry, with the text `errdefs.FromGRPC` appends. Errors of our own
 * ttrpc client (closed, timeouts, cancellation) are not among them and pass unchanged.
 */
const SHIM_ERROR_KINDS: Partial<Record<Code, string>> = {
  [Code.Unknown]: 'unknown',
  [Code.InvalidArgument]: 'invalid argument',
  [Code.NotFound]: 'not found',
  [Code.AlreadyExists]: 'already exists',
  [Code.FailedPrecondition]: 'failed precondition',
  [Code.Unimplemented]: 'not implemented',
};

/** A shim's error as containerd sees it after `errdefs.FromGRPC`: `<message>: <kind>` (once). */
export function fromShimError(err: unknown): unknown {
  const code = codeOf(err);
  const kind = SHIM_ERROR_KINDS[code];
  if (!kind || !(err instanceof FlotillaError)) return err;
  const message = messageOf(err);
  if (message === kind || message.endsWith(`: ${kind}`)) return err;
  return new FlotillaError(code, message ? `${message}: ${kind}` : kind, { cause: err });
}

/** Options of one shim call. */
export interface ShimCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What the shim's `Create` needs. */
export interface ShimCreateRequest {
  rootfs: Mount[];
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  options?: AnyValue;
}

/** What the shim's `Exec` needs. */
export interface ShimExecRequest {
  exec_id: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  spec?: AnyValue | null;
}

/** A task served by a shim. */
export class ShimTask {
  /** Resolves when the connection to the shim has ended (the shim exited, or we closed it). */
  readonly closed: Promise<void>;
  private readonly api: TypedClient;

  private constructor(
    readonly bundle: Bundle,
    /** The shim binary (for `<shim> delete`). */
    readonly binary: string,
    readonly address: string,
    private readonly client: TtrpcClient,
    root: protobuf.Root,
    private shimLog: ShimLog | undefined,
  ) {
    this.api = ttrpcClient(root, SHIM_TASK_SERVICE, client);
    this.closed = client.waitClosed();
  }

  /** Connects to the shim at `address` (fails with Unavailable when nothing listens). */
  static async connect(bundle: Bundle, binary: string, address: string, root: protobuf.Root, opts: { timeoutMs?: number; shimLog?: ShimLog } = {}): Promise<ShimTask> {
    const client = await TtrpcClient.connect(address, { timeoutMs: opts.timeoutMs ?? 5000 });
    return new ShimTask(bundle, binary, address, client, root, opts.shimLog);
  }

  /** The task (container) id. */
  get id(): string {
    return this.bundle.id;
  }

  /** The task's namespace. */
  get namespace(): string {
    return this.bundle.namespace;
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.client.closed;
  }

  private async call<Res>(method: string, req: object, o: ShimCallOptions = {}): Promise<Res> {
    try {
      return await this.api.call<Res>(method, req, { metadata: { [NAMESPACE_METADATA_KEY]: this.namespace }, signal: o.signal, timeoutMs: o.timeoutMs });
    } catch (err) {
      throw fromShimError(err);
    }
  }

  /** `Connect`: the shim's and the task's pids. */
  async connectInfo(o?: ShimCallOptions): Promise<{ shim_pid: number; task_pid: number }> {
    const r = await this.call<{ shim_pid: number; task_pid: number }>('Connect', { id: this.id }, o);
    return { shim_pid: r.shim_pid, task_pid: r.task_pid };
  }

  /** `State` of the init process or of exec `execId`. */
  async state(execId = '', o?: ShimCallOptions): Promise<ProcessState> {
    const r = await this.call<{
      id: string;
      pid: number;
      status: number;
      stdin: string;
      stdout: string;
      stderr: string;
      terminal: boolean;
      exit_status: number;
      exited_at: RawTimestamp;
      exec_id: string;
    }>('State', { id: this.id, exec_id: execId }, o);
    return {
      id: execId || this.id,
      pid: r.pid,
      status: r.status as TaskStatus,
      stdin: r.stdin,
      stdout: r.stdout,
      stderr: r.stderr,
      terminal: r.terminal,
      exit_status: r.exit_status,
      exited_at: toTimestamp(r.exited_at),
    };
  }

  /** `Create`: the shim mounts the rootfs and runs `runc create`. Returns the init pid. */
  async create(req: ShimCreateRequest, o?: ShimCallOptions): Promise<number> {
    const r = await this.call<{ pid: number }>(
      'Create',
      {
        id: this.id,
        bundle: this.bundle.path,
        rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
        terminal: req.terminal,
        stdin: req.stdin,
        stdout: req.stdout,
        stderr: req.stderr,
        options: anyIn(req.options),
      },
      o,
    );
    return r.pid;
  }

  /** `Start` of the init process or of exec `execId`; returns its pid. */
  async start(execId = '', o?: ShimCallOptions): Promise<number> {
    return (await this.call<{ pid: number }>('Start', { id: this.id, exec_id: execId }, o)).pid;
  }

  /** `Delete` of the init process (the task) or of exec `execId`. */
  async delete(execId = '', o?: ShimCallOptions): Promise<ExitInfo> {
    const r = await this.call<{ pid: number; exit_status: number; exited_at: RawTimestamp }>('Delete', { id: this.id, exec_id: execId }, o);
    return { pid: r.pid, exit_status: r.exit_status, exited_at: toTimestamp(r.exited_at) };
  }

  /** `Pids`: every process of the task. */
  async pids(o?: ShimCallOptions): Promise<ProcessInfo[]> {
    const r = await this.call<{ processes: { pid: number; info?: RawAny }[] }>('Pids', { id: this.id }, o);
    return r.processes.map((p) => {
      const info = anyOut(p.info);
      return info ? { pid: p.pid, info } : { pid: p.pid };
    });
  }

  async pause(o?: ShimCallOptions): Promise<void> {
    await this.call('Pause', { id: this.id }, o);
  }

  async resume(o?: ShimCallOptions): Promise<void> {
    await this.call('Resume', { id: this.id }, o);
  }

  async kill(signal: number, all: boolean, execId = '', o?: ShimCallOptions): Promise<void> {
    await this.call('Kill', { id: this.id, exec_id: execId, signal, all }, o);
  }

  async exec(req: ShimExecRequest, o?: ShimCallOptions): Promise<void> {
    await this.call(
      'Exec',
      { id: this.id, exec_id: req.exec_id, terminal: req.terminal, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, spec: anyIn(req.spec) },
      o,
    );
  }

  async resizePty(width: number, height: number, execId = '', o?: ShimCallOptions): Promise<void> {
    await this.call('ResizePty', { id: this.id, exec_id: execId, width, height }, o);
  }

  async closeIO(stdin: boolean, execId = '', o?: ShimCallOptions): Promise<void> {
    await this.call('CloseIO', { id: this.id, exec_id: execId, stdin }, o);
  }

  async update(resources: AnyValue | null | undefined, annotations: Record<string, string> | undefined, o?: ShimCallOptions): Promise<void> {
    await this.call('Update', { id: this.id, resources: anyIn(resources), annotations: annotations ?? {} }, o);
  }

  /** `Wait` for the init process or exec `execId` (blocks until it exits). */
  async wait(execId = '', o?: ShimCallOptions): Promise<{ exit_status: number; exited_at: Timestamp }> {
    const r = await this.call<{ exit_status: number; exited_at: RawTimestamp }>('Wait', { id: this.id, exec_id: execId }, o);
    return { exit_status: r.exit_status, exited_at: toTimestamp(r.exited_at) };
  }

  /** `Stats`: the task's cgroup metrics as the shim encodes them. */
  async stats(o?: ShimCallOptions): Promise<AnyValue | undefined> {
    return anyOut((await this.call<{ stats?: RawAny }>('Stats', { id: this.id }, o)).stats);
  }

  /** `Shutdown`: the shim exits once it serves no task. A closed connection counts as done. */
  async shutdown(o?: ShimCallOptions): Promise<void> {
    try {
      await this.call('Shutdown', { id: this.id }, o);
    } catch (err) {
      if (!this.client.closed) throw err;
    }
  }

  /** Takes over (or replaces) the copy of the shim's log. */
  attachLog(shimLog: ShimLog): void {
    this.shimLog?.close();
    this.shimLog = shimLog;
  }

  /** Closes the connection and the log copy (the shim keeps running). */
  close(): void {
    this.client.close();
    this.shimLog?.close();
    this.shimLog = undefined;
  }
}
