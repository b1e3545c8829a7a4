/**
 * The real {@link Sys}: glibc through koffi, the FFI the project already uses for the differ
 * (services/snapshotter/src/differ/native.ts). koffi's npm package ships a prebuilt linux-x64
 * binary (`@koromix/koffi-linux-x64`), so nothing is compiled at install time.
 *
 * Rules kept by every call here:
 * - Synchronous calls only for system calls that cannot block: descriptors are non-blocking
 *   (sockets, eventfd) or the call takes WNOHANG. The single waiting call, poll(2), runs through
 *   koffi's `.async`, which is a napi async work item: a libuv threadpool thread waits, the event
 *   loop does not. koffi hands that thread's errno back through `koffi.errno()` in the callback.
 * - Pointers inside structures (msghdr → iovec → buffers) are the addresses of Node Buffers,
 *   taken with `koffi.address()` right before the call while the Buffers are referenced; Buffer
 *   memory lives outside the V8 heap and does not move.
 * - Variadic C functions (prctl, fcntl, ioctl) are declared variadic, as the x86-64 ABI wants.
 */
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, writeSync } from 'node:fs';
import { unimplemented } from '@flotilla/api';
import { Errno, systemError } from './errno.js';
import type { PtyPair, ReceivedFd, Sys, WaitResult, Winsize } from './sys.js';

const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const F_GETFL = 3;
const F_SETFL = 4;
const F_DUPFD_CLOEXEC = 1030;
const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
/** sizeof(sockaddr_un.sun_path). */
const SUN_PATH = 108;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = ((...args: any[]) => any) & { async?: (...args: any[]) => void };

/** NUL-terminated bytes of a path for C. */
function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

/** struct sockaddr_un for `path`, with its length (family + path + NUL). */
function sockaddrUn(path: string, syscall: string): { addr: Buffer; len: number } {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length === 0 || bytes.length >= SUN_PATH) throw systemError(Errno.ENAMETOOLONG, syscall, path);
  const addr = Buffer.alloc(2 + SUN_PATH);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return { addr, len: 2 + bytes.length + 1 };
}

/** The glibc-backed {@link Sys}. Construct through {@link defaultSys}. */
export class NativeSys implements Sys {
  private readonly koffi: any;
  private readonly f: Record<string, Fn>;

  constructor(koffi: any) {
    this.koffi = koffi;
    const libc = koffi.load('libc.so.6');
    this.f = {
      prctl: libc.func('int prctl(int option, ...)'),
      waitid: libc.func('int waitid(int idtype, int id, void *infop, int options)'),
      waitpid: libc.func('int waitpid(int pid, void *status, int options)'),
      close: libc.func('int close(int fd)'),
      dup2: libc.func('int dup2(int oldfd, int newfd)'),
      fcntl: libc.func('int fcntl(int fd, int cmd, ...)'),
      eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
      poll: libc.func('int poll(void *fds, unsigned long nfds, int timeout)'),
      socket: libc.func('int socket(int domain, int type, int protocol)'),
      bind: libc.func('int bind(int fd, const void *addr, uint32_t len)'),
      listen: libc.func('int listen(int fd, int backlog)'),
      accept4: libc.func('int accept4(int fd, void *addr, void *addrlen, int flags)'),
      connect: libc.func('int connect(int fd, const void *addr, uint32_t len)'),
      sendmsg: libc.func('intptr_t sendmsg(int fd, const void *msg, int flags)'),
      recvmsg: libc.func('intptr_t recvmsg(int fd, void *msg, int flags)'),
      posix_openpt: libc.func('int posix_openpt(int flags)'),
      grantpt: libc.func('int grantpt(int fd)'),
      unlockpt: libc.func('int unlockpt(int fd)'),
      ptsname_r: libc.func('int ptsname_r(int fd, void *buf, size_t len)'),
      ioctl: libc.func('int ioctl(int fd, unsigned long request, ...)'),
      mkfifo: libc.func('int mkfifo(const char *path, uint32_t mode)'),
      mount: libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
      umount2: libc.func('int umount2(const char *target, int flags)'),
    };
  }

