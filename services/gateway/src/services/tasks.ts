/**
 * containerd.services.tasks.v1.Tasks, backed by the runtime service (`flotilla.runtime.v1.Tasks.*`).
 *
 * Timeouts when the client sets no deadline (ctr sets none): `Wait` waits as long as the process
 * runs (the bus keeps the call alive with heartbeats) and is retried while the runtime restarts,
 * so `ctr run` survives a runtime restart; calls that start or stop shims and processes get at
 * least a minute; reads get the gateway's default and are retried while the runtime restarts.
 */
import type * as grpc from '@grpc/grpc-js';
import type { CallOptions } from '@flotilla/bus';
import type { AnyValue, ExitInfo, ProcessState, Timestamp } from '@flotilla/runtime';
import { busOptions, requireNamespace, retryIdempotent } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { unary } from '../status.js';

/** The runtime's bus service name. */
const RUNTIME = 'runtime';
/** The longest timer Node arms: a Wait without a client deadline. */
const LONG_CALL_MS = 2_147_483_647;
/** At least this long for calls that start shims or processes. */
const SLOW_CALL_MS = 60_000;

type Call = grpc.ServerUnaryCall<any, any>;
type AnyMsg = { type_url?: string; value?: Uint8Array } | null | undefined;
type BusAny = AnyValue;
type BusTimestamp = Timestamp;
type MountMsg = { type?: string; source?: string; target?: string; options?: string[] };

type BusProcess = ProcessState;
type BusExit = ExitInfo & { id?: string };

const anyIn = (a: AnyMsg): BusAny | undefined => (a && a.type_url ? { type_url: a.type_url, value: new Uint8Array(a.value ?? new Uint8Array(0)) } : undefined);
const anyOut = (a: BusAny | undefined | null) =>
  a && a.type_url ? { type_url: a.type_url, value: Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength) } : null;
const ts = (t: BusTimestamp | undefined | null) => ({ seconds: t?.seconds ?? 0, nanos: t?.nanos ?? 0 });

const processMessage = (p: BusProcess) => ({
  id: p.id,
  pid: p.pid,
  status: p.status,
  stdin: p.stdin,
  stdout: p.stdout,
  stderr: p.stderr,
  terminal: p.terminal,
  exit_status: p.exit_status,
  exited_at: ts(p.exited_at),
});

const exitMessage = (e: BusExit) => ({ id: e.id ?? '', pid: e.pid, exit_status: e.exit_status, exited_at: ts(e.exited_at) });

