/**
 * A stream between two bus endpoints: ordered data messages in both directions with credit-based
 * flow control, end/error/cancel, and heartbeats so either side notices when the other goes away.
 * See docs/bus.md "Streams" for the wire protocol.
 */
import type { Msg, MsgHdrs, NatsConnection } from 'nats';
import { Code, FlotillaError, canceled, codeOf, unavailable } from '@flotilla/api';
import { decodeBody, encodeBody } from './codec.js';
import { H_CONTROL, H_CREDIT, H_KIND, errorFromHeaders, isNoResponders, newHeaders, setErrorHeaders } from './headers.js';
import type { Route } from './mux.js';

/** Messages one side may send before the other grants more credit. */
export const DEFAULT_WINDOW = 16;
/** Largest data chunk a stream should carry (bytes); producers split larger payloads. */
export const MAX_CHUNK = 512 * 1024;

/** Both directions of a stream, as seen from one side. */
export interface Duplex<Out, In> extends AsyncIterable<In> {
  /** Sends one message; waits for credit. Throws if the stream failed. */
  send(value: Out): Promise<void>;
  /** Receives the next message, or undefined when the peer ended its side. */
  recv(): Promise<In | undefined>;
  /** Ends this side (no more sends). */
  end(): void;
  /** Fails the stream for both sides with `err`. */
  fail(err: unknown): void;
  /** Tells the peer we want no more data and closes the stream. */
  cancel(): void;
  /** Aborted when the stream fails or is cancelled. */
  readonly signal: AbortSignal;
  /** Settles when both sides have ended or the stream failed (never rejects). */
  readonly done: Promise<void>;
}

/** Settings of a channel. */
export interface ChannelOptions {
  nc: NatsConnection;
  route: Route;
  /** Where our messages go; unknown until the peer's `open` on the opening side. */
  peer?: string;
  /** Credit we start with (granted by the peer's request on the accepting side). */
  credit: number;
  /** Window we grant the peer. */
  window: number;
  heartbeatMs: number;
  /** The peer sends nothing more than the first message (server-streaming call, server side). */
  remoteEnded?: boolean;
  /** We send nothing more than the first message (server-streaming call, client side). */
  localEnded?: boolean;
  /** What the stream is, for errors. */
  label: string;
}

type Waiter = () => void;

/** One side of a stream. */
export class Channel<Out = unknown, In = unknown> implements Duplex<Out, In> {
  private peer?: string;
  private credit: number;
  private readonly queue: In[] = [];
  private consumed = 0;
  private remoteEnded: boolean;
  private localEnded = false;
  /** end() was called before the peer's `open` told us where to send it. */
  private endPending = false;
  private failure?: FlotillaError;
  private waiters: Waiter[] = [];
  private lastHeard = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private resolveDone!: () => void;
  readonly done: Promise<void>;

