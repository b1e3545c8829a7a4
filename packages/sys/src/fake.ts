/**
 * {@link FakeSys}: the system calls simulated in memory, for unit tests of code built on this
 * package (a shim's task service, its mount and console handling) on machines without root,
 * runc or even Linux.
 *
 * What it models:
 * - processes: `addChild(pid)`, then `exitChild(pid, {code} | {signal})` turns it into a zombie and
 *   raises a fake SIGCHLD on the next turn of the event loop, like the kernel and libuv do;
 * - descriptors: numbers from 1000 up; `openFds()` lists those not closed, to check for leaks;
 * - unix sockets: `listenUnix` registers the path; `connectAndSend(path, fd, payload)` plays runc
 *   (queues a connection carrying `fd`); polls resolve when the socket becomes readable;
 * - terminals: `openPty()` gives a master descriptor with a window size;
 * - mounts: a table of stacked mounts per target (`mounts`), with EINVAL for a non-mount point.
 * Streams over descriptors (consoleStreams, fifo helpers) need real descriptors and are not faked.
 */
import { Errno, systemError } from './errno.js';
import type { PtyPair, ReceivedFd, Sys, WaitResult, Winsize } from './sys.js';
import { exitedStatus, signaledStatus } from './wait-status.js';

/** A mount(2) call the fake recorded. */
export interface FakeMount {
  source: string;
  target: string;
  fstype: string;
  flags: number;
  data: string;
}

interface FakeSocket {
  kind: 'listener' | 'conn' | 'eventfd' | 'pty' | 'other';
  path?: string;
  pending?: ReceivedFd[][]; // listener: queued connections, each a list of messages
  messages?: ReceivedFd[]; // conn: messages left to read
  counter?: number; // eventfd
  winsize?: Winsize;
  nonblocking?: boolean;
}

/** The in-memory {@link Sys}; see the file comment. */
export class FakeSys implements Sys {
  /** Mounts per target, bottom first. */
  readonly mounts = new Map<string, FakeMount[]>();
  /** Every mount(2) call, in order (propagation changes and remounts included). */
  readonly mountCalls: FakeMount[] = [];
  /** The fifos made, with their modes. */
  readonly fifos = new Map<string, number>();
  private subreaper = false;
  private readonly children = new Map<number, number | undefined>(); // pid → status once exited
  private readonly sigchld = new Set<() => void>();
  private readonly fds = new Map<number, FakeSocket>();
  private readonly listeners = new Map<string, number>();
  private readonly pollers = new Set<() => void>();
  private nextFd = 1000;
  private ptyCount = 0;

  // ---- test controls ----

  /** Adds a running child. */
  addChild(pid: number): void {
    this.children.set(pid, undefined);
  }

  /** Makes a child exit (adding it first if unknown) and raises SIGCHLD on the next turn. */
  exitChild(pid: number, how: { code: number } | { signal: number; coreDumped?: boolean }): void {
    const status = 'code' in how ? exitedStatus(how.code) : signaledStatus(how.signal, how.coreDumped);
    this.children.set(pid, status);
    setImmediate(() => this.raiseSigchld());
  }

  /** Calls the SIGCHLD listeners now. */
  raiseSigchld(): void {
    for (const l of [...this.sigchld]) l();
  }

  /** The children not reaped yet. */
  liveChildren(): number[] {
    return [...this.children.keys()];
  }

  /** Plays runc: connects to the socket at `path` and sends `fd` with `payload` in one message. */
  connectAndSend(path: string, fd: number, payload = Buffer.from('/dev/ptmx')): void {
    const lfd = this.listeners.get(path);
    if (lfd === undefined) throw systemError(Errno.ECONNREFUSED, 'connect', path);
    this.fds.get(lfd)!.pending!.push([{ fd: this.dupFake(fd), payload }]);
    this.wakePollers();
  }

  /** Plays a peer that connects and hangs up without sending anything. */
  connectAndClose(path: string): void {
    const lfd = this.listeners.get(path);
    if (lfd === undefined) throw systemError(Errno.ECONNREFUSED, 'connect', path);
    this.fds.get(lfd)!.pending!.push([{ fd: undefined, payload: Buffer.alloc(0) }]);
    this.wakePollers();
  }

  /** Descriptors handed out and not closed. */
  openFds(): number[] {
    return [...this.fds.keys()];
  }

  // ---- Sys ----

  setChildSubreaper(on: boolean): void {
    this.subreaper = on;
  }

  isChildSubreaper(): boolean {
    return this.subreaper;
  }

  onSigchld(listener: () => void): () => void {
    this.sigchld.add(listener);
    return () => {
      this.sigchld.delete(listener);
    };
  }

  peekExited(): number | undefined {
    for (const [pid, status] of this.children) if (status !== undefined) return pid;
    return undefined;
  }

  waitpid(pid: number): WaitResult | undefined {
    if (!this.children.has(pid)) throw systemError(Errno.ECHILD, 'waitpid', String(pid));
    const status = this.children.get(pid);
    if (status === undefined) return undefined;
    this.children.delete(pid);
    return { pid, status };
  }

  listChildren(): number[] {
    return [...this.children.keys()];
  }

  close(fd: number): void {
    const s = this.fds.get(fd);
    if (!s) throw systemError(Errno.EBADF, 'close', String(fd));
    this.fds.delete(fd);
    if (s.kind === 'listener' && s.path) this.listeners.delete(s.path);
  }

  dup(fd: number): number {
    if (!this.fds.has(fd)) throw systemError(Errno.EBADF, 'fcntl(F_DUPFD_CLOEXEC)');
    return this.dupFake(fd);
  }

