/**
 * A container process's stdio (containerd-facts §2.10; `pkg/process/io.go`, `runc/platform.go`).
 *
 * Non-terminal processes get pipes from the shim ({@link makePipe}) as their stdio — only for the
 * streams the client asked for; none at all means /dev/null — and the shim copies, from the moment
 * `runc create`/`exec` succeeded (what a failing runc printed there is dropped, as by the runc shim):
 * - `fifo` (a plain path, what ctr and CRI pass): pipe → the client's FIFO, opened read-write and
 *   non-blocking so writes never fail when the client goes away (the runc shim keeps an extra
 *   read-only descriptor for the same reason); the client's stdin FIFO (read, non-blocking) →
 *   the container's stdin pipe, closed at end of file. A path that is not a FIFO is appended to.
 * - `file:///path`: stdout and stderr both appended to that file (created 0644, parents 0755).
 * - `binary:///path?k=v`: the logging binary gets the read ends as fds 3 and 4 and a "ready" pipe
 *   as fd 5, env `CONTAINER_ID` and `CONTAINER_NAMESPACE` only, args `k v` from the query; we wait
 *   until it closes fd 5 (or writes to it). Stopped with SIGTERM (then SIGKILL after 12 s).
 *
 * Terminal processes: runc gets `--console-socket` and hands over the pty master; the shim copies
 * client stdin → master and master → stdout (FIFO or logging binary); stderr is unused.
 *
 * In both cases the shim also opens a writer on the client's stdin FIFO and holds it until
 * CloseIO, so the stdin copy cannot see end of file before the client decided it is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, lstatSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import { consoleStreams, createConsoleSocket, openFifoReader, openFifoWriter, type ConsoleSocket, type ConsoleStreams, type Sys } from '@flotilla/sys';
import { closeFd, makePipe } from './pipe.js';
import type { ContainerStdio } from './runc.js';

/** The stdio a client asked for (CreateTaskRequest / ExecProcessRequest fields). */
export interface StdioConfig {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What a ProcessIO needs to know about its process. */
export interface IOContext {
  /** Process id for logging binaries (`CONTAINER_ID`): the container id, or the exec id. */
  id: string;
  namespace: string;
  /** Where the temporary FIFOs behind pipes are made (the bundle). */
  pipeDir: string;
  sys: Sys;
  logger: Logger;
  /** runc options `io_uid`/`io_gid`. */
  owner?: { uid: number; gid: number };
}

/** A stdio URI split like Go's url.Parse does for our purposes. */
export interface StdioUri {
  /** `fifo` (no scheme), `file`, `binary`, or another (unsupported) scheme. */
  scheme: string;
  path: string;
  /** Query pairs in order (binary logger arguments). */
  query: [string, string][];
}

/** Parses a stdio string (`/path`, `file:///path`, `binary:///path?k=v`). */
export function parseStdioUri(s: string): StdioUri {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(s);
  if (!m) return { scheme: 'fifo', path: s, query: [] };
  let url: URL;
  try {
    url = new URL(s);
  } catch (err) {
    throw invalidArgument(`unable to parse stdout uri ${JSON.stringify(s)}`, err);
  }
  const query: [string, string][] = [];
  for (const [k, v] of url.searchParams) if (!query.some(([q]) => q === k)) query.push([k, v]);
  return { scheme: m[1]!.toLowerCase(), path: decodeURIComponent(url.pathname), query };
}

/** The logging binary's command line (Go's NewBinaryCmd: `k v` per query key). */
export function binaryArgs(uri: StdioUri): string[] {
  const args: string[] = [];
  for (const [k, v] of uri.query) {
    args.push(k);
    if (v !== '') args.push(v);
  }
  return args;
}

/** A writer shared by stdout and stderr (the `file://` case): ends when both are done. */
class SharedWriter {
  private users = 0;
  constructor(readonly stream: Writable) {}
  acquire(): Writable {
    this.users++;
    return this.stream;
  }
  release(): void {
    if (--this.users === 0) this.stream.end();
  }
}

function isFifo(path: string): boolean {
  return lstatSync(path).isFIFO();
}

/** An append-only writer on a regular file, through libuv's file stream. */
async function openAppend(path: string): Promise<Writable> {
  const { createWriteStream } = await import('node:fs');
  return createWriteStream(path, { flags: 'a' });
}

/**
 * Copies `src` into `dst` until `src` ends or fails. Does not end `dst`; the caller does (it may be
 * shared). Resolves when the copy stopped.
 */
function copy(src: Readable, dst: Writable, log: Logger, what: string, quiet = false): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      // A container that exits without reading its stdin makes the stdin copy fail: not news.
      if (err) log[quiet ? 'debug' : 'warn']({ err: err.message }, `error copying ${what}`);
      src.unpipe(dst);
      resolve();
    };
    src.on('error', (err) => finish(err));
    src.once('end', () => finish());
    src.once('close', () => finish());
    dst.on('error', (err) => {
      finish(err);
      // Keep draining the container's side so it does not block on a full pipe.
      src.resume();
    });
    src.pipe(dst, { end: false });
  });
}

