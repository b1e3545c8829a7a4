/**
 * MessagePack bodies of bus messages (ARCHITECTURE §2): plain objects only — strings, numbers,
 * booleans, byte arrays, arrays and maps; no msgpackr records, no class instances.
 */
import { Packr } from 'msgpackr';
import { invalidArgument } from '@flotilla/api';

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, variableMapSize: true });
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
