/**
 * MessagePack bodies of bus messages (ARCHITECTURE §2): plain objects only — strings, numbers,
 * booleans, byte arrays, arrays and maps; no msgpackr records, no class instances.
 */
import { Packr, type Options } from 'msgpackr';
import { invalidArgument } from '@flotilla/api';

/**
 * Interop with other languages (docs/bus.md "Bodies"), both documented msgpackr options missing from
 * its typings: object properties whose value is `undefined` are left out (msgpackr would otherwise
 * write its private `fixext 1, type 0`, which Go or Python decoders do not read as nil), and 64-bit
 * integer encodings (Go encoders use them even for small values) decode to numbers when they are
 * within ±2^53 (msgpackr's default would give a BigInt for every one of them).
 */
const interop = { skipValues: [undefined], int64AsType: 'auto' } as unknown as Options;
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true, ...interop });
const EMPTY = new Uint8Array(0);

/** Encodes a body; `undefined` becomes an empty body. */
export function encodeBody(value: unknown): Uint8Array {
  if (value === undefined) return EMPTY;
  return packr.pack(value);
}

/** Decodes a body; an empty body decodes to `undefined`. Malformed bodies are InvalidArgument. */
export function decodeBody<T = unknown>(data: Uint8Array): T {
  if (data.length === 0) return undefined as T;
  try {
    return packr.unpack(data) as T;
  } catch (err) {
    throw invalidArgument('bus: malformed MessagePack body', err);
  }
}
