/**
 * Test fixtures shared by this package's tests (not exported from the package): a small echo
 * service covering every method shape, and helpers to talk raw frames to a server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { FrameReader, encodeFrame, type Frame } from './frame.js';

export const ECHO_PROTO_SOURCE = `syntax = "proto3";
package flotilla.ttrpc.test.v1;

message EchoRequest {
  string text = 1;
  int64 sleep_ms = 2;
  int32 code = 3;
  bytes blob = 4;
  uint32 count = 5;
}

message EchoResponse {
  string text = 1;
  repeated string metadata = 2;
  int64 deadline_in_ms = 3;
  bytes blob = 4;
  uint32 sum = 5;
  uint32 peer_uid = 6;
}

service Echo {
  rpc Echo(EchoRequest) returns (EchoResponse);
  rpc Fail(EchoRequest) returns (EchoResponse);
  rpc Sleep(EchoRequest) returns (EchoResponse);
  rpc Big(EchoRequest) returns (EchoResponse);
  rpc Missing(EchoRequest) returns (EchoResponse);
  rpc Count(EchoRequest) returns (stream EchoResponse);
  rpc Sum(stream EchoRequest) returns (EchoResponse);
  rpc Chat(stream EchoRequest) returns (stream EchoResponse);
}
`;

export const ECHO_SERVICE = 'flotilla.ttrpc.test.v1.Echo';

/** A root holding the echo service (keepCase, like `loadRoot`). */
export function echoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  protobuf.parse(ECHO_PROTO_SOURCE, root, { keepCase: true });
  root.resolveAll();
  return root;
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = 'fl-ttrpc-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A raw connection that writes arbitrary frames and collects the frames it receives. */
export class RawPeer {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    const reader = new FrameReader({
      frame: (f) => {
        this.frames.push(f);
        for (const w of this.waiters.splice(0)) w();
      },
      oversize: () => {},
    });
    socket.on('data', (c: Buffer) => reader.push(c));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(streamId: number, type: number, flags: number, payload: Uint8Array = Buffer.alloc(0)): void {
    this.socket.write(encodeFrame(streamId, type, flags, payload));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Waits for the n-th received frame (1-based count), up to `ms`. */
  async waitFrames(n: number, ms = 3000): Promise<Frame[]> {
    const until = Date.now() + ms;
    while (this.frames.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.frames.length} frames`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} frames (got ${this.frames.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames;
  }

  /** Waits until the server closes the connection. */
  async waitClosed(ms = 3000): Promise<void> {
    const until = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > until) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Hex string (spaces allowed) → bytes. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}
