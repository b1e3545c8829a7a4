/**
 * A framed ttrpc connection over a stream socket: reads frames with a {@link FrameReader}, writes
 * whole frames (header and data in one corked write, so frames of concurrent streams never
 * interleave), refuses oversized frames, and lets streams hold back reading when their receive
 * buffers are full.
 */
import type { Socket } from 'node:net';
import { Code, FlotillaError } from '@flotilla/api';
import {
  FrameReader,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  encodeHeader,
  oversizedError,
  type Frame,
  type FrameHeader,
  type FrameTrace,
} from './frame.js';

/** What a channel reports to its owner. */
export interface ChannelHandlers {
  frame(frame: Frame): void;
  oversize(header: FrameHeader, error: FlotillaError): void;
  /** The connection ended (`error` when it failed rather than closed cleanly). Called once. */
  closed(error?: Error): void;
}

/** The error every pending call gets when the connection goes away (Go: `ttrpc: closed`). */
export function closedError(cause?: unknown): FlotillaError {
  return new FlotillaError(Code.Unavailable, 'ttrpc: closed', cause === undefined ? undefined : { cause });
}

/** One framed connection. */
export class FrameChannel {
  private readonly reader: FrameReader;
  private readonly holds = new Set<object>();
  private ended = false;
  private endError: Error | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly socket: Socket,
    private readonly handlers: ChannelHandlers,
    private readonly trace?: FrameTrace,
    private readonly max = MAX_MESSAGE_LENGTH,
  ) {
    this.reader = new FrameReader(
      {
        frame: (f) => {
          this.trace?.('in', { length: f.payload.length, streamId: f.streamId, type: f.type, flags: f.flags }, f.payload);
          if (!this.ended) this.handlers.frame(f);
        },
        oversize: (h, err) => {
          this.trace?.('in', h, Buffer.alloc(0));
          if (!this.ended) this.handlers.oversize(h, err);
        },
      },
      max,
    );
    socket.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('drain', () => this.flushDrainWaiters());
    socket.on('error', (err) => this.finish(err));
    socket.on('end', () => {
      // The peer will send nothing more; ttrpc has no half-close, so end our side too.
      socket.end();
      this.finish();
    });
    socket.on('close', () => this.finish());
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.ended;
  }

  /** Why the connection ended, when it failed. */
  get error(): Error | undefined {
    return this.endError;
  }

  /**
   * Writes one frame. Throws ResourceExhausted (writing nothing) for data over the maximum and
   * Unavailable after the connection ended. Returns false when the socket's buffer is full; await
   * {@link drained} before writing much more.
   */
  send(streamId: number, type: number, flags: number, payload: Uint8Array = Buffer.alloc(0)): boolean {
    if (payload.length > this.max) throw oversizedError(payload.length, this.max);
    if (this.ended || this.socket.destroyed || !this.socket.writable) throw closedError(this.endError);
    const header = { length: payload.length, streamId, type, flags };
    this.trace?.('out', header, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    const h = encodeHeader(header);
    if (payload.length === 0) return this.socket.write(h);
    if (payload.length < 16 * 1024) {
      const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
      h.copy(out, 0);
      out.set(payload, HEADER_LENGTH);
      return this.socket.write(out);
    }
    this.socket.cork();
    this.socket.write(h);
    const ok = this.socket.write(payload);
    this.socket.uncork();
    return ok;
  }

  /** Resolves when the socket's write buffer has drained (or the connection ended). */
  drained(): Promise<void> {
    if (this.ended || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Stops reading from the socket on behalf of `owner` (a stream whose buffer is full) until
   * {@link release}. Reading resumes when no owner holds it.
   */
  hold(owner: object): void {
    if (this.holds.has(owner)) return;
    this.holds.add(owner);
    if (this.holds.size === 1 && !this.ended) this.socket.pause();
  }

  /** Undoes {@link hold} for `owner`. */
  release(owner: object): void {
    if (!this.holds.delete(owner)) return;
    if (this.holds.size === 0 && !this.ended) this.socket.resume();
  }

  /** Closes the connection gracefully (pending writes are flushed). */
  close(): void {
    if (!this.socket.destroyed) this.socket.end();
    this.finish();
  }

  /** Tears the connection down at once. */
  destroy(error?: Error): void {
    this.socket.destroy();
    this.finish(error);
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private finish(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    this.holds.clear();
    if (!this.socket.destroyed) {
      // Give a graceful end a moment to flush, then make sure the fd goes away.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.flushDrainWaiters();
    this.handlers.closed(error);
  }
}