function endAndWait(dst: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (dst.destroyed || dst.writableFinished) return resolve();
    dst.once('close', () => resolve());
    dst.once('finish', () => resolve());
    dst.once('error', () => resolve());
    dst.end();
  });
}

/** The stdio of one container process; see the file comment. */
export class ProcessIO {
  /** runc's stdio for create/exec (undefined with a terminal: runc's own output is captured then). */
  runcStdio: ContainerStdio | undefined;
  /** `--console-socket` for runc, with a terminal. */
  consoleSocketPath: string | undefined;

  private readonly childFds: number[] = [];
  private readonly fds: number[] = [];
  private readonly streams: (Readable | Writable)[] = [];
  private readonly outputs: Promise<void>[] = [];
  /**
   * Copies that begin once runc create/exec succeeded (stdin: nothing is read from the client
   * before; outputs: runc's own error output is not the container's).
   */
  private readonly startCopies: (() => void)[] = [];
  private stdinWriter: number | undefined;
  private consoleSocket: ConsoleSocket | undefined;
  private console: ConsoleStreams | undefined;
  private masterFd: number | undefined;
  private loggerProcess: ChildProcess | undefined;
  private closed = false;
  /** Pending for the console's copies until the master is received. */
  private pendingConsole: { stdin: Readable | undefined; stdout: Writable | undefined; binaryOut: number | undefined } | undefined;

  private constructor(
    readonly stdio: StdioConfig,
    private readonly ctx: IOContext,
  ) {}

  /**
   * Prepares the stdio before runc runs: pipes, the client's FIFOs or files, the logging binary,
   * or a console socket. On failure everything opened is closed again.
   */
  static async open(stdio: StdioConfig, ctx: IOContext): Promise<ProcessIO> {
    const io = new ProcessIO(stdio, ctx);
    try {
      if (stdio.terminal) await io.openTerminal();
      else await io.openPipes();
    } catch (err) {
      await io.close();
      throw err;
    }
    return io;
  }

  private track<T extends Readable | Writable>(s: T): T {
    this.streams.push(s);
    s.on('error', () => undefined); // reported by the copy that uses it
    return s;
  }