  private errno(): number {
    return this.koffi.errno() as number;
  }

  private check(rc: number | bigint, syscall: string, path?: string): number {
    const n = Number(rc);
    if (n < 0) throw systemError(this.errno(), syscall, path);
    return n;
  }

  setChildSubreaper(on: boolean): void {
    this.check(
      this.f.prctl!(PR_SET_CHILD_SUBREAPER, 'unsigned long', on ? 1 : 0, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0),
      'prctl(PR_SET_CHILD_SUBREAPER)',
    );
  }

  isChildSubreaper(): boolean {
    const out = Buffer.alloc(8);
    this.check(
      this.f.prctl!(PR_GET_CHILD_SUBREAPER, 'void *', out, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0),
      'prctl(PR_GET_CHILD_SUBREAPER)',
    );
    return out.readInt32LE(0) !== 0;
  }

  onSigchld(listener: () => void): () => void {
    const l = () => listener();
    process.on('SIGCHLD', l);
    return () => {
      process.off('SIGCHLD', l);
    };
  }

  peekExited(): number | undefined {
    // siginfo_t is 128 bytes; for SIGCHLD, si_pid is the int at offset 16 on x86-64.
    const info = Buffer.alloc(128);
    for (;;) {
      const rc = this.f.waitid!(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) as number;
      if (rc === 0) {
        const pid = info.readInt32LE(16);
        return pid > 0 ? pid : undefined;
      }
      const e = this.errno();
      if (e === Errno.ECHILD) return undefined;
      if (e !== Errno.EINTR) throw systemError(e, 'waitid');
    }
  }

  waitpid(pid: number): WaitResult | undefined {
    const status = Buffer.alloc(8);
    for (;;) {
      const rc = this.f.waitpid!(pid, status, WNOHANG) as number;
      if (rc > 0) return { pid: rc, status: status.readInt32LE(0) };
      if (rc === 0) return undefined;
      const e = this.errno();
      if (e !== Errno.EINTR) throw systemError(e, 'waitpid', String(pid));
    }
  }

