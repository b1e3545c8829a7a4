/**
 * Pseudo-terminals: opening a pair, resizing (the shim's ResizePty), and Node streams over a pty
 * master that behave on the event loop.
 *
 * What works for a pty master in Node 20 (libuv 1.46), tried out while writing this:
 * - `fs.createReadStream(null, {fd})`: each read is a blocking read(2) on a libuv threadpool
 *   thread; a quiet container pins one of the 4 threads for its whole life. With O_NONBLOCK it
 *   fails with EAGAIN instead. Not usable.
 * - `new tty.ReadStream(fd)`: libuv's uv_tty_init recognises a master (it is not a pts slave),
 *   keeps the descriptor, and reads through epoll. This is right for reading once the descriptor
 *   is O_NONBLOCK. When the last slave closes, read(2) on the master fails with EIO; that is the
 *   terminal's end of file, and is turned into 'end' here.
 * - Writing through libuv's tty handle is never safe on a master: uv_tty_init marks it
 *   "blocking writes" — on a blocking descriptor write(2) stops the whole event loop once the
 *   terminal's input queue is full (a container not reading its stdin), on a non-blocking one
 *   libuv retries EAGAIN in a tight loop. `tty.WriteStream` additionally calls setBlocking(true).
 *   Both froze the event loop (340 kB written to a master nobody read: no timer fired again).
 * - `net.Socket({fd})` refuses a TTY descriptor (ERR_INVALID_FD_TYPE).
 * - (On a slave, `tty.ReadStream` re-opens /dev/pts/N and dup2()s it over the given number but
 *   reads from the new descriptor; destroying the stream leaves the original number open.)
 *
 * So {@link consoleStreams} reads through a tty.ReadStream and writes with non-blocking write(2)
 * calls on a duplicate descriptor; when the terminal's input queue is full (EAGAIN) the writer
 * waits on a timer (1 ms doubling to 50 ms) instead of spinning, and applies backpressure.
 */
import { writeSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import tty from 'node:tty';
import { defaultSys } from './native.js';
import type { PtyPair, Sys, Winsize } from './sys.js';

export type { PtyPair, Winsize } from './sys.js';

/** Opens a new pty pair (master O_RDWR|O_NOCTTY|O_CLOEXEC; the slave is left for you to open). */
export function openPty(sys: Sys = defaultSys()): PtyPair {
  return sys.openPty();
}

/** Sets a terminal's window size (TIOCSWINSZ), e.g. on the master for ResizePty. */
export function setWinsize(fd: number, rows: number, cols: number, sys: Sys = defaultSys()): void {
  sys.setWinsize(fd, { rows, cols });
}

/** A terminal's window size (TIOCGWINSZ). */
export function getWinsize(fd: number, sys: Sys = defaultSys()): Winsize {
  return sys.getWinsize(fd);
}

/** Streams over a pty master; see {@link consoleStreams}. */
export interface ConsoleStreams {
  /** What the container writes to its terminal. Ends when the last slave closes. */
  readable: Readable;
  /** What the container reads from its terminal (its stdin). */
  writable: Writable;
  /** Destroys both streams; the master is closed once both are. */
  close(): void;
}

/** Reader side: a tty.ReadStream whose EIO (slave hung up) becomes end of stream. */
class MasterReader extends Readable {
  private readonly src: tty.ReadStream;

  constructor(fd: number) {
    super();
    this.src = new tty.ReadStream(fd);
    this.src.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.src.pause();
    });
    this.src.on('end', () => this.push(null));
    this.src.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EIO') this.push(null);
      else this.destroy(err);
    });
    this.src.pause();
  }

  override _read(): void {
    this.src.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.src.destroy();
    cb(err);
  }
}

/** Writer side: non-blocking write(2) with a timer back-off on EAGAIN. */
class MasterWriter extends Writable {
  private timer: NodeJS.Timeout | undefined;
  private fd: number | undefined;

  constructor(
    fd: number,
    private readonly sys: Sys,
  ) {
    super();
    this.fd = fd;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let off = 0;
    let delay = 1;
    const step = () => {
      this.timer = undefined;
      while (off < chunk.length) {
        if (this.fd === undefined) return cb(new Error('pty master closed'));
        try {
          off += writeSync(this.fd, chunk, off, chunk.length - off);
          delay = 1;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return cb(err as Error);
          this.timer = setTimeout(step, delay);
          delay = Math.min(delay * 2, 50);
          return;
        }
      }
      cb();
    };
    step();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.fd !== undefined) this.sys.close(this.fd);
    this.fd = undefined;
    cb(err);
  }
}

/**
 * Streams over a pty master `fd`, which they take over (it is made non-blocking, and closed when
 * both streams are destroyed). The reader ends when the container's side of the terminal is
 * closed by every process.
 */
export function consoleStreams(fd: number, sys: Sys = defaultSys()): ConsoleStreams {
  sys.setNonblocking(fd, true);
  const writeFd = sys.dup(fd);
  const readable = new MasterReader(fd);
  const writable = new MasterWriter(writeFd, sys);
  return {
    readable,
    writable,
    close() {
      readable.destroy();
      writable.destroy();
    },
  };
}
