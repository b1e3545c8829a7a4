/**
 * @flotilla/sys — the few Linux system calls a TypeScript containerd shim needs beyond Node:
 * child subreaper, a SIGCHLD reaper that coexists with node:child_process, runc's console socket
 * (SCM_RIGHTS), pty sizing and streams, non-blocking FIFOs, and mounting containerd Mount records.
 *
 * Every native call goes through the {@link Sys} interface: {@link defaultSys} is glibc through
 * koffi, {@link FakeSys} an in-memory fake for unit tests. Higher-level helpers take a `sys`
 * argument (the native one by default).
 */
export * from './sys.js';
export { defaultSys, nativeLoadError, NativeSys } from './native.js';
export { FakeSys, type FakeMount } from './fake.js';
export { Errno, errnoName, systemError, type SystemError } from './errno.js';
export { isChildSubreaper, setChildSubreaper } from './subreaper.js';
export { decodeWaitStatus, exitedStatus, signaledStatus, type ExitInfo } from './wait-status.js';
export { isNodeChild, nodeChildCount, trackNodeChildren } from './node-children.js';
export { ExitSubscription, Reaper, startReaper, type ReaperOptions } from './reaper.js';
export { ConsoleSocket, createConsoleSocket, type ReceiveOptions } from './console-socket.js';
export { consoleStreams, getWinsize, openPty, setWinsize, type ConsoleStreams } from './pty.js';
export { mkfifo, openFifoReader, openFifoWriter } from './fifo.js';
export {
  mount,
  mountAll,
  mountRecord,
  parseMountOptions,
  umount2,
  unmount,
  unmountAll,
  type MountRecord,
  type ParsedMountOptions,
} from './mount.js';
