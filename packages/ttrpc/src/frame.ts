/**
 * ttrpc framing (containerd-facts §1.1–1.2; `ttrpc:channel.go`).
 *
 * Every message on a ttrpc connection is one frame: a fixed 10-byte header followed by `length`
 * bytes of data.
 *
 * ```
 *  0               4               8       9       10
 *  +---------------+---------------+-------+-------+----------------+
 *  | length (BE32) | stream id (BE32) | type | flags | data (length) |
 *  +---------------+---------------+-------+-------+----------------+
 * ```
 *
 * The length excludes the header and is at most 4 MiB. A receiver that sees a larger length reads
 * and discards the data and answers that stream with ResourceExhausted; the connection stays up.
 * A sender refuses to write such a frame.
 */
import { Code, FlotillaError } from '@flotilla/api';

/** Size of the frame header in bytes. */
export const HEADER_LENGTH = 10;

/** Largest data length of one frame: 4 MiB (`messageLengthMax = 4 << 20`). */
export const MAX_MESSAGE_LENGTH = 4 << 20;

/** Frame types (byte 8 of the header). */
export enum MessageType {
  /** Opens a stream; carries a `ttrpc.Request`. */
  Request = 0x01,
  /** Final message of a stream; carries a `ttrpc.Response`. */
  Response = 0x02,
  /** A streamed message (raw serialized message of the method's type). */
  Data = 0x03,
}

/** Frame flags (byte 9 of the header). */
export const Flags = {
  /** Request: the sender will send no more data (non-unary). Data: last data from this side. */
  RemoteClosed: 0x01,
  /** Request: the sender will send more Data frames (client streaming). */
  RemoteOpen: 0x02,
  /** Data: the frame carries no payload (a zero-length payload without it is an empty message). */
  NoData: 0x04,
} as const;

/** A decoded frame header. */
export interface FrameHeader {
  /** Data length in bytes, excluding the header. */
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/** One complete frame. */
export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Buffer;
}

/** Observes every frame a connection sends or receives (debugging, tests). Never log payloads. */
export type FrameTrace = (direction: 'in' | 'out', header: FrameHeader, payload: Buffer) => void;

/**
 * The ResourceExhausted error for a message longer than {@link MAX_MESSAGE_LENGTH}, worded as the
 * Go implementation words it (`errors.go OversizedMessageError`, `channel.go recv`).
 */
export function oversizedError(length: number, max = MAX_MESSAGE_LENGTH): FlotillaError {
  return new FlotillaError(Code.ResourceExhausted, `message length ${length} exceed maximum message size of ${max}`);
}

/** Encodes a frame header. */
export function encodeHeader(header: FrameHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LENGTH);
  b.writeUInt32BE(header.length >>> 0, 0);
  b.writeUInt32BE(header.streamId >>> 0, 4);
  b[8] = header.type & 0xff;
  b[9] = header.flags & 0xff;
  return b;
}

/** Decodes the header at `offset` of `buf` (which must hold at least 10 bytes from there). */
export function decodeHeader(buf: Uint8Array, offset = 0): FrameHeader {
  if (buf.length - offset < HEADER_LENGTH) throw new RangeError('short frame header');
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    length: b.readUInt32BE(offset),
    streamId: b.readUInt32BE(offset + 4),
    type: b[offset + 8]!,
    flags: b[offset + 9]!,
  };
}

/**
 * Encodes a whole frame into one buffer. Throws ResourceExhausted (and encodes nothing) when the
 * payload is longer than `max`.
 */
export function encodeFrame(streamId: number, type: number, flags: number, payload: Uint8Array, max = MAX_MESSAGE_LENGTH): Buffer {
  if (payload.length > max) throw oversizedError(payload.length, max);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  encodeHeader({ length: payload.length, streamId, type, flags }).copy(out, 0);
  out.set(payload, HEADER_LENGTH);
  return out;
}

/** Callbacks of a {@link FrameReader}. */
export interface FrameSink {
  /** A complete frame of at most the maximum length. */
  frame(frame: Frame): void;
  /**
   * A frame whose declared length exceeded the maximum; its data has been read and discarded.
   * Called once the last discarded byte has arrived, with the ResourceExhausted error to answer.
   */
  oversize(header: FrameHeader, error: FlotillaError): void;
}

/**
 * Turns a byte stream into frames: handles frames split across reads and many frames in one read,
 * and skips over oversized frames without buffering them. Memory use is bounded by one maximum
 * frame.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: FrameHeader | undefined;
  /** Bytes of an oversized frame still to discard. */
  private discarding = 0;

  constructor(
    private readonly sink: FrameSink,
    private readonly max = MAX_MESSAGE_LENGTH,
  ) {}

  /** Bytes received but not yet part of a delivered frame. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds bytes read from the connection; delivers every frame they complete, in order. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.discarding > 0) {
        const n = Math.min(this.discarding, this.buffered);
        this.skip(n);
        this.discarding -= n;
        if (this.discarding > 0) return;
        const h = this.header!;
        this.header = undefined;
        this.sink.oversize(h, oversizedError(h.length, this.max));
        continue;
      }
      if (!this.header) {
        if (this.buffered < HEADER_LENGTH) return;
        const h = decodeHeader(this.take(HEADER_LENGTH));
        this.header = h;
        if (h.length > this.max) {
          this.discarding = h.length;
          continue;
        }
      }
      const h = this.header;
      if (this.buffered < h.length) return;
      const payload = h.length === 0 ? Buffer.alloc(0) : this.take(h.length);
      this.header = undefined;
      this.sink.frame({ streamId: h.streamId, type: h.type, flags: h.flags, payload });
    }
  }

  /** Removes and returns the first `n` buffered bytes (n ≤ buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Drops the first `n` buffered bytes. */
  private skip(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        left -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
  }
}