  dup2(oldfd: number, newfd: number): void {
    const s = this.fds.get(oldfd);
    if (!s) throw systemError(Errno.EBADF, 'dup2');
    this.fds.set(newfd, { ...s });
  }

  setNonblocking(fd: number, on: boolean): void {
    const s = this.fds.get(fd);
    if (!s) throw systemError(Errno.EBADF, 'fcntl(F_SETFL)');
    s.nonblocking = on;
  }

  eventfd(): number {
    return this.alloc({ kind: 'eventfd', counter: 0 });
  }

  signalEventfd(fd: number): void {
    const s = this.fds.get(fd);
    if (!s || s.kind !== 'eventfd') throw systemError(Errno.EBADF, 'write');
    s.counter = (s.counter ?? 0) + 1;
    this.wakePollers();
  }

  pollReadable(fds: readonly number[], timeoutMs: number): Promise<boolean[]> {
    const check = () => fds.map((fd) => this.readable(fd));
    const now = check();
    if (now.some(Boolean) || timeoutMs === 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (r: boolean[]) => {
        this.pollers.delete(poller);
        if (timer) clearTimeout(timer);
        resolve(r);
      };
      const poller = () => {
        const r = check();
        if (r.some(Boolean)) done(r);
      };
      const timer = timeoutMs < 0 ? undefined : setTimeout(() => done(fds.map(() => false)), timeoutMs);
      this.pollers.add(poller);
    });
  }

  listenUnix(path: string, _backlog: number): number {
    if (this.listeners.has(path)) throw systemError(98 /* EADDRINUSE */, 'bind', path);
    const fd = this.alloc({ kind: 'listener', path, pending: [] });
    this.listeners.set(path, fd);
    return fd;
  }

  accept(fd: number): number | undefined {
    const s = this.fds.get(fd);
    if (!s || s.kind !== 'listener') throw systemError(Errno.EBADF, 'accept4');
    const conn = s.pending!.shift();
    return conn === undefined ? undefined : this.alloc({ kind: 'conn', messages: conn });
  }

  connectUnix(path: string): number {
    const lfd = this.listeners.get(path);
    if (lfd === undefined) throw systemError(Errno.ECONNREFUSED, 'connect', path);
    return this.alloc({ kind: 'other' });
  }

  sendFd(sock: number, _fd: number, _payload: Buffer): void {
    if (!this.fds.has(sock)) throw systemError(Errno.EBADF, 'sendmsg');
  }

  recvFd(sock: number): ReceivedFd | undefined {
    const s = this.fds.get(sock);
    if (!s || s.kind !== 'conn') throw systemError(Errno.EBADF, 'recvmsg');
    const m = s.messages!.shift();
    if (m) return m;
    return { fd: undefined, payload: Buffer.alloc(0) }; // the fake peer hung up after its messages
  }

  openPty(): PtyPair {
    const master = this.alloc({ kind: 'pty', winsize: { rows: 0, cols: 0 } });
    return { master, slavePath: `/dev/pts/${this.ptyCount++}` };
  }

  setWinsize(fd: number, size: Winsize): void {
    const s = this.fds.get(fd);
    if (!s) throw systemError(Errno.EBADF, 'ioctl(TIOCSWINSZ)');
    if (s.kind !== 'pty') throw systemError(Errno.ENOTTY, 'ioctl(TIOCSWINSZ)');
    s.winsize = { rows: size.rows, cols: size.cols, xpixel: size.xpixel ?? 0, ypixel: size.ypixel ?? 0 };
  }

  getWinsize(fd: number): Winsize {
    const s = this.fds.get(fd);
    if (!s) throw systemError(Errno.EBADF, 'ioctl(TIOCGWINSZ)');
    if (s.kind !== 'pty') throw systemError(Errno.ENOTTY, 'ioctl(TIOCGWINSZ)');
    return { xpixel: 0, ypixel: 0, ...s.winsize! };
  }

  mkfifo(path: string, mode: number): void {
    if (this.fifos.has(path)) throw systemError(Errno.EEXIST, 'mkfifo', path);
    this.fifos.set(path, mode);
  }

  mount(source: string, target: string, fstype: string, flags: number, data: string): void {
    const call = { source, target, fstype, flags, data };
    this.mountCalls.push(call);
    const REMOUNT = 0x20;
    const PROPAGATION = 0x20000 | 0x40000 | 0x80000 | 0x100000;
    const stack = this.mounts.get(target);
    if ((flags & REMOUNT) !== 0 || (flags & PROPAGATION) !== 0) {
      if (!stack?.length) throw systemError(Errno.EINVAL, 'mount', target);
      if ((flags & REMOUNT) !== 0) stack[stack.length - 1]!.flags = flags & ~REMOUNT;
      return;
    }
    if (stack) stack.push(call);
    else this.mounts.set(target, [call]);
  }

  umount2(target: string, _flags: number): void {
    const stack = this.mounts.get(target);
    if (!stack?.length) throw systemError(Errno.EINVAL, 'umount2', target);
    stack.pop();
    if (stack.length === 0) this.mounts.delete(target);
  }

  // ---- internals ----

  private alloc(s: FakeSocket): number {
    const fd = this.nextFd++;
    this.fds.set(fd, s);
    return fd;
  }

  private dupFake(fd: number): number {
    const s = this.fds.get(fd);
    return this.alloc(s ? { ...s } : { kind: 'other' });
  }

  private readable(fd: number): boolean {
    const s = this.fds.get(fd);
    if (!s) return true; // POLLNVAL
    if (s.kind === 'listener') return s.pending!.length > 0;
    if (s.kind === 'eventfd') return (s.counter ?? 0) > 0;
    return true;
  }

  private wakePollers(): void {
    for (const p of [...this.pollers]) p();
  }
}
