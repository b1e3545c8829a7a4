/**
 * ttrpc server over unix sockets (containerd-facts §1.3–1.7; `ttrpc:server.go`, `services.go`).
 *
 * Per connection: the peer's credentials are checked first (SO_PEERCRED; same uid and gid as this
 * process by default), then frames are read in order. Requests must use odd, strictly increasing
 * stream ids; protocol errors are answered with a Response carrying the status on the offending
 * stream id and the connection stays up. Each Request runs its handler concurrently; a
 * `timeout_nano` becomes an AbortSignal that fires with DeadlineExceeded, and a closed connection
 * aborts its handlers.
 *
 * Deviation from Go, on purpose: a response too large to send is replaced by a ResourceExhausted
 * status on that stream (Go logs and drops the whole connection), and Requests that arrive while
 * the server shuts down get Unavailable (`ttrpc: server closed`) instead of being served.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type protobuf from 'protobufjs';
import { Code, FlotillaError, codeOf, deadlineExceeded, messageOf } from '@flotilla/api';
import { silentLogger, type Logger } from '@flotilla/log';
import { listenUnix, socketPath, type ListenOptions } from './address.js';
import { FrameChannel, closedError } from './channel.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { Flags, MAX_MESSAGE_LENGTH, MessageType, oversizedError, type Frame, type FrameHeader, type FrameTrace } from './frame.js';
import { fromKeyValues, type Metadata } from './metadata.js';
import {
  nativePeerCredentials,
  requireSameUser,
  type PeerAuthorizer,
  type PeerCredentials,
  type PeerCredentialsReader,
} from './peercred.js';
import { MessageQueue } from './queue.js';
import { decodeRequest, encodeResponse, type WireRequest, type WireStatus } from './wire.js';

/** What a handler learns about its call. */
export interface CallContext {
  service: string;
  method: string;
  /** Request metadata (e.g. `containerd-namespace-ttrpc`). */
  metadata: Metadata;
  /** Aborted at the deadline (reason: DeadlineExceeded), when the connection closes or the server stops. */
  signal: AbortSignal;
  /** Deadline in epoch milliseconds, when the caller sent one. */
  deadline?: number;
  /** The peer process, as SO_PEERCRED reported it. */
  peer?: PeerCredentials;
}

/**
 * A method handler. By the method's shape (from the proto):
 * - unary: `(request, ctx) => response | Promise<response>`
 * - server streaming: `(request, ctx) => AsyncIterable<response>` (e.g. an async generator)
 * - client streaming: `(requests: AsyncIterable, ctx) => Promise<response>`
 * - bidi: `(requests: AsyncIterable, ctx) => AsyncIterable<response>`
 *
 * Requests and responses are plain objects (snake_case fields). Returning undefined sends an empty
 * message. A thrown error is answered with its code (`codeOf`) and message.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (request: any, ctx: CallContext) => unknown;

/** A method as the server dispatches it. */
export interface MethodDefinition {
  requestStream: boolean;
  responseStream: boolean;
  /** Serialized request message → what the handler receives. Throws on malformed bytes. */
  decode(bytes: Buffer): unknown;
  /** What the handler returns → serialized response message. */
  encode(message: unknown): Uint8Array;
  handler: Handler;
}

/** Options of a server. */
export interface ServerOptions {
  /** Proto root used by {@link TtrpcServer.register} (loaded with `keepCase`). */
  root?: protobuf.Root;
  /** Reads peer credentials of accepted sockets (default: getsockopt SO_PEERCRED through koffi). */
  peerCredentials?: PeerCredentialsReader;
  /** Decides whether a peer may connect (default: same effective uid and gid as this process). */
  authorize?: PeerAuthorizer;
  logger?: Logger;
  /** Sees every frame sent and received. */
  trace?: FrameTrace;
  /** Messages buffered per client stream (default 64, as Go). */
  streamBufferSize?: number;
  /** How long a full stream buffer may block the connection before that stream fails (default 1 s). */
  streamFullTimeoutMs?: number;
}

