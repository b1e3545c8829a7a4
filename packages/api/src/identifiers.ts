/**
 * containerd's identifier rules for namespaces, containers, leases and other object ids:
 * alphanumerics separated by single `.`, `_` or `-`, at most 76 characters.
 */
import { invalidArgument } from './errors.js';

/** Longest identifier containerd accepts. */
export const MAX_IDENTIFIER_LENGTH = 76;
const IDENTIFIER_RE = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;
/** The pattern as containerd prints it in errors. */
export const IDENTIFIER_PATTERN_TEXT = '^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$';

/** Throws InvalidArgument unless `s` is a valid identifier. */
export function validateIdentifier(s: string): void {
  if (typeof s !== 'string' || s.length === 0) throw invalidArgument('identifier must not be empty');
  if (s.length > MAX_IDENTIFIER_LENGTH) {
    throw invalidArgument(`identifier ${JSON.stringify(s)} greater than maximum length (${MAX_IDENTIFIER_LENGTH} characters)`);
  }
  if (!IDENTIFIER_RE.test(s)) throw invalidArgument(`identifier ${JSON.stringify(s)} must match ${IDENTIFIER_PATTERN_TEXT}`);
}

/** Whether `s` is a valid identifier. */
export function isIdentifier(s: string): boolean {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_IDENTIFIER_LENGTH && IDENTIFIER_RE.test(s);
}