  private async openPipes(): Promise<void> {
    const { stdin, stdout, stderr } = this.stdio;
    if (!stdin && !stdout && !stderr) {
      this.runcStdio = ['ignore', 'ignore', 'ignore'];
      return;
    }
    const uri = parseStdioUri(stdout);
    const stdio: ContainerStdio = ['ignore', 'ignore', 'ignore'];
    switch (uri.scheme) {
      case 'binary': {
        const [out, err] = await this.startLogger(uri);
        stdio[1] = out;
        stdio[2] = err;
        break;
      }
      case 'fifo':
      case 'file': {
        let outPath = stdout;
        let errPath = stderr;
        if (uri.scheme === 'file') {
          mkdirSync(dirname(uri.path), { recursive: true, mode: 0o755 });
          closeSync(openSync(uri.path, constants.O_APPEND | constants.O_CREAT | constants.O_WRONLY, 0o644));
          outPath = uri.path;
          errPath = uri.path;
        }
        let shared: SharedWriter | undefined;
        const destination = async (path: string): Promise<{ stream: Writable; release: () => Promise<void> }> => {
          if (isFifo(path)) {
            const w = this.track(openFifoWriter(path));
            return { stream: w, release: () => endAndWait(w) };
          }
          if (shared && outPath === errPath) return { stream: shared.acquire(), release: async () => shared!.release() };
          const w = this.track(await openAppend(path));
          if (outPath === errPath) {
            shared = new SharedWriter(w);
            return { stream: shared.acquire(), release: async () => shared!.release() };
          }
          return { stream: w, release: () => endAndWait(w) };
        };
        const outputs: { fd: 1 | 2; path: string; name: string }[] = [];
        if (stdout) outputs.push({ fd: 1, path: outPath, name: 'stdout' });
        if (stderr) outputs.push({ fd: 2, path: errPath, name: 'stderr' });
        for (const o of outputs) {
          const dst = await destination(o.path);
          const pipe = makePipe(this.ctx.pipeDir, 'write', this.ctx.sys, this.ctx.owner);
          this.childFds.push(pipe.write);
          stdio[o.fd] = pipe.write;
          const src = this.track(new Socket({ fd: pipe.read, readable: true, writable: false }));
          src.pause();
          // Copied once runc succeeded: what a failing `runc create/exec` wrote on the container's
          // stderr (its error, which the caller gets anyway) is dropped, as by the runc shim.
          this.startCopies.push(() => {
            this.outputs.push(
              copy(src, dst.stream, this.ctx.logger, o.name).then(async () => {
                await dst.release();
                src.destroy();
              }),
            );
          });
        }
        if (stdin) {
          const pipe = makePipe(this.ctx.pipeDir, 'read', this.ctx.sys, this.ctx.owner);
          this.childFds.push(pipe.read);
          stdio[0] = pipe.read;
          const reader = this.openStdinFifo(stdin);
          const writer = this.track(new Socket({ fd: pipe.write, readable: false, writable: true }));
          this.startCopies.push(() => {
            void copy(reader, writer, this.ctx.logger, 'stdin', true).then(() => {
              writer.end();
              reader.destroy();
            });
          });
        }
        break;
      }
      default:
        throw invalidArgument(`unknown STDIO scheme ${uri.scheme}`);
    }
    this.runcStdio = stdio;
  }

  /** Starts a logging binary; returns the write ends for the container's stdout and stderr. */
  private async startLogger(uri: StdioUri): Promise<[number, number]> {
    const sys = this.ctx.sys;
    const out = makePipe(this.ctx.pipeDir, 'write', sys);
    const err = makePipe(this.ctx.pipeDir, 'write', sys);
    const ready = makePipe(this.ctx.pipeDir, 'write', sys);
    this.fds.push(out.write, err.write);
    for (const fd of [out.read, err.read]) sys.setNonblocking(fd, false);
    let child: ChildProcess;
    try {
      child = spawn(uri.path, binaryArgs(uri), {
        env: { CONTAINER_ID: this.ctx.id, CONTAINER_NAMESPACE: this.ctx.namespace },
        stdio: ['ignore', 'ignore', 'ignore', out.read, err.read, ready.write],
      });
    } catch (e) {
      closeFd(ready.read);
      throw e;
    } finally {
      for (const fd of [out.read, err.read, ready.write]) closeFd(fd);
    }
    this.loggerProcess = child;
    await new Promise<void>((resolve, reject) => {
      const r = new Socket({ fd: ready.read, readable: true, writable: false });
      const timer = setTimeout(() => done(new Error('logging binary did not become ready within 10 s')), 10_000);
      const done = (e?: Error) => {
        clearTimeout(timer);
        r.destroy();
        child.off('error', done);
        if (e) reject(new Error(`failed to start logging binary ${uri.path}: ${e.message}`));
        else resolve();
      };
      child.once('error', done);
      r.once('data', () => done());
      r.once('end', () => done());
      r.once('error', (e) => done(e));
    });
    return [out.write, err.write];
  }