/** Options of {@link TtrpcServer.shutdown}. */
export interface ShutdownOptions {
  /** How long to wait for in-flight calls before aborting them (default 10 s). */
  timeoutMs?: number;
}

const SERVER_CLOSED = 'ttrpc: server closed';

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return v != null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return v != null && typeof v !== 'string' && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}

function statusFromError(err: unknown): WireStatus {
  const code = codeOf(err);
  return { code: code === Code.OK ? Code.Unknown : code, message: messageOf(err) };
}

/** One call in progress on a connection. */
class ServerStream {
  readonly controller = new AbortController();
  /** Client-streaming methods: messages from the peer. */
  queue: MessageQueue<Buffer> | undefined;
  /** The peer has sent remote-closed (or the method takes a single request). */
  remoteClosed = false;
  /** A final frame was sent (or the stream was failed); nothing more goes out. */
  finished = false;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private fullTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: number,
    readonly def: MethodDefinition,
  ) {}

  armDeadline(ms: number): void {
    const fire = () => this.controller.abort(deadlineExceeded(''));
    if (ms <= 0) fire();
    else this.deadlineTimer = setTimeout(fire, ms);
  }

  setFullTimer(ms: number, onExpire: () => void): void {
    this.clearFullTimer();
    this.fullTimer = setTimeout(onExpire, ms);
  }

  clearFullTimer(): void {
    if (this.fullTimer) clearTimeout(this.fullTimer);
    this.fullTimer = undefined;
  }

  dispose(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.clearFullTimer();
  }
}

/** One accepted connection. */
class ServerConnection {
  readonly channel: FrameChannel;
  private readonly streams = new Map<number, ServerStream>();
  private lastStreamId = 0;
  /** Handlers still running (their streams may already be finished). */
  private running = 0;

  constructor(
    private readonly server: TtrpcServer,
    socket: Socket,
    readonly peer: PeerCredentials | undefined,
    private readonly log: Logger,
  ) {
    this.channel = new FrameChannel(
      socket,
      {
        frame: (f) => this.onFrame(f),
        oversize: (h, err) => this.onOversize(h, err),
        closed: (err) => this.onClosed(err),
      },
      server.options.trace,
    );
  }

  /** No call is in flight. */
  get idle(): boolean {
    return this.running === 0 && this.streams.size === 0;
  }

  /** Aborts every call and drops the connection. */
  destroy(reason: Error): void {
    for (const s of this.streams.values()) s.controller.abort(reason);
    this.channel.destroy();
  }

  close(): void {
    this.channel.close();
  }

  private onFrame(f: Frame): void {
    if (f.streamId % 2 !== 1) {
      this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID must be odd for client initiated streams');
      return;
    }
    if (f.type === MessageType.Data) this.onData(f);
    else if (f.type === MessageType.Request) this.onRequest(f);
    // Other types are ignored for forward compatibility (as Go does).
  }

  private onOversize(h: FrameHeader, err: FlotillaError): void {
    this.log.warn({ stream: h.streamId, length: h.length }, 'ttrpc: oversized frame discarded');
    this.sendStatus(h.streamId, err.code, err.message);
  }

  private onData(f: Frame): void {
    const s = this.streams.get(f.streamId);
    if (!s || s.finished) {
      this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID is no longer active');
      return;
    }
    if (!s.queue) {
      // Unary and server-streaming calls take no Data (Go keeps no stream entry for a unary call).
      this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID is no longer active');
      return;
    }
    if (s.remoteClosed) {
      this.sendStatus(f.streamId, Code.InvalidArgument, 'data handling error: ttrpc: stream closed');
      return;
    }
    if ((f.flags & Flags.NoData) === 0) s.queue.push(f.payload);
    if (f.flags & Flags.RemoteClosed) {
      s.remoteClosed = true;
      s.queue.end();
    }
  }

