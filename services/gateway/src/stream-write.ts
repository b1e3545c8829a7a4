/** Writing to a gRPC server stream with backpressure. */
import type { Writable } from 'node:stream';

/** Writes `msg` and, when the stream's buffer is full, waits for it to drain. */
export async function writeAll(stream: Pick<Writable, 'write' | 'once'>, msg: unknown): Promise<void> {
  if (stream.write(msg)) return;
  await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}
