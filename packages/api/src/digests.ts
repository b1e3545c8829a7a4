/** OCI digests as containerd accepts them. */
import { invalidArgument } from './errors.js';

const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

/** Throws InvalidArgument unless `d` is a sha256 digest (the only algorithm Flotilla stores). */
export function validateDigest(d: unknown): string {
  if (typeof d !== 'string' || !SHA256_RE.test(d)) throw invalidArgument(`invalid digest ${JSON.stringify(d)}`);
  return d;
}

/** Whether `d` is a sha256 digest. */
export function isDigest(d: unknown): d is string {
  return typeof d === 'string' && SHA256_RE.test(d);
}
