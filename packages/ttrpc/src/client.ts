/**
 * ttrpc client over one unix socket connection (containerd-facts §1.3–1.6; `ttrpc:client.go`).
 *
 * - Streams are numbered 1, 3, 5, …; ids are allocated and the Request written in the same tick,
 *   so ids on the wire always increase.
 * - Many calls share the connection; replies are matched by stream id and may arrive in any order.
 * - Unary: `Request(flags 0)` → `Response`. Server streaming: `Request(remote-closed)` → `Data`…,
 *   ended by `Data(remote-closed[|no-data])` or a failing `Response`. Client streaming:
 *   `Request(remote-open)` without payload, `Data`… then `Data(remote-closed|no-data)` on
 *   close-send; the reply is a `Response` (or `Data` frames for bidi).
 * - A deadline is sent as `timeout_nano`; locally it fails the call with DeadlineExceeded. ttrpc
 *   has no cancel frame, so a cancelled call is only forgotten locally.
 * - When the connection goes away every pending call fails with Unavailable (`ttrpc: closed`).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Code, FlotillaError, canceled, deadlineExceeded } from '@flotilla/api';
import { FrameChannel, closedError } from './channel.js';
import { Flags, MessageType, type Frame, type FrameHeader, type FrameTrace } from './frame.js';
import { toKeyValues, type MetadataInit } from './metadata.js';
import { MessageQueue } from './queue.js';
import { decodeResponse, encodeRequest, statusError } from './wire.js';
import { socketPath } from './address.js';

/** Per-call options. */
export interface CallOptions {
  /** Deadline from now; sent as `timeout_nano`. No deadline when absent. */
  timeoutMs?: number;
  /** Request metadata, e.g. `{ 'containerd-namespace-ttrpc': 'default' }`. */
  metadata?: MetadataInit;
  /** Cancels the call locally (Canceled). */
  signal?: AbortSignal;
}

/** Options of a client. */
export interface ClientOptions {
  /** Sees every frame sent and received. */
  trace?: FrameTrace;
  /** Messages a stream buffers before the client stops reading the socket (default 64). */
  streamBufferSize?: number;
}

/** The shape of a streaming method. */
export interface StreamDesc {
  /** The client sends a stream of messages. */
  streamingClient: boolean;
  /** The server sends a stream of messages. */
  streamingServer: boolean;
}

const DEFAULT_STREAM_BUFFER = 64;
const MAX_STREAM_ID = 0xffffffff;

/** State of one open stream on the client. */
class StreamState {
  readonly queue: MessageQueue<Buffer>;
  private timer: NodeJS.Timeout | undefined;
  private abortListener: (() => void) | undefined;

  constructor(
    readonly client: TtrpcClient,
    readonly id: number,
    readonly desc: StreamDesc | undefined,
    capacity: number,
    private readonly signal?: AbortSignal,
  ) {
    this.queue = new MessageQueue<Buffer>(capacity, (full) => client.flowControl(this, full));
  }

  arm(opts: CallOptions): void {
    if (opts.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.fail(deadlineExceeded('')), Math.max(0, opts.timeoutMs));
    }
    if (this.signal) {
      this.abortListener = () => this.fail(canceled(''));
      this.signal.addEventListener('abort', this.abortListener, { once: true });
    }
  }

  /** Delivers a frame for this stream. */
  receive(frame: Frame): void {
    if (frame.type === MessageType.Response) {
      let res;
      try {
        res = decodeResponse(frame.payload);
      } catch (err) {
        this.fail(new FlotillaError(Code.Internal, `ttrpc: error unmarshalling response: ${(err as Error).message}`, { cause: err }));
        return;
      }
      if (res.status && res.status.code !== Code.OK) {
        this.fail(statusError(res.status));
        return;
      }
      // Unary and client-streaming replies carry the message; a server-streaming call ended by an
      // OK Response delivers its payload, if any, as a last message (Go's RecvMsg does the same).
      if (!this.desc?.streamingServer || res.payload.length > 0) this.queue.push(res.payload);
      this.end();
      return;
    }
    if (frame.type === MessageType.Data) {
      if (!this.desc?.streamingServer) {
        this.fail(new FlotillaError(Code.Internal, 'received data from non-streaming server: protocol error'));
        return;
      }
      if ((frame.flags & Flags.NoData) === 0) this.queue.push(frame.payload);
      if (frame.flags & Flags.RemoteClosed) this.end();
      return;
    }
    // Unknown frame types are ignored for forward compatibility.
  }

  /** Ends the stream successfully. */
  end(): void {
    this.cleanup();
    this.queue.end();
  }

  /** Ends the stream with an error. */
  fail(error: unknown): void {
    this.cleanup();
    this.queue.fail(error);
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.abortListener) this.signal?.removeEventListener('abort', this.abortListener);
    this.abortListener = undefined;
    this.client.forget(this);
  }
}

