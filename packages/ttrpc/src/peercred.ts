/**
 * Peer credentials of unix socket connections (containerd-facts §1.7).
 *
 * containerd's shims and its ttrpc listener accept a connection only when the peer's uid AND gid
 * equal the server's effective uid/gid (`ttrpc:unixcreds_linux.go UnixSocketRequireSameUser`),
 * read with `getsockopt(fd, SOL_SOCKET, SO_PEERCRED)`. Node has no API for that, so the real
 * reader calls glibc through `koffi` (the FFI services/snapshotter already uses: prebuilt binaries
 * for linux-x64 in the npm package, nothing compiled, no extra dependency) on the accepted socket's
 * file descriptor (`socket._handle.fd`, libuv's `uv_fileno`). The call is synchronous and costs
 * microseconds, once per connection.
 *
 * It sits behind {@link PeerCredentialsReader} (ARCHITECTURE §9: native calls behind an interface
 * with a fake), so tests can present any peer with {@link fakePeerCredentials}. Alternatives we did
 * not take: a node-gyp addon (needs headers from the internet), `ss -xp` per connection (a process
 * per accept and racy), and `/proc/net/unix` (inode lookup gives no credentials).
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import type { Socket } from 'node:net';
import { Code, FlotillaError } from '@flotilla/api';

/** The credentials of the process at the other end of a unix socket (`struct ucred`). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Reads the credentials of a connected unix socket's peer. Throws when it cannot. */
export interface PeerCredentialsReader {
  read(socket: Socket): PeerCredentials;
}

/** Decides whether a peer may talk to the server. */
export type PeerAuthorizer = (peer: PeerCredentials) => boolean;

/** Go's `UnixSocketRequireSameUser`: uid and gid equal to this process's effective ones. */
export function requireSameUser(): PeerAuthorizer {
  const uid = process.geteuid?.() ?? -1;
  const gid = process.getegid?.() ?? -1;
  return (peer) => peer.uid === uid && peer.gid === gid;
}

/** Go's `UnixSocketRequireUidGid`: -1 matches anything. */
export function requireUidGid(uid: number, gid: number): PeerAuthorizer {
  return (peer) => (uid === -1 || peer.uid === uid) && (gid === -1 || peer.gid === gid);
}

/** A reader that returns fixed credentials (or those `fn` computes) — for tests. */
export function fakePeerCredentials(creds: PeerCredentials | ((socket: Socket) => PeerCredentials)): PeerCredentialsReader {
  return { read: (socket) => (typeof creds === 'function' ? creds(socket) : { ...creds }) };
}

const SOL_SOCKET = 1;

/** SO_PEERCRED differs on a few Linux architectures (asm-generic is 17). */
function soPeerCred(): number {
  switch (process.arch) {
    case 'ppc':
    case 'ppc64':
      return 21;
    case 'mips':
    case 'mipsel':
      return 18;
    default:
      return 17;
  }
}

/** The file descriptor behind a net.Socket (libuv `uv_fileno`), or undefined. */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, len: Uint32Array) => number;

class KoffiPeerCredentials implements PeerCredentialsReader {
  private readonly getsockopt: GetSockOpt;
  private readonly errno: () => number;

  constructor(koffi: { load(lib: string): { func(sig: string): GetSockOpt }; errno(): number }) {
    const libc = koffi.load('libc.so.6');
    this.getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Inout_ uint8_t *optval, _Inout_ uint32_t *optlen)');
    this.errno = () => koffi.errno();
  }

  read(socket: Socket): PeerCredentials {
    const fd = socketFd(socket);
    if (fd === undefined) throw new FlotillaError(Code.FailedPrecondition, 'ttrpc: socket has no file descriptor');
    const ucred = Buffer.alloc(12);
    const len = new Uint32Array([12]);
    const rc = this.getsockopt(fd, SOL_SOCKET, soPeerCred(), ucred, len);
    if (rc !== 0) {
      throw new FlotillaError(Code.Internal, `ttrpc: getsockopt(SO_PEERCRED) failed: errno ${this.errno()}`);
    }
    if (len[0]! < 12) throw new FlotillaError(Code.Internal, `ttrpc: short ucred (${len[0]} bytes)`);
    // struct ucred { pid_t pid; uid_t uid; gid_t gid; } in host byte order.
    if (endianness() === 'LE') return { pid: ucred.readInt32LE(0), uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) };
    return { pid: ucred.readInt32BE(0), uid: ucred.readUInt32BE(4), gid: ucred.readUInt32BE(8) };
  }
}

let native: PeerCredentialsReader | undefined;

/**
 * The real reader (getsockopt through koffi), created on first use. Throws Unimplemented when
 * koffi cannot be loaded; a server then refuses every connection rather than skip the check.
 */
export function nativePeerCredentials(): PeerCredentialsReader {
  if (!native) {
    let koffi;
    try {
      koffi = createRequire(import.meta.url)('koffi');
    } catch (err) {
      throw new FlotillaError(Code.Unimplemented, `ttrpc: SO_PEERCRED needs koffi: ${(err as Error).message}`, { cause: err });
    }
    native = new KoffiPeerCredentials(koffi);
  }
  return native;
}