  private onRequest(f: Frame): void {
    if (f.streamId <= this.lastStreamId) {
      this.sendStatus(f.streamId, Code.InvalidArgument, 'StreamID cannot be re-used and must increment');
      return;
    }
    this.lastStreamId = f.streamId;
    let req: WireRequest;
    try {
      req = decodeRequest(f.payload);
    } catch (err) {
      this.sendStatus(f.streamId, Code.InvalidArgument, `unmarshal request error: ${messageOf(err)}`);
      return;
    }
    if (this.server.closing) {
      this.sendStatus(f.streamId, Code.Unavailable, SERVER_CLOSED);
      return;
    }
    const resolved = this.server.resolve(req.service, req.method);
    if ('error' in resolved) {
      this.sendStatus(f.streamId, Code.Unimplemented, resolved.error);
      return;
    }
    const def = resolved.method;
    const s = new ServerStream(f.streamId, def);
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: fromKeyValues(req.metadata),
      signal: s.controller.signal,
      peer: this.peer,
    };
    if (req.timeout_nano !== 0) {
      const ms = req.timeout_nano / 1e6;
      ctx.deadline = Date.now() + ms;
      s.armDeadline(ms);
    }
    this.streams.set(f.streamId, s);
    if (def.requestStream) {
      const capacity = this.server.options.streamBufferSize ?? 64;
      s.queue = new MessageQueue<Buffer>(capacity, (full) => this.onQueueFull(s, full));
      // Go delivers the Request payload as a first message when it was on the wire (issue #126).
      if (req.hasPayload) s.queue.push(req.payload);
    } else {
      s.remoteClosed = true;
    }
    this.running++;
    this.server.inflight++;
    this.run(s, req, ctx)
      .catch((err: unknown) => this.log.error({ stream: s.id, err: messageOf(err) }, 'ttrpc: call crashed'))
      .finally(() => {
        this.running--;
        this.server.inflight--;
        s.dispose();
        this.server.callDone(this);
      });
  }

  private onQueueFull(s: ServerStream, full: boolean): void {
    if (!full) {
      s.clearFullTimer();
      this.channel.release(s);
      return;
    }
    this.channel.hold(s);
    s.setFullTimer(this.server.options.streamFullTimeoutMs ?? 1000, () => {
      this.log.warn({ stream: s.id }, 'ttrpc: stream buffer full; failing the stream');
      this.sendStatus(s.id, Code.InvalidArgument, 'data handling error: ttrpc: stream buffer full');
    });
  }

  private requests(s: ServerStream): AsyncIterable<unknown> {
    const queue = s.queue!;
    const decode = s.def.decode;
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await queue.next();
          if (r.done) return { value: undefined, done: true };
          return { value: decodePayload(decode, r.value), done: false };
        },
      }),
    };
  }

  private async run(s: ServerStream, req: WireRequest, ctx: CallContext): Promise<void> {
    const def = s.def;
    try {
      const input = def.requestStream ? this.requests(s) : decodePayload(def.decode, req.payload);
      let result = def.handler(input, ctx);
      if (!def.responseStream) {
        const res = await result;
        this.respond(s, undefined, encodePayload(def.encode, res));
        return;
      }
      if (!isAsyncIterable(result) && !isIterable(result)) result = await result;
      if (!isAsyncIterable(result) && !isIterable(result)) {
        throw new FlotillaError(Code.Internal, `ttrpc: streaming handler for ${req.method} did not return an iterable`);
      }
      for await (const item of result as AsyncIterable<unknown>) {
        if (s.finished || this.channel.closed) break;
        const bytes = encodePayload(def.encode, item);
        if (bytes.length > MAX_MESSAGE_LENGTH) throw oversizedError(bytes.length);
        if (!this.channel.send(s.id, MessageType.Data, 0, bytes)) await this.channel.drained();
      }
      if (s.finished || this.channel.closed) return;
      s.finished = true;
      this.streams.delete(s.id);
      this.channel.send(s.id, MessageType.Data, Flags.RemoteClosed | Flags.NoData);
    } catch (err) {
      if (!s.finished) this.log.debug({ service: req.service, method: req.method, err: messageOf(err) }, 'ttrpc: call failed');
      this.respond(s, statusFromError(err), undefined);
    }
  }

  /** Sends the final Response of a stream (once). */
  private respond(s: ServerStream, status: WireStatus | undefined, payload: Uint8Array | undefined): void {
    if (s.finished) return;
    s.finished = true;
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.channel.release(s);
    s.queue?.fail(closedError());
    if (this.channel.closed) return;
    let bytes = encodeResponse({ status, payload });
    if (bytes.length > MAX_MESSAGE_LENGTH) {
      const e = oversizedError(bytes.length);
      bytes = encodeResponse({ status: { code: e.code, message: e.message } });
    }
    try {
      this.channel.send(s.id, MessageType.Response, 0, bytes);
    } catch (err) {
      this.log.debug({ stream: s.id, err: messageOf(err) }, 'ttrpc: response not sent');
    }
  }

  /**
   * Answers `id` with a status. An active stream on that id is ended: its handler is aborted and
   * whatever it returns later is dropped.
   */
  private sendStatus(id: number, code: Code, message: string): void {
    const s = this.streams.get(id);
    if (s) {
      const err = new FlotillaError(code, message);
      this.respond(s, { code, message }, undefined);
      s.controller.abort(err);
      return;
    }
    if (this.channel.closed) return;
    try {
      this.channel.send(id, MessageType.Response, 0, encodeResponse({ status: { code, message } }));
    } catch (err) {
      this.log.debug({ stream: id, err: messageOf(err) }, 'ttrpc: status not sent');
    }
  }

  private onClosed(err?: Error): void {
    const reason = closedError(err);
    for (const s of this.streams.values()) {
      s.finished = true;
      s.queue?.fail(reason);
      s.controller.abort(reason);
    }
    this.streams.clear();
    this.server.connectionClosed(this);
  }
}

