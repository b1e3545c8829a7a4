/** The call context a handler receives and the options a caller gives. */
import type { Logger } from '@flotilla/log';

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** containerd namespace of the caller, if any. */
  namespace?: string;
  /** Lease the caller works under, if any. */
  lease?: string;
  /** Request id for logs. */
  requestId: string;
  /** Epoch ms after which the caller no longer waits (Infinity for none). */
  deadline: number;
  /** Aborted at the deadline, when the caller goes away, or on forced shutdown. */
  signal: AbortSignal;
  /** Logger bound to this request. */
  log: Logger;
}

/** Options of one call. */
export interface CallOptions {
  namespace?: string;
  lease?: string;
  /** How long the caller waits. Defaults to the bus's configured request timeout. 0 = no deadline (streams only). */
  timeoutMs?: number;
  /** Cancels the call. */
  signal?: AbortSignal;
  requestId?: string;
}

/** The context fields that travel to another service on a nested call. */
export function forwardOptions(ctx: CallContext, extra: Partial<CallOptions> = {}): CallOptions {
  const left = ctx.deadline === Infinity ? undefined : Math.max(1, ctx.deadline - Date.now());
  return { namespace: ctx.namespace, lease: ctx.lease, requestId: ctx.requestId, timeoutMs: left, signal: ctx.signal, ...extra };
}
