/**
 * The runtime service's domain types and bus contract. Requests and replies mirror containerd's
 * `containerd.services.tasks.v1.Tasks` messages field for field (snake_case), with two wire
 * conventions of the bus: a `google.protobuf.Any` is `{type_url, value: bytes}` and a Timestamp
 * is `{seconds, nanos}`.
 */

/** Bus service name. */
export const RUNTIME_SERVICE = 'runtime';

/** A `google.protobuf.Any`: bare type name (containerd style) and the encoded message. */
export interface AnyValue {
  type_url: string;
  value: Uint8Array;
}

/** A protobuf Timestamp. */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** A mount (`containerd.types.Mount`). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** `containerd.v1.types.Status`. */
export enum TaskStatus {
  UNKNOWN = 0,
  CREATED = 1,
  RUNNING = 2,
  STOPPED = 3,
  PAUSED = 4,
  PAUSING = 5,
}

/** `containerd.v1.types.Process`: a task's init process or one of its execs. */
export interface ProcessState {
  /** The container id for the init process, the exec id for an exec. */
  id: string;
  pid: number;
  status: TaskStatus;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exit_status: number;
  exited_at: Timestamp;
}

/** How a process ended (`DeleteResponse` without the id). */
export interface ExitInfo {
  pid: number;
  exit_status: number;
  exited_at: Timestamp;
}

/** `Tasks.Create`. */
export interface CreateTaskRequest {
  container_id: string;
  rootfs?: Mount[];
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
  /** A checkpoint descriptor: restoring is not supported (Unimplemented). */
  checkpoint?: { media_type?: string; digest?: string; size?: number } | null;
  options?: AnyValue | null;
  runtime_path?: string;
}

/** `Tasks.Exec`. */
export interface ExecProcessRequest {
  container_id: string;
  exec_id: string;
  stdin?: string;
  stdout?: string;
  stderr?: string;
  terminal?: boolean;
  /** The process spec: JSON of an OCI Process (`types.containerd.io/opencontainers/runtime-spec/1/Process`). */
  spec?: AnyValue | null;
}

/** One process of a task as the shim lists it (`containerd.v1.types.ProcessInfo`). */
export interface ProcessInfo {
  pid: number;
  info?: AnyValue;
}

/** One task's metrics (`containerd.types.Metric`). */
export interface Metric {
  timestamp: Timestamp;
  id: string;
  data?: AnyValue;
}

/** A task reference: container id plus optional exec id. */
export interface ProcessRef {
  container_id: string;
  exec_id?: string;
}

/** The runtime service's bus contract (`flotilla.runtime.v1.<Method>`). */
export type RuntimeContract = {
  'Tasks.Create': { req: CreateTaskRequest; res: { container_id: string; pid: number } };
  'Tasks.Start': { req: ProcessRef; res: { pid: number } };
  'Tasks.Delete': { req: { container_id: string }; res: { id: string } & ExitInfo };
  'Tasks.DeleteProcess': { req: { container_id: string; exec_id: string }; res: { id: string } & ExitInfo };
  'Tasks.Get': { req: ProcessRef; res: { process: ProcessState } };
  'Tasks.List': { req: { filter?: string }; res: { tasks: ProcessState[] } };
  'Tasks.Kill': { req: ProcessRef & { signal: number; all?: boolean }; res: Record<string, never> };
  'Tasks.Exec': { req: ExecProcessRequest; res: Record<string, never> };
  'Tasks.ResizePty': { req: ProcessRef & { width: number; height: number }; res: Record<string, never> };
  'Tasks.CloseIO': { req: ProcessRef & { stdin?: boolean }; res: Record<string, never> };
  'Tasks.Pause': { req: { container_id: string }; res: Record<string, never> };
  'Tasks.Resume': { req: { container_id: string }; res: Record<string, never> };
  'Tasks.ListPids': { req: { container_id: string }; res: { processes: ProcessInfo[] } };
  'Tasks.Checkpoint': { req: { container_id: string }; res: Record<string, never> };
  'Tasks.Update': { req: { container_id: string; resources?: AnyValue | null; annotations?: Record<string, string> }; res: Record<string, never> };
  'Tasks.Metrics': { req: { filters?: string[] }; res: { metrics: Metric[] } };
  'Tasks.Wait': { req: ProcessRef; res: { exit_status: number; exited_at: Timestamp } };
};

/** Per-call context of the domain service. */
export interface TaskCallContext {
  namespace: string;
  /** Aborted when the caller goes away or its deadline passes. */
  signal?: AbortSignal;
}

/** The Tasks API as the runtime implements it (containerd's `services/tasks/local.go`). */
export type TaskService = {
  [M in keyof RuntimeContract as M extends `Tasks.${infer N}` ? Uncapitalize<N> : never]: (
    req: RuntimeContract[M]['req'],
    ctx: TaskCallContext,
  ) => Promise<RuntimeContract[M]['res']>;
};