/** A streaming call as seen by the caller. */
export class ClientStream implements AsyncIterable<Buffer> {
  private localClosed: boolean;

  /** @internal */
  constructor(
    private readonly state: StreamState,
    private readonly channel: FrameChannel,
  ) {
    this.localClosed = !state.desc?.streamingClient;
  }

  /** The stream id on the wire. */
  get id(): number {
    return this.state.id;
  }

  /** Sends one message (client-streaming methods only). Resolves once the socket can take more. */
  async send(message: Uint8Array): Promise<void> {
    if (this.localClosed) throw new FlotillaError(Code.FailedPrecondition, 'ttrpc: stream closed');
    if (this.state.queue.ended) throw new FlotillaError(Code.FailedPrecondition, 'ttrpc: stream closed');
    if (!this.channel.send(this.state.id, MessageType.Data, 0, message)) await this.channel.drained();
  }

  /** Tells the server no more messages follow (`Data(remote-closed|no-data)`). */
  closeSend(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    if (this.state.queue.ended) return;
    this.channel.send(this.state.id, MessageType.Data, Flags.RemoteClosed | Flags.NoData);
  }

  /** The next message from the server; undefined at the end; throws the call's error. */
  async recv(): Promise<Buffer | undefined> {
    const r = await this.state.queue.next();
    return r.done ? undefined : r.value;
  }

  /** Stops listening to this stream locally (the server is not told; ttrpc has no cancel). */
  cancel(): void {
    this.state.fail(canceled(''));
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.state.queue[Symbol.asyncIterator]();
  }
}

/** A client-streaming call: send messages, close, then read the single response. */
export interface ClientStreamCall {
  /** The underlying stream. */
  stream: ClientStream;
  /** Sends one message. */
  send(message: Uint8Array): Promise<void>;
  /** Closes the sending side and resolves with the response bytes. */
  closeAndRecv(): Promise<Buffer>;
}

/** A ttrpc client on one connection. */
export class TtrpcClient {
  private readonly channel: FrameChannel;
  private readonly streams = new Map<number, StreamState>();
  private nextId = 1;
  private readonly bufferSize: number;
  private closeError: Error | undefined;
  private readonly closeWaiters: (() => void)[] = [];
  private isClosed = false;

