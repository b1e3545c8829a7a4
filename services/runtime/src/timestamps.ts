/** Protobuf Timestamps as the bus carries them (`{seconds, nanos}` of plain numbers). */
import type { Timestamp } from './types.js';

/** A Timestamp from what protobufjs or a peer produced (seconds as number, string or Long). */
export function toTimestamp(t: { seconds?: unknown; nanos?: unknown } | null | undefined): Timestamp {
  if (!t) return { seconds: 0, nanos: 0 };
  const s = t.seconds;
  const seconds = typeof s === 'number' ? s : typeof s === 'string' ? Number(s) : s && typeof (s as { toNumber?: unknown }).toNumber === 'function' ? (s as { toNumber(): number }).toNumber() : 0;
  const nanos = typeof t.nanos === 'number' ? t.nanos : 0;
  return { seconds: Number.isFinite(seconds) ? seconds : 0, nanos };
}

/** Now as a Timestamp. */
export function nowTimestamp(): Timestamp {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
