/** The Tasks API of a remote runtime process, over the bus. */
import { ServiceClient, type Bus, type CallOptions } from '@flotilla/bus';
import { RUNTIME_SERVICE, type RuntimeContract, type TaskCallContext, type TaskService } from './types.js';

/** The longest timer Node arms (setTimeout overflows past 2^31-1 ms). */
export const MAX_CALL_TIMEOUT_MS = 2_147_483_647;

/**
 * TaskService served by a runtime process. The call's namespace and signal come from the
 * TaskCallContext; the rest of the options (timeout, request id) from `opts`. `Wait` gets no
 * deadline of its own unless `opts` sets one: it lasts as long as the process runs.
 */
export class TasksClient implements TaskService {
  private readonly c: ServiceClient<RuntimeContract>;
  constructor(
    bus: Bus,
    private readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<RuntimeContract>(bus, RUNTIME_SERVICE);
  }

  private o(ctx: TaskCallContext, long = false): CallOptions {
    const base = this.opts();
    return { ...base, namespace: ctx.namespace, signal: ctx.signal ?? base.signal, timeoutMs: base.timeoutMs ?? (long ? MAX_CALL_TIMEOUT_MS : undefined) };
  }

  create(req: RuntimeContract['Tasks.Create']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Create', req, this.o(ctx));
  }
  start(req: RuntimeContract['Tasks.Start']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Start', req, this.o(ctx));
  }
  delete(req: RuntimeContract['Tasks.Delete']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Delete', req, this.o(ctx));
  }
  deleteProcess(req: RuntimeContract['Tasks.DeleteProcess']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.DeleteProcess', req, this.o(ctx));
  }
  get(req: RuntimeContract['Tasks.Get']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Get', req, this.o(ctx));
  }
  list(req: RuntimeContract['Tasks.List']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.List', req, this.o(ctx));
  }
  kill(req: RuntimeContract['Tasks.Kill']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Kill', req, this.o(ctx));
  }
  exec(req: RuntimeContract['Tasks.Exec']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Exec', req, this.o(ctx));
  }
  resizePty(req: RuntimeContract['Tasks.ResizePty']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.ResizePty', req, this.o(ctx));
  }
  closeIO(req: RuntimeContract['Tasks.CloseIO']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.CloseIO', req, this.o(ctx));
  }
  pause(req: RuntimeContract['Tasks.Pause']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Pause', req, this.o(ctx));
  }
  resume(req: RuntimeContract['Tasks.Resume']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Resume', req, this.o(ctx));
  }
  listPids(req: RuntimeContract['Tasks.ListPids']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.ListPids', req, this.o(ctx));
  }
  checkpoint(req: RuntimeContract['Tasks.Checkpoint']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Checkpoint', req, this.o(ctx));
  }
  update(req: RuntimeContract['Tasks.Update']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Update', req, this.o(ctx));
  }
  metrics(req: RuntimeContract['Tasks.Metrics']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Metrics', req, this.o(ctx));
  }
  wait(req: RuntimeContract['Tasks.Wait']['req'], ctx: TaskCallContext) {
    return this.c.call('Tasks.Wait', req, this.o(ctx, true));
  }
}