  private async openTerminal(): Promise<void> {
    const { stdin, stdout } = this.stdio;
    this.consoleSocket = createConsoleSocket(undefined, { sys: this.ctx.sys });
    this.consoleSocketPath = this.consoleSocket.path;
    const pending: NonNullable<ProcessIO['pendingConsole']> = { stdin: undefined, stdout: undefined, binaryOut: undefined };
    this.pendingConsole = pending;
    if (stdin) pending.stdin = this.openStdinFifo(stdin);
    if (stdout) {
      const uri = parseStdioUri(stdout);
      if (uri.scheme === 'binary') {
        const [out] = await this.startLogger(uri);
        pending.binaryOut = out;
      } else if (uri.scheme === 'fifo') {
        pending.stdout = this.track(openFifoWriter(stdout));
      } else {
        throw invalidArgument(`unknown STDIO scheme ${uri.scheme} with a terminal`);
      }
    }
  }

  /**
   * Opens the client's stdin FIFO for reading (non-blocking), and right away our own writer on it
   * (O_WRONLY | O_NONBLOCK succeeds: our reader has it open), held until CloseIO: without it the
   * reader would see end of file whenever the client's writer is not (yet, or any more) open.
   * Nothing is read before {@link started}.
   */
  private openStdinFifo(path: string): Readable {
    const reader = this.track(openFifoReader(path));
    reader.pause();
    this.stdinWriter = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    return reader;
  }

  /**
   * After runc create/exec returned successfully: closes the descriptors runc inherited, starts
   * copying, and with a terminal receives the pty master first.
   */
  async started(): Promise<void> {
    this.closeChildFds();
    for (const start of this.startCopies.splice(0)) start();
    if (this.consoleSocket) {
      const master = await this.consoleSocket.receiveMaster({ timeoutMs: 30_000 });
      this.consoleSocket.close();
      this.consoleSocket = undefined;
      this.masterFd = master;
      const cons = consoleStreams(master, this.ctx.sys);
      this.console = cons;
      // The reader closes the master once the terminal is gone; resizing it then is a no-op.
      cons.readable.once('close', () => (this.masterFd = undefined));
      this.track(cons.readable);
      this.track(cons.writable);
      const p = this.pendingConsole!;
      if (p.stdin) {
        const reader = p.stdin;
        void copy(reader, cons.writable, this.ctx.logger, 'console stdin').then(() => reader.destroy());
      }
      let dst: Writable | undefined = p.stdout;
      if (p.binaryOut !== undefined) dst = this.track(new Socket({ fd: this.ctx.sys.dup(p.binaryOut), readable: false, writable: true }));
      if (dst) {
        const out = dst;
        this.outputs.push(copy(cons.readable, out, this.ctx.logger, 'console').then(() => endAndWait(out)));
      } else {
        cons.readable.resume(); // nobody listens: drain
      }
    }
  }

  /** Closes the descriptors handed to runc (after it ran, successfully or not). */
  closeChildFds(): void {
    for (const fd of this.childFds.splice(0)) closeFd(fd);
  }

  /** ResizePty: TIOCSWINSZ on the master (no terminal: nothing to do). */
  resize(width: number, height: number): void {
    if (this.masterFd === undefined || this.closed) return;
    this.ctx.sys.setWinsize(this.masterFd, { rows: height, cols: width });
  }

  /** CloseIO: lets the stdin copy reach end of file once the client closed its side too. */
  closeStdin(): void {
    closeFd(this.stdinWriter);
    this.stdinWriter = undefined;
  }

  /**
   * The process exited: a console's output is drained for a moment, then the console is closed
   * even if some other process still holds the terminal (the runc shim's ShutdownConsole).
   */
  processExited(): void {
    if (!this.console) return;
    const cons = this.console;
    const timer = setTimeout(() => cons.close(), 200);
    timer.unref();
  }

  /** Resolves when the output copies finished, or after `timeoutMs`. */
  async waitOutput(timeoutMs: number): Promise<void> {
    if (this.outputs.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.outputs), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Closes everything; stops a logging binary (SIGTERM, SIGKILL after 12 s). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeChildFds();
    this.closeStdin();
    this.consoleSocket?.close();
    this.console?.close();
    for (const s of this.streams) s.destroy();
    for (const fd of this.fds.splice(0)) closeFd(fd);
    const logger = this.loggerProcess;
    if (logger && logger.exitCode === null && logger.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.kill('SIGKILL');
        }, 12_000);
        logger.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        logger.kill('SIGTERM');
      });
    }
  }
}