  constructor(private readonly o: ChannelOptions) {
    this.peer = o.peer;
    this.credit = o.credit;
    this.remoteEnded = !!o.remoteEnded;
    this.localEnded = !!o.localEnded;
    this.done = new Promise((r) => (this.resolveDone = r));
    this.timer = setInterval(() => this.tick(), o.heartbeatMs);
    this.timer.unref?.();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** The error the stream failed with, if it did. */
  get error(): FlotillaError | undefined {
    return this.failure;
  }

  /** Feeds a message that arrived on our route. */
  handle(msg: Msg): void {
    this.lastHeard = Date.now();
    const h = msg.headers;
    if (isNoResponders(h)) return this.close(unavailable(`${this.o.label}: no responders`), false);
    switch (h?.get(H_KIND)) {
      case 'hb':
        return;
      case 'open':
        this.peer = h.get(H_CONTROL);
        this.credit += Number(h.get(H_CREDIT)) || 0;
        if (this.endPending && this.peer) {
          this.endPending = false;
          this.publish('end');
        }
        return this.wake();
      case 'credit':
        this.credit += Number(h.get(H_CREDIT)) || 0;
        return this.wake();
      case 'data': {
        let value: In;
        try {
          value = decodeBody<In>(msg.data);
        } catch (err) {
          return this.fail(err);
        }
        this.queue.push(value);
        return this.wake();
      }
      case 'end':
        this.remoteEnded = true;
        this.wake();
        return this.maybeDone();
      case 'cancel':
        return this.close(canceled(`${this.o.label}: cancelled by peer`), false);
      case 'error':
        return this.close(errorFromHeaders(h) ?? new FlotillaError(Code.Unknown, `${this.o.label}: peer failed`), false);
      default: {
        const err = errorFromHeaders(h);
        if (err) return this.close(err, false);
      }
    }
  }

  async send(value: Out): Promise<void> {
    while (!this.failure && (this.credit <= 0 || !this.peer)) await this.wait();
    if (this.failure) throw this.failure;
    if (this.localEnded) throw new FlotillaError(Code.FailedPrecondition, `${this.o.label}: send after end`);
    this.credit--;
    this.publish('data', encodeBody(value));
  }

  async recv(): Promise<In | undefined> {
    for (;;) {
      if (this.queue.length > 0) {
        const v = this.queue.shift() as In;
        if (++this.consumed >= Math.max(1, this.o.window >> 1)) {
          const n = this.consumed;
          this.consumed = 0;
          if (!this.remoteEnded) this.publish('credit', undefined, (h) => h.set(H_CREDIT, String(n)));
        }
        return v;
      }
      if (this.failure) throw this.failure;
      if (this.remoteEnded) return undefined;
      await this.wait();
    }
  }

  end(): void {
    if (this.localEnded || this.failure) return;
    this.localEnded = true;
    // Before the peer's `open` we have nowhere to send `end`; send it when `open` arrives.
    if (this.peer) this.publish('end');
    else this.endPending = true;
    this.maybeDone();
  }

  fail(err: unknown): void {
    if (this.failure) return;
    const e = err instanceof FlotillaError ? err : new FlotillaError(codeOf(err), err instanceof Error ? err.message : String(err), { cause: err });
    this.publish('error', undefined, (h) => setErrorHeaders(h, e));
    this.close(e, false);
  }

  cancel(): void {
    if (this.failure) return;
    this.publish('cancel');
    this.close(canceled(`${this.o.label}: cancelled`), false);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<In> {
    for (;;) {
      const v = await this.recv();
      if (v === undefined) return;
      yield v;
    }
  }

  /** Sends the `open` message that tells the opener where to send and how much. */
  sendOpen(): void {
    this.publish('open', undefined, (h) => {
      h.set(H_CONTROL, this.o.route.subject);
      h.set(H_CREDIT, String(this.o.window));
    });
  }

  private publish(kind: string, body?: Uint8Array, more?: (h: MsgHdrs) => void): void {
    if (!this.peer || this.o.nc.isClosed()) return;
    const h = newHeaders();
    h.set(H_KIND, kind);
    more?.(h);
    this.o.nc.publish(this.peer, body ?? new Uint8Array(0), { headers: h });
  }

  private tick(): void {
    if (Date.now() - this.lastHeard > this.o.heartbeatMs * 3) {
      this.close(unavailable(`${this.o.label}: peer went away`), true);
      return;
    }
    this.publish('hb');
  }

  private wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private maybeDone(): void {
    // Data still queued stays readable; only the route and the heartbeat stop.
    if (this.localEnded && this.remoteEnded) this.finish();
  }

  private close(err: FlotillaError, tellPeer: boolean): void {
    if (this.failure) return;
    if (tellPeer) this.publish('error', undefined, (h) => setErrorHeaders(h, err));
    this.failure = err;
    this.abort.abort(err);
    this.wake();
    this.finish();
  }

  private finish(): void {
    clearInterval(this.timer);
    this.o.route.close();
    this.resolveDone();
  }
}
