/**
 * Native failures as Node-style system errors: `code` is the errno name (`ENOENT`), `errno` the
 * negative number, `syscall` the call, the way node:fs reports them, so callers test `err.code`
 * whether a failure came from node:fs or from this package.
 */
import { constants } from 'node:os';

const ERRNO_NAMES: Map<number, string> = new Map(
  Object.entries(constants.errno).map(([name, n]) => [n as number, name] as const),
);

/** A Node-style system error. */
export interface SystemError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** errno numbers this package tests for (Linux x86-64 / generic values). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOTTY: 25,
  ENAMETOOLONG: 36,
  ECONNREFUSED: 111,
} as const;

/** Builds a Node-style system error from an errno number. */
export function systemError(errno: number, syscall: string, path?: string): SystemError {
  const name = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: SystemError = new Error(`${syscall}${path ? ` ${path}` : ''}: ${name}`);
  err.code = name;
  err.errno = -errno;
  err.syscall = syscall;
  if (path) err.path = path;
  return err;
}

/** The errno name carried by a thrown value (`EAGAIN`, ...), if it is a system error. */
export function errnoName(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    const c = (err as SystemError).code;
    if (typeof c === 'string' && c.startsWith('E')) return c;
  }
  return undefined;
}
