/**
 * How callers name content — digests, ingest refs and namespaces — and the checks every such name
 * passes before anything touches the disk (ARCHITECTURE §6).
 */
import { invalidArgument, isIdentifier, validateDigest } from '@flotilla/api';
import { MAX_REF_BYTES } from './types.js';

/** Throws InvalidArgument unless `digest` is `sha256:` + 64 lowercase hex; returns the hex part. */
export function digestHex(digest: unknown): string {
  return validateDigest(digest).slice('sha256:'.length);
}

/** Throws InvalidArgument unless `ref` is a non-empty string of at most 256 UTF-8 bytes. */
export function validateRef(ref: unknown): string {
  if (typeof ref !== 'string' || ref.length === 0) throw invalidArgument('ref must not be empty');
  if (Buffer.byteLength(ref) > MAX_REF_BYTES) throw invalidArgument(`ref ${JSON.stringify(ref.slice(0, 40))}… longer than ${MAX_REF_BYTES} bytes`);
  return ref;
}

/** Throws InvalidArgument unless `namespace` is a valid containerd namespace name. */
export function validateNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || !isIdentifier(namespace)) throw invalidArgument(`namespace ${JSON.stringify(namespace)} is not a valid identifier`);
  return namespace;
}

/** Throws InvalidArgument unless `n` is absent or a non-negative safe integer; returns it or `dflt`. */
export function optionalSize(n: unknown, field: string, dflt = 0): number {
  if (n === undefined || n === null) return dflt;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${field} must be a non-negative integer`);
  return n;
}
