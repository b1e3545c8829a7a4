/**
 * The Linux system calls a containerd shim needs and Node does not offer, as one interface
 * (ARCHITECTURE §9: native calls behind an interface with a fake). {@link NativeSys} (native.ts)
 * calls glibc through koffi; {@link FakeSys} (fake.ts) simulates them in memory for unit tests.
 *
 * Everything here is synchronous and non-blocking except {@link Sys.pollReadable}, which waits on
 * a libuv threadpool thread. Failures throw Node-style system errors (`code` = errno name).
 */

/** A raw wait status as waitpid(2) returns it, with its pid. */
export interface WaitResult {
  pid: number;
  /** The raw status word; decode it with `decodeWaitStatus`. */
  status: number;
}

/** A terminal's window size (struct winsize). */
export interface Winsize {
  rows: number;
  cols: number;
  /** Pixel sizes; 0 when unknown (the usual case). */
  xpixel?: number;
  ypixel?: number;
}

/** One message received on a unix socket, with the descriptor it carried if any. */
export interface ReceivedFd {
  /** The descriptor passed with SCM_RIGHTS (close-on-exec), or undefined when none came. */
  fd: number | undefined;
  /** The bytes of the message (runc sends the pty's name). Empty with no fd means end of stream. */
  payload: Buffer;
}

/** A fresh pseudo-terminal pair: the master is open, the slave is named (open it yourself). */
export interface PtyPair {
  /** The master descriptor (O_RDWR | O_NOCTTY | O_CLOEXEC). */
  master: number;
  /** The slave device, e.g. `/dev/pts/3`. */
  slavePath: string;
}

/** mount(2) flags (`<sys/mount.h>`). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

/** umount2(2) flags. */
export const MNT = {
  FORCE: 0x1,
  DETACH: 0x2,
  EXPIRE: 0x4,
  UMOUNT_NOFOLLOW: 0x8,
} as const;

/** The system calls; see the file comment. */
export interface Sys {
  // ---- processes ----

  /** prctl(PR_SET_CHILD_SUBREAPER, on): orphaned descendants are reparented to this process. */
  setChildSubreaper(on: boolean): void;
  /** prctl(PR_GET_CHILD_SUBREAPER). */
  isChildSubreaper(): boolean;
  /**
   * Calls `listener` (on the event loop) after each SIGCHLD this process receives; returns the
   * function that removes it. Signals coalesce: one call may stand for several exits.
   */
  onSigchld(listener: () => void): () => void;
  /**
   * waitid(P_ALL, 0, WEXITED | WNOHANG | WNOWAIT): the pid of one child that has exited and not
   * been reaped yet, leaving it a zombie; undefined when there is none (or no children at all).
   */
  peekExited(): number | undefined;
  /**
   * waitpid(pid, WNOHANG): reaps `pid` if it has exited (returns its raw status), undefined while
   * it runs. Throws ECHILD when `pid` is not a child (anymore).
   */
  waitpid(pid: number): WaitResult | undefined;
  /** The pids of this process's children, living and zombie, from /proc/self/task/<tid>/children. */
  listChildren(): number[];

  // ---- descriptors ----

  /** close(2). */
  close(fd: number): void;
  /** fcntl(F_DUPFD_CLOEXEC): a second descriptor for the same open file. */
  dup(fd: number): number;
  /** dup2(2): makes `newfd` (closed first if open) refer to `oldfd`'s open file, inherited across exec. */
  dup2(oldfd: number, newfd: number): void;
  /** Sets or clears O_NONBLOCK on the open file description (shared by every dup). */
  setNonblocking(fd: number, on: boolean): void;
  /** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): a descriptor that becomes readable when written to. */
  eventfd(): number;
  /** Writes 1 to an eventfd, making it readable. */
  signalEventfd(fd: number): void;
  /**
   * poll(2) for readability (or hang-up/error) of `fds`, at most `timeoutMs` (-1 = forever), on a
   * libuv threadpool thread so the event loop keeps running. Resolves one flag per descriptor;
   * all false after a timeout or EINTR.
   */
  pollReadable(fds: readonly number[], timeoutMs: number): Promise<boolean[]>;

  // ---- unix sockets ----

  /**
   * socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC) + bind(path) + listen(backlog):
   * a non-blocking listening socket at `path` (which must not exist; at most 107 bytes).
   */
  listenUnix(path: string, backlog: number): number;
  /** accept4(SOCK_NONBLOCK | SOCK_CLOEXEC): a connection, or undefined when none is waiting. */
  accept(fd: number): number | undefined;
  /** A blocking client connection to a unix stream socket (close-on-exec). */
  connectUnix(path: string): number;
  /** sendmsg(2): `payload` (at least one byte) with `fd` attached as SCM_RIGHTS. */
  sendFd(sock: number, fd: number, payload: Buffer): void;
  /**
   * recvmsg(2) with MSG_CMSG_CLOEXEC: one message and the descriptor it carried; undefined when
   * nothing is there yet (EAGAIN on a non-blocking socket).
   */
  recvFd(sock: number): ReceivedFd | undefined;

  // ---- terminals ----

  /** posix_openpt + grantpt + unlockpt + ptsname_r. */
  openPty(): PtyPair;
  /** ioctl(TIOCSWINSZ). */
  setWinsize(fd: number, size: Winsize): void;
  /** ioctl(TIOCGWINSZ). */
  getWinsize(fd: number): Winsize;

  // ---- files and mounts ----

  /** mkfifo(3). */
  mkfifo(path: string, mode: number): void;
  /** mount(2); `data` empty means NULL. */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2). */
  umount2(target: string, flags: number): void;
}
