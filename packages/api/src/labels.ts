/** containerd's label rules: key and value together at most 4096 bytes. */
import { invalidArgument } from './errors.js';

/** Largest key+value size of one label, in bytes. */
export const MAX_LABEL_SIZE = 4096;

/** Throws InvalidArgument if any label is too large (or not a string pair). */
export function validateLabels(labels: Record<string, string> | undefined): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw invalidArgument(`label ${JSON.stringify(k)} value must be a string`);
    const size = Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > MAX_LABEL_SIZE) {
      throw invalidArgument(`label key and value greater than maximum size (${MAX_LABEL_SIZE} bytes), key: ${k.slice(0, 10)}`);
    }
  }
}
