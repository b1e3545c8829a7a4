/** Turns a gRPC call's metadata, deadline and cancellation into bus call options. */
import type * as grpc from '@grpc/grpc-js';
import { Code, codeOf, failedPrecondition, invalidArgument, validateIdentifier } from '@flotilla/api';
import type { CallOptions } from '@flotilla/bus';
import { isAnswered } from './status.js';

/** gRPC metadata key of the containerd namespace. */
export const NAMESPACE_KEY = 'containerd-namespace';
/** gRPC metadata key of the containerd lease. */
export const LEASE_KEY = 'containerd-lease';

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

function first(call: AnyCall, key: string): string | undefined {
  const v = call.metadata.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** The namespace of a call, if it carries one (validated). */
export function callNamespace(call: AnyCall): string | undefined {
  const ns = first(call, NAMESPACE_KEY);
  if (ns === undefined || ns === '') return undefined;
  try {
    validateIdentifier(ns);
  } catch (err) {
    throw invalidArgument(`namespace validation: ${(err as Error).message.replace(/: invalid argument$/, '')}`);
  }
  return ns;
}

/** The namespace of a call, which must be present (FailedPrecondition otherwise, as containerd). */
export function requireNamespace(call: AnyCall): string {
  const ns = callNamespace(call);
  if (!ns) throw failedPrecondition('namespace is required');
  return ns;
}

/** Bus options for a nested call made while serving `call`. */
export function busOptions(call: AnyCall, defaultTimeoutMs: number): CallOptions & { deadline: number } {
  const d = call.getDeadline();
  const deadlineMs = d instanceof Date ? d.getTime() : typeof d === 'number' && Number.isFinite(d) ? d : Infinity;
  const timeoutMs = deadlineMs === Infinity ? defaultTimeoutMs : Math.max(1, deadlineMs - Date.now());
  const ac = new AbortController();
  (call as grpc.ServerUnaryCall<unknown, unknown>).once('cancelled', () => {
    if (!isAnswered(call)) ac.abort();
  });
  return {
    namespace: callNamespace(call),
    lease: first(call, LEASE_KEY),
    timeoutMs,
    signal: ac.signal,
    deadline: Date.now() + timeoutMs,
  };
}

/**
 * Runs an idempotent bus call, retrying while the service is Unavailable (e.g. restarting) until
 * the caller's deadline, so a restart is invisible to read-only callers.
 */
export async function retryIdempotent<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  let delay = 25;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (codeOf(err) !== Code.Unavailable || Date.now() + delay >= deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }
}
