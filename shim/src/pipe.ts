/**
 * Anonymous-pipe-like pairs for a container's stdio.
 *
 * The runc shim gives runc real pipes (os.Pipe) and copies between them and the client's FIFOs.
 * Node has no pipe(2), and its `stdio: 'pipe'` makes unix socketpairs — where a container's
 * `echo x > /dev/stdout` fails (opening a socket through /proc/self/fd gives ENXIO). So a pair is
 * made from a FIFO instead: mkfifo in a private place, open the read end (non-blocking, so it does
 * not wait for a writer), open the write end (a reader exists, so it does not block), unlink the
 * name. What is left behaves as a pipe. The end handed to the container is switched back to
 * blocking (each open has its own file status flags); the end the shim keeps is driven by libuv.
 * Both descriptors are close-on-exec (libuv opens everything so), so they reach only the child
 * they are given to as stdio.
 *
 * A pipe(2) in `@flotilla/sys` would make this unnecessary (and `/proc/<pid>/fd/1` would read
 * `pipe:[…]` instead of the deleted FIFO's path).
 */
import { closeSync, constants, fchownSync, openSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Sys } from '@flotilla/sys';

/** Two descriptors of one pipe. */
export interface PipePair {
  read: number;
  write: number;
}

/** Which end is handed to a child (made blocking) — the other stays with the shim. */
export type ChildEnd = 'read' | 'write';

/**
 * Makes a pipe in `dir` (which must allow FIFOs; the name is gone before this returns). The
 * `childEnd` is blocking and, when `owner` is given, owned by that uid/gid (runc options
 * `io_uid`/`io_gid`, as go-runc's NewPipeIO fchowns it).
 */
export function makePipe(dir: string, childEnd: ChildEnd, sys: Sys, owner?: { uid: number; gid: number }): PipePair {
  const path = join(dir, `.pipe-${process.pid}-${randomBytes(6).toString('hex')}`);
  sys.mkfifo(path, 0o600);
  let read: number | undefined;
  let write: number | undefined;
  try {
    read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    write = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const child = childEnd === 'read' ? read : write;
    sys.setNonblocking(child, false);
    if (owner && (owner.uid !== 0 || owner.gid !== 0)) fchownSync(child, owner.uid, owner.gid);
    return { read, write };
  } catch (err) {
    if (read !== undefined) closeSync(read);
    if (write !== undefined) closeSync(write);
    throw err;
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/** Closes a descriptor, ignoring EBADF (already closed). */
export function closeFd(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
