/**
 * The console socket: where runc hands over a container's pty master (`runc create|exec
 * --console-socket <dir>/pty.sock`). runc connects, sends one message whose payload is the pty's
 * name and whose SCM_RIGHTS control data carries the master descriptor, and closes
 * (go-runc console.go, containerd-facts §2.9). Node's net module drops descriptors sent over unix
 * sockets, so the socket, accept and recvmsg are native calls here.
 *
 * Waiting: the listening socket and the connection are non-blocking. A receive first just tries
 * (after `runc create` returned, runc has connected and sent already, so no waiting happens in the
 * normal flow); only when nothing is there yet it waits in poll(2) on a libuv threadpool thread,
 * together with a per-call eventfd that `close()` or an AbortSignal writes to. So a wait occupies
 * one threadpool thread for at most the timeout and can always be cut short.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canceled, deadlineExceeded, failedPrecondition, unavailable } from '@flotilla/api';
import { defaultSys } from './native.js';
import type { Sys } from './sys.js';

/** Options of {@link ConsoleSocket.receiveMaster}. */
export interface ReceiveOptions {
  /** How long to wait for runc to connect and send; default 10 s. */
  timeoutMs?: number;
  /** Cancels the wait (rejects with Canceled). */
  signal?: AbortSignal;
}

/** A listening console socket; create it with {@link createConsoleSocket}. */
export class ConsoleSocket {
  /** The socket's path, to pass as `--console-socket`. */
  readonly path: string;
  private readonly sys: Sys;
  private readonly ownDir: string | undefined;
  private listenFd: number | undefined;
  private readonly waking = new Set<number>();
  private inflight = 0;
  private closed = false;

  /** @internal use {@link createConsoleSocket}. */
  constructor(path: string, sys: Sys, ownDir?: string) {
    this.path = path;
    this.sys = sys;
    this.ownDir = ownDir;
    this.listenFd = sys.listenUnix(path, 1);
  }

  /**
   * Accepts one connection and returns the descriptor it carried (the pty master, close-on-exec;
   * the caller owns it). Rejects with DeadlineExceeded after the timeout, Canceled when aborted or
   * closed, Unavailable when the peer hangs up without sending a descriptor.
   */
  async receiveMaster(opts: ReceiveOptions = {}): Promise<number> {
    if (this.closed) throw failedPrecondition(`console socket ${this.path} is closed`);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const wake = this.sys.eventfd();
    this.waking.add(wake);
    this.inflight++;
    const onAbort = () => this.sys.signalEventfd(wake);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let conn: number | undefined;
    const waitFor = async (fd: number, what: string) => {
      for (;;) {
        if (this.closed) throw canceled(`console socket ${this.path} closed while waiting for ${what}`);
        if (opts.signal?.aborted) throw canceled(`waiting for ${what} on ${this.path}`, opts.signal.reason);
        const left = deadline - Date.now();
        if (left <= 0) throw deadlineExceeded(`no ${what} on console socket ${this.path} within ${timeoutMs} ms`);
        const [ready] = await this.sys.pollReadable([fd, wake], left);
        if (ready) return;
      }
    };
    try {
      for (;;) {
        conn = this.sys.accept(this.listenFd!);
        if (conn !== undefined) break;
        await waitFor(this.listenFd!, 'connection');
      }
      for (;;) {
        const msg = this.sys.recvFd(conn);
        if (msg?.fd !== undefined) return msg.fd;
        if (msg && msg.payload.length === 0) {
          throw unavailable(`console socket ${this.path}: peer closed without sending a descriptor`);
        }
        if (!msg) await waitFor(conn, 'pty master');
        // A message without a descriptor: ignore it and read on.
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      if (conn !== undefined) this.sys.close(conn);
      this.waking.delete(wake);
      this.sys.close(wake);
      this.inflight--;
      if (this.closed && this.inflight === 0) this.release();
    }
  }

  /**
   * Stops listening: wakes pending receives (they reject with Canceled), closes the socket,
   * removes its file and the temporary directory if {@link createConsoleSocket} made one.
   * Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waking) this.sys.signalEventfd(w);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
    // A receive may be polling the listening descriptor on a threadpool thread: close it only
    // when the last one returned, so its number cannot be reused under that poll.
    if (this.inflight === 0) this.release();
  }

  private release(): void {
    if (this.listenFd === undefined) return;
    this.sys.close(this.listenFd);
    this.listenFd = undefined;
  }
}

/**
 * Listens at `<dir>/pty.sock` (runc's `--console-socket`). Without `dir`, makes a private
 * temporary directory (0700, under the OS temp dir) and removes it on close, like containerd's
 * `NewTempConsoleSocket`. The whole path must fit in 107 bytes.
 */
export function createConsoleSocket(dir?: string, opts: { sys?: Sys } = {}): ConsoleSocket {
  const sys = opts.sys ?? defaultSys();
  const ownDir = dir === undefined ? mkdtempSync(join(tmpdir(), 'pty')) : undefined;
  const path = join(dir ?? ownDir!, 'pty.sock');
  try {
    return new ConsoleSocket(path, sys, ownDir);
  } catch (err) {
    if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    throw err;
  }
}