  listChildren(): number[] {
    const pids: number[] = [];
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return pids;
    }
    for (const tid of tids) {
      let text: string;
      try {
        text = readFileSync(`/proc/self/task/${tid}/children`, 'latin1');
      } catch {
        continue; // the thread ended, or the kernel lacks CONFIG_PROC_CHILDREN
      }
      for (const p of text.split(' ')) if (p) pids.push(Number(p));
    }
    return pids;
  }

  close(fd: number): void {
    // close(2) releases the descriptor even when it reports EINTR; never retry.
    const rc = this.f.close!(fd) as number;
    if (rc < 0 && this.errno() !== Errno.EINTR) throw systemError(this.errno(), 'close', String(fd));
  }

  dup(fd: number): number {
    return this.check(this.f.fcntl!(fd, F_DUPFD_CLOEXEC, 'int', 0), 'fcntl(F_DUPFD_CLOEXEC)');
  }

  dup2(oldfd: number, newfd: number): void {
    this.check(this.f.dup2!(oldfd, newfd), 'dup2');
  }

  setNonblocking(fd: number, on: boolean): void {
    const flags = this.check(this.f.fcntl!(fd, F_GETFL, 'int', 0), 'fcntl(F_GETFL)');
    const next = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    if (next !== flags) this.check(this.f.fcntl!(fd, F_SETFL, 'int', next), 'fcntl(F_SETFL)');
  }

  eventfd(): number {
    return this.check(this.f.eventfd!(0, O_CLOEXEC | O_NONBLOCK), 'eventfd');
  }

  signalEventfd(fd: number): void {
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    try {
      writeSync(fd, one);
    } catch (err) {
      // EAGAIN: the counter is already huge, so the eventfd is readable anyway.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }

  pollReadable(fds: readonly number[], timeoutMs: number): Promise<boolean[]> {
    const pfds = Buffer.alloc(8 * fds.length);
    fds.forEach((fd, i) => {
      pfds.writeInt32LE(fd, 8 * i);
      pfds.writeInt16LE(POLLIN, 8 * i + 4);
    });
    const timeout = timeoutMs < 0 ? -1 : Math.min(Math.ceil(timeoutMs), 0x7fffffff);
    return new Promise((resolve, reject) => {
      this.f.poll!.async!(pfds, fds.length, timeout, (err: unknown, rc: number) => {
        if (err) return reject(err);
        if (rc < 0) {
          const e = this.errno();
          if (e === Errno.EINTR) return resolve(fds.map(() => false));
          return reject(systemError(e, 'poll'));
        }
        resolve(fds.map((_, i) => (pfds.readInt16LE(8 * i + 6) & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) !== 0));
      });
    });
  }

  listenUnix(path: string, backlog: number): number {
    const { addr, len } = sockaddrUn(path, 'bind');
    const fd = this.check(this.f.socket!(AF_UNIX, SOCK_STREAM | O_NONBLOCK | O_CLOEXEC, 0), 'socket');
    try {
      this.check(this.f.bind!(fd, addr, len), 'bind', path);
      this.check(this.f.listen!(fd, backlog), 'listen', path);
      return fd;
    } catch (err) {
      this.f.close!(fd);
      throw err;
    }
  }

  accept(fd: number): number | undefined {
    for (;;) {
      const rc = this.f.accept4!(fd, null, null, O_NONBLOCK | O_CLOEXEC) as number;
      if (rc >= 0) return rc;
      const e = this.errno();
      if (e === Errno.EAGAIN) return undefined;
      // A connection that was reset before we took it: look at the next one.
      if (e === Errno.EINTR || e === 103 /* ECONNABORTED */) continue;
      throw systemError(e, 'accept4');
    }
  }

  connectUnix(path: string): number {
    const { addr, len } = sockaddrUn(path, 'connect');
    const fd = this.check(this.f.socket!(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0), 'socket');
    try {
      this.check(this.f.connect!(fd, addr, len), 'connect', path);
      return fd;
    } catch (err) {
      this.f.close!(fd);
      throw err;
    }
  }

  /**
   * A `struct msghdr` (56 bytes on x86-64: name, namelen, iov, iovlen, control, controllen, flags)
   * with one iovec over `data` and `control` as ancillary data. The returned buffers must stay
   * referenced until the syscall returns, since the kernel reads them through raw addresses.
   */
  private msghdr(data: Buffer, control: Buffer): { msg: Buffer; iov: Buffer } {
    const iov = Buffer.alloc(16);
    const msg = Buffer.alloc(56);
    iov.writeBigUInt64LE(this.koffi.address(data), 0);
    iov.writeBigUInt64LE(BigInt(data.length), 8);
    msg.writeBigUInt64LE(this.koffi.address(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(this.koffi.address(control), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
    return { msg, iov };
  }

  sendFd(sock: number, fd: number, payload: Buffer): void {
    if (payload.length === 0) throw systemError(Errno.EINVAL, 'sendmsg');
    // struct cmsghdr { size_t len; int level; int type; int fd; } padded to CMSG_SPACE(4) = 24.
    const control = Buffer.alloc(24);
    control.writeBigUInt64LE(20n, 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    control.writeInt32LE(fd, 16);
    const data = Buffer.from(payload);
    const { msg } = this.msghdr(data, control);
    for (;;) {
      const n = Number(this.f.sendmsg!(sock, msg, MSG_NOSIGNAL));
      if (n >= 0) return;
      const e = this.errno();
      if (e !== Errno.EINTR) throw systemError(e, 'sendmsg');
    }
  }

  recvFd(sock: number): ReceivedFd | undefined {
    const data = Buffer.alloc(4096);
    const control = Buffer.alloc(256);
    const { msg } = this.msghdr(data, control);
    let n: number;
    for (;;) {
      n = Number(this.f.recvmsg!(sock, msg, MSG_CMSG_CLOEXEC));
      if (n >= 0) break;
      const e = this.errno();
      if (e === Errno.EAGAIN) return undefined;
      if (e !== Errno.EINTR) throw systemError(e, 'recvmsg');
    }
    const fds: number[] = [];
    const controlLen = Number(msg.readBigUInt64LE(40));
    for (let off = 0; off + 16 <= controlLen; ) {
      const len = Number(control.readBigUInt64LE(off));
      if (len < 16) break;
      if (control.readInt32LE(off + 8) === SOL_SOCKET && control.readInt32LE(off + 12) === SCM_RIGHTS) {
        for (let p = off + 16; p + 4 <= off + len; p += 4) fds.push(control.readInt32LE(p));
      }
      off += (len + 7) & ~7;
    }
    // More descriptors than asked for: keep the first, close the rest rather than leak them.
    for (const extra of fds.slice(1)) this.f.close!(extra);
    if ((msg.readInt32LE(48) & MSG_CTRUNC) !== 0 && fds.length === 0) {
      throw systemError(Errno.EINVAL, 'recvmsg (control data truncated)');
    }
    return { fd: fds[0], payload: Buffer.from(data.subarray(0, n)) };
  }

  openPty(): PtyPair {
    const master = this.check(this.f.posix_openpt!(O_RDWR | O_NOCTTY | O_CLOEXEC), 'posix_openpt');
    try {
      this.check(this.f.grantpt!(master), 'grantpt');
      this.check(this.f.unlockpt!(master), 'unlockpt');
      const buf = Buffer.alloc(128);
      const rc = this.f.ptsname_r!(master, buf, buf.length) as number;
      if (rc !== 0) throw systemError(rc, 'ptsname_r'); // returns the error number itself
      return { master, slavePath: buf.toString('utf8', 0, buf.indexOf(0)) };
    } catch (err) {
      this.f.close!(master);
      throw err;
    }
  }

  setWinsize(fd: number, size: Winsize): void {
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(size.rows, 0);
    ws.writeUInt16LE(size.cols, 2);
    ws.writeUInt16LE(size.xpixel ?? 0, 4);
    ws.writeUInt16LE(size.ypixel ?? 0, 6);
    this.check(this.f.ioctl!(fd, TIOCSWINSZ, 'void *', ws), 'ioctl(TIOCSWINSZ)');
  }

  getWinsize(fd: number): Winsize {
    const ws = Buffer.alloc(8);
    this.check(this.f.ioctl!(fd, TIOCGWINSZ, 'void *', ws), 'ioctl(TIOCGWINSZ)');
    return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2), xpixel: ws.readUInt16LE(4), ypixel: ws.readUInt16LE(6) };
  }

  mkfifo(path: string, mode: number): void {
    this.check(this.f.mkfifo!(path, mode), 'mkfifo', path);
  }

  mount(source: string, target: string, fstype: string, flags: number, data: string): void {
    this.check(
      this.f.mount!(source, target, fstype, flags >>> 0, data ? cstr(data) : null),
      'mount',
      target,
    );
  }

  umount2(target: string, flags: number): void {
    this.check(this.f.umount2!(target, flags), 'umount2', target);
  }
}

let shared: NativeSys | undefined;
let loadError: unknown;

/**
 * The process-wide native {@link Sys}, loaded once. Throws Unimplemented (with the loader's error
 * as cause) where koffi or glibc cannot be loaded; {@link nativeLoadError} tells why without
 * throwing.
 */
export function defaultSys(): Sys {
  if (shared) return shared;
  if (loadError === undefined) {
    try {
      const require = createRequire(import.meta.url);
      shared = new NativeSys(require('koffi'));
      return shared;
    } catch (err) {
      loadError = err;
    }
  }
  throw unimplemented('native system calls (koffi could not be loaded)', loadError);
}

/** Why the native implementation cannot be loaded, or undefined when it can. */
export function nativeLoadError(): unknown {
  try {
    defaultSys();
    return undefined;
  } catch {
    return loadError;
  }
}
