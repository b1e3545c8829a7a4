/** Writing to a gRPC server stream with backpressure. */
import type { Writable } from 'node:stream';

/** Writes `msg` and, when the stream's buffer is full, waits for it to drain. */
export async function writeAll(stream: Pick<Writable, 'write' | 'once'>, msg: unknown): Promise<void> {
  if (stream.write(msg)) return;
  await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

/**
 * The messages of a gRPC client or duplex stream, one at a time. Unlike the stream's own async
 * iterator, leaving the loop early does not destroy the call, so an error status can still be sent.
 */
export async function* readMessages<T>(stream: NodeJS.EventEmitter): AsyncGenerator<T> {
  const queue: T[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const signal = () => {
    wake?.();
    wake = undefined;
  };
  const onData = (m: T) => (queue.push(m), signal());
  const onEnd = () => ((done = true), signal());
  const onError = (e: unknown) => ((failure = e), (done = true), signal());
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
  stream.once('close', onEnd);
  try {
    for (;;) {
      if (queue.length > 0) {
        yield queue.shift() as T;
        continue;
      }
      if (failure) throw failure;
      if (done) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onEnd);
  }
}
