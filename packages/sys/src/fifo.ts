/**
 * FIFOs (the `fifo` stdio scheme: containerd clients create `<id>-stdin|-stdout|-stderr` FIFOs and
 * the shim opens them; containerd-facts §2.10) without blocking the event loop or the threadpool.
 *
 * What is safe in Node:
 * - `fs.open(fifo, 'r')` / `'w'` blocks in open(2) until the other end opens — on a threadpool
 *   thread (async) or the event loop (sync); if the client never opens its end, the thread is
 *   lost for good (the pool has 4). Never do this.
 * - `fs.createReadStream`/`createWriteStream` on a FIFO do every read/write as a blocking call on
 *   the threadpool: a quiet container pins a thread. Never do this either.
 * - Safe: open with flags that cannot block (below), synchronously, then wrap the descriptor in
 *   `net.Socket({fd})`. libuv sees a FIFO as a pipe (uv_guess_handle → UV_NAMED_PIPE), makes it
 *   non-blocking and drives it with epoll, with normal backpressure.
 *
 * The flags (Linux semantics, fifo(7)):
 * - reading: O_RDONLY | O_NONBLOCK never blocks even with no writer yet, and a read before the
 *   first writer comes is simply "no data" (epoll reports nothing until a writer appeared). End
 *   of file comes when a writer came and every writer closed — containerd's stdin handling.
 *   `keepOpen` uses O_RDWR instead: the FIFO never reports end of file, so writers may come and go.
 * - writing: O_WRONLY | O_NONBLOCK fails with ENXIO while no reader has it open; O_RDWR never
 *   blocks and never fails, and holding our own read side means writes never get EPIPE/SIGPIPE
 *   when the reader goes away (data waits in the pipe, 64 KiB, then backpressure). That is what
 *   containerd's shim does for stdout/stderr by keeping an extra read-only descriptor.
 * libuv opens every file close-on-exec, so these descriptors do not leak into runc.
 */
import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { defaultSys } from './native.js';
import type { Sys } from './sys.js';

/** Creates a FIFO at `path` (mkfifo(3)); mode 0600 by default. */
export function mkfifo(path: string, mode = 0o600, sys: Sys = defaultSys()): void {
  sys.mkfifo(path, mode);
}

/**
 * Opens a FIFO for reading without blocking; see the file comment. With `keepOpen` the stream
 * never ends on its own (destroy it when done).
 */
export function openFifoReader(path: string, opts: { keepOpen?: boolean } = {}): Socket {
  const flags = (opts.keepOpen ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NONBLOCK;
  const fd = openSync(path, flags);
  return new Socket({ fd, readable: true, writable: false });
}

/** Opens a FIFO for writing without blocking, whether or not a reader is there yet. */
export function openFifoWriter(path: string): Socket {
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  return new Socket({ fd, readable: false, writable: true });
}