/** The Tasks service implementation. */
export function tasksService(g: GatewayContext) {
  const slow = Math.max(g.config.defaultTimeoutMs, SLOW_CALL_MS);
  /** Bus options for `call` with `timeoutMs` as the default when the client set no deadline. */
  const open = (call: Call, timeoutMs: number): CallOptions & { deadline: number } => {
    requireNamespace(call);
    return busOptions(call, timeoutMs);
  };
  const callRuntime = <T>(method: string, req: object, o: CallOptions) => g.bus.call<T>(RUNTIME, `Tasks.${method}`, req, o);

  return {
    Create: unary(
      g.log,
      'Tasks.Create',
      async (
        req: {
          container_id: string;
          rootfs?: MountMsg[];
          stdin?: string;
          stdout?: string;
          stderr?: string;
          terminal?: boolean;
          checkpoint?: { media_type?: string; digest?: string; size?: string | number } | null;
          options?: AnyMsg;
          runtime_path?: string;
        },
        call,
      ) => {
        const o = open(call, slow);
        const r = await callRuntime<{ container_id: string; pid: number }>(
          'Create',
          {
            container_id: req.container_id,
            rootfs: (req.rootfs ?? []).map((m) => ({ type: m.type ?? '', source: m.source ?? '', target: m.target || undefined, options: m.options ?? [] })),
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            terminal: req.terminal,
            checkpoint: req.checkpoint && (req.checkpoint.digest || req.checkpoint.media_type) ? { media_type: req.checkpoint.media_type, digest: req.checkpoint.digest } : undefined,
            options: anyIn(req.options),
            runtime_path: req.runtime_path || undefined,
          },
          o,
        );
        return { container_id: r.container_id, pid: r.pid };
      },
    ),
    Start: unary(g.log, 'Tasks.Start', async (req: { container_id: string; exec_id?: string }, call) => {
      const r = await callRuntime<{ pid: number }>('Start', { container_id: req.container_id, exec_id: req.exec_id || undefined }, open(call, slow));
      return { pid: r.pid };
    }),
    Delete: unary(g.log, 'Tasks.Delete', async (req: { container_id: string }, call) => {
      return exitMessage(await callRuntime<BusExit>('Delete', { container_id: req.container_id }, open(call, slow)));
    }),
    DeleteProcess: unary(g.log, 'Tasks.DeleteProcess', async (req: { container_id: string; exec_id: string }, call) => {
      return exitMessage(await callRuntime<BusExit>('DeleteProcess', { container_id: req.container_id, exec_id: req.exec_id }, open(call, slow)));
    }),
    Get: unary(g.log, 'Tasks.Get', async (req: { container_id: string; exec_id?: string }, call) => {
      const o = open(call, g.config.defaultTimeoutMs);
      const r = await retryIdempotent(o.deadline, () => callRuntime<{ process: BusProcess }>('Get', { container_id: req.container_id, exec_id: req.exec_id || undefined }, o));
      return { process: processMessage(r.process) };
    }),
    List: unary(g.log, 'Tasks.List', async (req: { filter?: string }, call) => {
      const o = open(call, g.config.defaultTimeoutMs);
      const r = await retryIdempotent(o.deadline, () => callRuntime<{ tasks: BusProcess[] }>('List', { filter: req.filter || undefined }, o));
      return { tasks: r.tasks.map(processMessage) };
    }),
    Kill: unary(g.log, 'Tasks.Kill', async (req: { container_id: string; exec_id?: string; signal?: number; all?: boolean }, call) => {
      await callRuntime('Kill', { container_id: req.container_id, exec_id: req.exec_id || undefined, signal: req.signal ?? 0, all: !!req.all }, open(call, slow));
      return {};
    }),
    Exec: unary(
      g.log,
      'Tasks.Exec',
      async (req: { container_id: string; exec_id: string; stdin?: string; stdout?: string; stderr?: string; terminal?: boolean; spec?: AnyMsg }, call) => {
        await callRuntime(
          'Exec',
          {
            container_id: req.container_id,
            exec_id: req.exec_id,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            terminal: req.terminal,
            spec: anyIn(req.spec),
          },
          open(call, slow),
        );
        return {};
      },
    ),
    ResizePty: unary(g.log, 'Tasks.ResizePty', async (req: { container_id: string; exec_id?: string; width?: number; height?: number }, call) => {
      await callRuntime('ResizePty', { container_id: req.container_id, exec_id: req.exec_id || undefined, width: req.width ?? 0, height: req.height ?? 0 }, open(call, slow));
      return {};
    }),
    CloseIO: unary(g.log, 'Tasks.CloseIO', async (req: { container_id: string; exec_id?: string; stdin?: boolean }, call) => {
      await callRuntime('CloseIO', { container_id: req.container_id, exec_id: req.exec_id || undefined, stdin: !!req.stdin }, open(call, slow));
      return {};
    }),
    Pause: unary(g.log, 'Tasks.Pause', async (req: { container_id: string }, call) => {
      await callRuntime('Pause', { container_id: req.container_id }, open(call, slow));
      return {};
    }),
    Resume: unary(g.log, 'Tasks.Resume', async (req: { container_id: string }, call) => {
      await callRuntime('Resume', { container_id: req.container_id }, open(call, slow));
      return {};
    }),
    ListPids: unary(g.log, 'Tasks.ListPids', async (req: { container_id: string }, call) => {
      const o = open(call, slow);
      const r = await retryIdempotent(o.deadline, () => callRuntime<{ processes: { pid: number; info?: BusAny }[] }>('ListPids', { container_id: req.container_id }, o));
      return { processes: r.processes.map((p) => ({ pid: p.pid, info: anyOut(p.info) })) };
    }),
    Checkpoint: unary(g.log, 'Tasks.Checkpoint', async (req: { container_id: string }, call) => {
      await callRuntime('Checkpoint', { container_id: req.container_id }, open(call, g.config.defaultTimeoutMs));
      return { descriptors: [] };
    }),
    Update: unary(g.log, 'Tasks.Update', async (req: { container_id: string; resources?: AnyMsg; annotations?: Record<string, string> }, call) => {
      await callRuntime('Update', { container_id: req.container_id, resources: anyIn(req.resources), annotations: req.annotations ?? {} }, open(call, slow));
      return {};
    }),
    Metrics: unary(g.log, 'Tasks.Metrics', async (req: { filters?: string[] }, call) => {
      const o = open(call, slow);
      const r = await retryIdempotent(o.deadline, () =>
        callRuntime<{ metrics: { timestamp: BusTimestamp; id: string; data?: BusAny }[] }>('Metrics', { filters: req.filters ?? [] }, o),
      );
      return { metrics: r.metrics.map((m) => ({ timestamp: ts(m.timestamp), id: m.id, data: anyOut(m.data) })) };
    }),
    Wait: unary(g.log, 'Tasks.Wait', async (req: { container_id: string; exec_id?: string }, call) => {
      const o = open(call, LONG_CALL_MS);
      const r = await retryIdempotent(o.deadline, () =>
        callRuntime<{ exit_status: number; exited_at: BusTimestamp }>('Wait', { container_id: req.container_id, exec_id: req.exec_id || undefined }, o),
      );
      return { exit_status: r.exit_status, exited_at: ts(r.exited_at) };
    }),
  };
}
