/** Milliseconds since the epoch ↔ google.protobuf.Timestamp. */

/** A protobuf Timestamp as grpc-js accepts it. */
export interface ProtoTimestamp {
  seconds: number | string;
  nanos: number;
}

/** `ms` since the epoch as a Timestamp. */
export function toTimestamp(ms: number): ProtoTimestamp {
  const s = Math.floor(ms / 1000);
  return { seconds: s, nanos: Math.round((ms - s * 1000) * 1e6) };
}

/** A Timestamp as ms since the epoch (0 when absent). */
export function fromTimestamp(t: Partial<ProtoTimestamp> | undefined | null): number {
  if (!t) return 0;
  return Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