function decodePayload(decode: (b: Buffer) => unknown, bytes: Buffer): unknown {
  try {
    return decode(bytes);
  } catch (err) {
    throw new FlotillaError(Code.Internal, `ttrpc: error unmarshalling payload: ${messageOf(err)}`, { cause: err });
  }
}

function encodePayload(encode: (m: unknown) => Uint8Array, message: unknown): Uint8Array {
  try {
    return encode(message ?? {});
  } catch (err) {
    throw new FlotillaError(Code.Internal, `ttrpc: error marshaling payload: ${messageOf(err)}`, { cause: err });
  }
}

/** A ttrpc server: register services, then listen on one or more unix sockets. */
export class TtrpcServer {
  /** @internal */
  readonly options: ServerOptions;
  /** @internal Handlers running on any connection. */
  inflight = 0;
  private readonly services = new Map<string, Map<string, MethodDefinition>>();
  private readonly listeners = new Set<Server>();
  private readonly connections = new Set<ServerConnection>();
  private readonly log: Logger;
  private state: 'serving' | 'closing' | 'closed' = 'serving';
  private idleWaiters: (() => void)[] = [];

  constructor(options: ServerOptions = {}) {
    this.options = options;
    this.log = options.logger ?? silentLogger();
  }

  /** Whether the server is shutting down or closed. */
  get closing(): boolean {
    return this.state !== 'serving';
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Registers `serviceName` (fully qualified, e.g. `containerd.task.v2.Task`) from the proto root
   * with `handlers` keyed by method name. Request/response types and streaming shapes come from
   * the proto; methods without a handler answer Unimplemented. Throws for an unknown service or
   * method name, or a service registered twice.
   */
  register(serviceName: string, handlers: Record<string, Handler>, root: protobuf.Root | undefined = this.options.root): this {
    if (!root) throw new Error('ttrpc: register needs a proto root (ServerOptions.root)');
    const name = serviceName.replace(/^\./, '');
    const service = root.lookupService(name);
    const methods: Record<string, MethodDefinition> = {};
    for (const [methodName, handler] of Object.entries(handlers)) {
      const m = service.methods[methodName];
      if (!m) throw new Error(`ttrpc: service ${name} has no method ${methodName}`);
      m.resolve();
      const reqType = m.resolvedRequestType!;
      const resType = m.resolvedResponseType!;
      methods[methodName] = {
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
        decode: (b) => decodeMessage(reqType, b),
        encode: (o) => encodeMessage(resType, o as object),
        handler,
      };
    }
    return this.addService(name, methods);
  }

  /** Registers a service from method definitions (custom codecs, raw bytes). */
  addService(serviceName: string, methods: Record<string, MethodDefinition>): this {
    if (this.services.has(serviceName)) throw new Error(`ttrpc: duplicate service ${serviceName} registered`);
    this.services.set(serviceName, new Map(Object.entries(methods)));
    return this;
  }

  /** @internal */
  resolve(service: string, method: string): { method: MethodDefinition } | { error: string } {
    const svc = this.services.get(service);
    if (!svc) return { error: `service ${service}` };
    const m = svc.get(method);
    if (!m) return { error: `method ${method}` };
    return { method: m };
  }

  /** Listens on the unix socket `address` (see `listenUnix`); resolves once listening. */
  async listen(address: string, opts: ListenOptions = {}): Promise<Server> {
    if (this.closing) throw new FlotillaError(Code.Unavailable, SERVER_CLOSED);
    const server = await listenUnix(address, opts);
    this.log.debug({ address: socketPath(address) }, 'ttrpc: listening');
    this.serve(server);
    return server;
  }

  /** Serves on an inherited listening socket (e.g. fd 3 handed to a shim). */
  async listenFd(fd: number): Promise<Server> {
    if (this.closing) throw new FlotillaError(Code.Unavailable, SERVER_CLOSED);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.serve(server);
    return server;
  }

  /** Serves connections accepted by an existing net.Server (listening or not yet). */
  serve(server: Server): void {
    this.listeners.add(server);
    server.on('connection', (socket: Socket) => this.accept(socket));
    server.on('close', () => this.listeners.delete(server));
  }

  /** Takes over an accepted socket: checks the peer, then serves ttrpc on it. */
  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    let peer: PeerCredentials;
    try {
      peer = (this.options.peerCredentials ?? nativePeerCredentials()).read(socket);
    } catch (err) {
      this.log.warn({ err: messageOf(err) }, 'ttrpc: refusing connection: cannot read peer credentials');
      socket.destroy();
      return;
    }
    const authorize = this.options.authorize ?? requireSameUser();
    if (!authorize(peer)) {
      this.log.warn({ peer }, 'ttrpc: refusing connection: peer credentials not allowed');
      socket.destroy();
      return;
    }
    const conn = new ServerConnection(this, socket, peer, this.log);
    this.connections.add(conn);
  }

  /** @internal A handler finished on `conn`. */
  callDone(conn: ServerConnection): void {
    if (this.state === 'closing' && conn.idle) conn.close();
    this.checkIdle();
  }

  /** @internal */
  connectionClosed(conn: ServerConnection): void {
    this.connections.delete(conn);
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.inflight === 0 && this.connections.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Graceful stop: stops accepting, refuses new calls with Unavailable, closes each connection once
   * its calls finished, and after `timeoutMs` aborts whatever still runs and drops the connections.
   */
  async shutdown(opts: ShutdownOptions = {}): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    for (const c of this.connections) if (c.idle) c.close();
    const idle = new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), opts.timeoutMs ?? 10_000))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ inflight: this.inflight }, 'ttrpc: shutdown timed out; aborting calls');
      this.close();
    }
    this.state = 'closed';
  }

  /** Immediate stop: closes listeners, aborts every call and drops every connection. */
  close(): void {
    if (this.state !== 'closed') this.state = 'closing';
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    const reason = new FlotillaError(Code.Unavailable, SERVER_CLOSED);
    for (const c of [...this.connections]) c.destroy(reason);
    this.state = 'closed';
  }
}