  /**
   * Connects to a ttrpc server at `address` (a path or `unix://path`). Fails with Unavailable when
   * nothing listens there (or after `timeoutMs`, default 5 s).
   */
  static connect(address: string, opts: ClientOptions & { timeoutMs?: number } = {}): Promise<TtrpcClient> {
    const path = socketPath(address);
    return new Promise((resolve, reject) => {
      const socket = netConnect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FlotillaError(Code.Unavailable, `failed to connect to ${address}: timeout`));
      }, opts.timeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TtrpcClient(socket, opts));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new FlotillaError(Code.Unavailable, `failed to connect to ${address}: ${err.message}`, { cause: err }));
      });
    });
  }

  /** Wraps an already connected socket. */
  constructor(socket: Socket, opts: ClientOptions = {}) {
    this.bufferSize = opts.streamBufferSize ?? DEFAULT_STREAM_BUFFER;
    this.channel = new FrameChannel(
      socket,
      {
        frame: (f) => this.streams.get(f.streamId)?.receive(f),
        oversize: (h: FrameHeader, err) => this.streams.get(h.streamId)?.fail(err),
        closed: (err) => this.onClosed(err),
      },
      opts.trace,
    );
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Number of calls in flight. */
  get pending(): number {
    return this.streams.size;
  }

  /** Resolves when the connection has ended. */
  waitClosed(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /**
   * A unary call: sends `request` (serialized request message) to `service`/`method` and resolves
   * with the serialized response, or rejects with a FlotillaError carrying the status code.
   */
  async call(service: string, method: string, request: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    const state = this.open(service, method, request, 0, undefined, opts);
    const r = await state.queue.next();
    return r.done ? Buffer.alloc(0) : r.value;
  }

  /** Opens a streaming call of any shape. For a non-streaming client, pass the request message. */
  stream(service: string, method: string, desc: StreamDesc, request: Uint8Array | undefined, opts: CallOptions = {}): ClientStream {
    const flags = desc.streamingClient ? Flags.RemoteOpen : Flags.RemoteClosed;
    const state = this.open(service, method, desc.streamingClient ? request : (request ?? Buffer.alloc(0)), flags, desc, opts);
    return new ClientStream(state, this.channel);
  }

  /** A server-streaming call: one request, an async iterable of response messages. */
  serverStream(service: string, method: string, request: Uint8Array, opts: CallOptions = {}): ClientStream {
    return this.stream(service, method, { streamingClient: false, streamingServer: true }, request, opts);
  }

  /** A client-streaming call: many request messages, one response. */
  clientStream(service: string, method: string, opts: CallOptions = {}): ClientStreamCall {
    const stream = this.stream(service, method, { streamingClient: true, streamingServer: false }, undefined, opts);
    return {
      stream,
      send: (m) => stream.send(m),
      closeAndRecv: async () => {
        stream.closeSend();
        return (await stream.recv()) ?? Buffer.alloc(0);
      },
    };
  }

  /** Closes the connection; pending calls fail with Unavailable. */
  close(): void {
    this.channel.close();
  }

  /** @internal Flow control from a stream's queue. */
  flowControl(owner: StreamState, full: boolean): void {
    if (full) this.channel.hold(owner);
    else this.channel.release(owner);
  }

  /** @internal A stream ended: stop routing frames to it. */
  forget(state: StreamState): void {
    if (this.streams.get(state.id) === state) this.streams.delete(state.id);
    this.channel.release(state);
  }

  private open(
    service: string,
    method: string,
    payload: Uint8Array | undefined,
    flags: number,
    desc: StreamDesc | undefined,
    opts: CallOptions,
  ): StreamState {
    if (this.isClosed) throw closedError(this.closeError);
    if (opts.signal?.aborted) throw canceled('');
    if (this.nextId > MAX_STREAM_ID) throw new FlotillaError(Code.Unavailable, 'ttrpc: stream ids exhausted on this connection');
    const frame = encodeRequest({
      service,
      method,
      payload,
      timeout_nano: opts.timeoutMs !== undefined ? Math.max(1, Math.round(opts.timeoutMs * 1e6)) : 0,
      metadata: toKeyValues(opts.metadata),
    });
    const id = this.nextId;
    const state = new StreamState(this, id, desc, this.bufferSize, opts.signal);
    // Throws ResourceExhausted for an oversized request before an id is used.
    this.channel.send(id, MessageType.Request, flags, frame);
    this.nextId += 2;
    this.streams.set(id, state);
    state.arm(opts);
    return state;
  }

  private onClosed(err?: Error): void {
    this.isClosed = true;
    this.closeError = err;
    const e = closedError(err);
    for (const s of [...this.streams.values()]) s.fail(e);
    this.streams.clear();
    for (const w of this.closeWaiters.splice(0)) w();
  }
}
