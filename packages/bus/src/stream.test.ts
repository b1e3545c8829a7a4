/** Streams against a real nats-server: volume with flat memory, credit flow control, errors and cancellation. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, failedPrecondition, type FlotillaError } from '@flotilla/api';
import type { Bus } from './bus.js';
import { DEFAULT_WINDOW, MAX_CHUNK, type Duplex } from './channel.js';
import { decodeBody, encodeBody } from './codec.js';
import type { CallContext } from './context.js';
import { H_CONTROL, H_CREDIT, H_KIND, H_STREAM, newHeaders } from './headers.js';
import { startTestNats, type TestNats } from './testing-nats.js';

const MiB = 1024 * 1024;

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p;
  } catch (err) {
    return err as FlotillaError;
  }
  assert.fail('expected a failure');
}

async function drain(s: AsyncIterable<unknown>): Promise<unknown[]> {
  const got: unknown[] = [];
  for await (const v of s) got.push(v);
  return got;
}

describe('bus streams', () => {
  let nats: TestNats;
  let server: Bus;
  let client: Bus;

  before(async () => {
    nats = await startTestNats();
    server = await nats.connect('stream-server');
    client = await nats.connect('stream-client');
  });

  after(async () => {
    await nats.stop();
  });

  it('moves 1 GiB from another process in 512 KiB chunks with flat receiver memory', async () => {
    const peer = await nats.spawnPeer('blob');
    const chunks = 2048;
    const size = MAX_CHUNK;
    assert.equal(size, 512 * 1024);
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = Date.now();
    let bytes = 0;
    let n = 0;
    let badMarks = 0;
    try {
      for await (const chunk of client.openStream<never, Uint8Array>('blob', 'Read', { chunks, size }, { timeoutMs: 60_000 })) {
        assert.ok(chunk instanceof Uint8Array);
        if (chunk[0] !== (n & 255) || chunk[chunk.length - 1] !== (n & 255)) badMarks++;
        bytes += chunk.length;
        n++;
        if ((n & 15) === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
    } finally {
      clearInterval(sampler);
    }
    const ms = Date.now() - t0;
    const growth = peak - base;
    const senderGrowth = Number((await peer.line('peak-rss')).split(' ')[1]);
    console.log(
      `# 1 GiB stream: ${ms} ms (${((bytes / MiB / ms) * 1000).toFixed(0)} MiB/s), receiver peak RSS growth ${(growth / MiB).toFixed(1)} MiB, sender ${(senderGrowth / MiB).toFixed(1)} MiB`,
    );
    assert.equal(n, chunks);
    assert.equal(bytes, 1024 * MiB);
    assert.equal(badMarks, 0, 'chunks arrive in order and intact');
    assert.ok(growth < 200 * MiB, `receiver RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
    assert.ok(senderGrowth < 200 * MiB, `sender RSS grew by ${(senderGrowth / MiB).toFixed(0)} MiB`);
  });

  it('makes a client-streaming upload wait for credit (256 MiB, slow consumer)', async () => {
    let consumed = 0;
    let maxOutstanding = 0;
    let sent = 0;
    server.serve('upload', {
      streams: {
        Write: async (req: { ref: string }, stream: Duplex<{ total: number; ref: string }, Uint8Array>) => {
          let total = 0;
          for await (const chunk of stream) {
            consumed++;
            total += chunk.length;
            if (consumed % 4 === 0) await sleep(5); // a slow disk
          }
          await stream.send({ total, ref: req.ref });
        },
      },
    });
    await server.nc.flush();
    const chunk = new Uint8Array(MAX_CHUNK).fill(7);
    const count = 512; // 256 MiB
    const base = process.memoryUsage().rss;
    let peak = base;
    const t0 = Date.now();
    let slowestSend = 0;
    const s = client.openStream<Uint8Array, { total: number; ref: string }>('upload', 'Write', { ref: 'ingest-1' }, { duplex: true, timeoutMs: 60_000 });
    for (let i = 0; i < count; i++) {
      const ts = Date.now();
      await s.send(chunk);
      slowestSend = Math.max(slowestSend, Date.now() - ts);
      sent++;
      maxOutstanding = Math.max(maxOutstanding, sent - consumed);
      if ((i & 15) === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    s.end();
    const reply = await s.recv();
    assert.equal(await s.recv(), undefined);
    await s.done;
    const ms = Date.now() - t0;
    console.log(`# 256 MiB upload: ${ms} ms, max unconsumed ${maxOutstanding}, slowest send ${slowestSend} ms, RSS growth ${((peak - base) / MiB).toFixed(1)} MiB`);
    assert.deepEqual(reply, { total: count * MAX_CHUNK, ref: 'ingest-1' });
    assert.equal(consumed, count);
    // The sender never runs more than one window ahead of the consumer…
    assert.ok(maxOutstanding <= DEFAULT_WINDOW + 2, `sent-but-unconsumed reached ${maxOutstanding}`);
    // …and it did run into the window: send() waited for credit.
    assert.ok(maxOutstanding >= DEFAULT_WINDOW - 1, `window never filled (${maxOutstanding})`);
    assert.ok(slowestSend >= 4, `send never waited (slowest ${slowestSend} ms)`);
    assert.ok(peak - base < 150 * MiB, `RSS grew by ${((peak - base) / MiB).toFixed(0)} MiB`);
  });

  it("delivers end() called before the server's open (an empty upload completes)", async () => {
    server.serve('empty', {
      streams: {
        Write: async (_req, stream: Duplex<{ chunks: number }, Uint8Array>) => {
          let chunks = 0;
          for await (const _ of stream) chunks++;
          await stream.send({ chunks });
        },
      },
    });
    await server.nc.flush();
    const t0 = Date.now();
    const s = client.openStream<Uint8Array, { chunks: number }>('empty', 'Write', {}, { duplex: true, timeoutMs: 3000 });
    s.end(); // before any message came back: the `end` must still reach the server
    assert.deepEqual(await s.recv(), { chunks: 0 });
    assert.equal(await s.recv(), undefined);
    await s.done;
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  it('grants credit back after half the window is consumed (server side, on the wire)', async () => {
    // The receiver of a server stream grants `window` in the request and `window/2` per half window read.
    let sentBeforeStall = 0;
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    server.serve('credit', {
      streams: {
        Count: async (_req, stream: Duplex<number, unknown>) => {
          for (let i = 0; i < 40; i++) {
            const p = stream.send(i);
            const first = await Promise.race([p.then(() => true), sleep(300).then(() => false)]);
            if (!first) {
              sentBeforeStall = i;
              release();
              await p;
            }
          }
        },
      },
    });
    await server.nc.flush();
    const s = client.openStream<never, number>('credit', 'Count', {}, { window: 8 });
    await stalled; // nobody reads yet: the server stops after the window of 8
    assert.equal(sentBeforeStall, 8);
    const got = await drain(s);
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i));
  });

  it('fails the reader with the error a server handler throws after sending data', async () => {
    server.serve('fails', {
      streams: {
        Half: async (_req, stream: Duplex<{ i: number }, unknown>) => {
          for (let i = 0; i < 5; i++) await stream.send({ i });
          throw failedPrecondition('blob "sha256:abc" truncated');
        },
        Plain: async () => {
          throw new Error('plain failure');
        },
      },
    });
    await server.nc.flush();
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const v of client.openStream('fails', 'Half', {})) got.push(v);
      })(),
    );
    assert.deepEqual(got, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }], 'data sent before the error is delivered');
    assert.equal(err.code, Code.FailedPrecondition);
    assert.equal(err.message, 'blob "sha256:abc" truncated: failed precondition');
    const plain = await failure(client.collect('fails', 'Plain', {}));
    assert.equal(plain.code, Code.Unknown);
    assert.equal(plain.message, 'plain failure');
  });

  it('fails a stream to an unknown method with Unimplemented (12) and to no service with Unavailable (14)', async () => {
    server.serve('streamy', { streams: {} });
    await server.nc.flush();
    const t0 = Date.now();
    const e1 = await failure(client.collect('streamy', 'Missing', {}));
    assert.equal(e1.code, Code.Unimplemented);
    assert.equal(e1.message, 'method streamy.Missing: not implemented');
    const e2 = await failure(client.collect('nobody', 'Read', {}));
    assert.equal(e2.code, Code.Unavailable);
    assert.ok(Date.now() - t0 < 1000);
    const d = client.openStream('nobody', 'Write', {}, { duplex: true });
    assert.equal((await failure(d.send(new Uint8Array(1)))).code, Code.Unavailable);
  });

  function endlessServer(name: string) {
    const seen: { sendError?: FlotillaError; streamReason?: FlotillaError; ctxReason?: FlotillaError; sent: number } = { sent: 0 };
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    server.serve(name, {
      streams: {
        Endless: async (_req, stream: Duplex<number, unknown>, ctx: CallContext) => {
          stream.signal.addEventListener('abort', () => (seen.streamReason = stream.signal.reason));
          ctx.signal.addEventListener('abort', () => (seen.ctxReason = ctx.signal.reason));
          try {
            for (;;) {
              await stream.send(seen.sent);
              seen.sent++;
            }
          } catch (err) {
            seen.sendError = err as FlotillaError;
            throw err;
          } finally {
            done();
          }
        },
      },
    });
    return { seen, finished };
  }

  it("cancel() stops the server handler: its signals abort and send() rejects", async () => {
    const { seen, finished } = endlessServer('endless1');
    await server.nc.flush();
    const s = client.openStream<never, number>('endless1', 'Endless', {});
    for (let i = 0; i < 20; i++) assert.equal(await s.recv(), i);
    s.cancel();
    // Messages that had already arrived stay readable; then the reader sees Canceled.
    let leftover = 0;
    const err = await failure((async () => { for (;;) if ((await s.recv()) !== undefined) leftover++; })());
    assert.equal(err.code, Code.Canceled);
    assert.ok(leftover <= DEFAULT_WINDOW, `${leftover} buffered messages`);
    await Promise.race([finished, sleep(2000)]);
    assert.equal(seen.sendError?.code, Code.Canceled);
    assert.equal(seen.streamReason?.code, Code.Canceled);
    assert.equal(seen.ctxReason?.code, Code.Canceled);
    assert.ok(seen.sent >= 20 && seen.sent <= 20 + DEFAULT_WINDOW + 1, `server sent ${seen.sent}`);
    await s.done;
  });

  it('an AbortSignal cancels a stream the same way', async () => {
    const { seen, finished } = endlessServer('endless2');
    await server.nc.flush();
    const ac = new AbortController();
    const s = client.openStream<never, number>('endless2', 'Endless', {}, { signal: ac.signal });
    let n = 0;
    const err = await failure(
      (async () => {
        for await (const _ of s) if (++n === 10) ac.abort();
      })(),
    );
    assert.equal(err.code, Code.Canceled);
    await Promise.race([finished, sleep(2000)]);
    assert.equal(seen.sendError?.code, Code.Canceled);
    assert.equal(seen.ctxReason?.code, Code.Canceled);
  });

  it('a stream deadline fails the reader with DeadlineExceeded (4) and aborts the server handler', async () => {
    let reason: FlotillaError | undefined;
    server.serve('stall', {
      streams: {
        Stall: async (_req, stream: Duplex<number, unknown>, ctx) => {
          await stream.send(1);
          await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => ((reason = ctx.signal.reason), r())));
        },
      },
    });
    await server.nc.flush();
    const t0 = Date.now();
    const got: unknown[] = [];
    const err = await failure(
      (async () => {
        for await (const v of client.openStream('stall', 'Stall', {}, { timeoutMs: 400 })) got.push(v);
      })(),
    );
    assert.deepEqual(got, [1]);
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 1500);
    for (let i = 0; i < 50 && !reason; i++) await sleep(20);
    assert.equal(reason?.code, Code.DeadlineExceeded);
  });

  it('the server notices a reader that vanished (liveness) and fails its send with Unavailable (14)', async () => {
    const { seen, finished } = endlessServer('endless3');
    await server.nc.flush();
    const gone = await nats.connect('vanishing-client');
    const s = gone.openStream<never, number>('endless3', 'Endless', {});
    assert.equal(await s.recv(), 0);
    const t0 = Date.now();
    await gone.nc.close(); // the connection drops without a word: no cancel, no more heartbeats
    await Promise.race([finished, sleep(4000)]);
    const ms = Date.now() - t0;
    assert.equal(seen.sendError?.code, Code.Unavailable);
    assert.ok(ms < 2500, `noticed after ${ms} ms`);
  });

  it('a stream handler may read the opener and talk both ways (bidi echo)', async () => {
    server.serve('bidi', {
      streams: {
        Echo: async (req: { prefix: string }, stream: Duplex<string, string>) => {
          for await (const v of stream) await stream.send(req.prefix + v);
        },
      },
    });
    await server.nc.flush();
    const s = client.openStream<string, string>('bidi', 'Echo', { prefix: '>' }, { duplex: true });
    const out: string[] = [];
    for (const w of ['a', 'b', 'c']) {
      await s.send(w);
      out.push((await s.recv())!);
    }
    s.end();
    assert.equal(await s.recv(), undefined);
    assert.deepEqual(out, ['>a', '>b', '>c']);
    await s.done;
    assert.equal((await failure(s.send('late'))).code, Code.FailedPrecondition);
  });

  it('reads a server stream from a hand-rolled (non-Bus) server that follows docs/bus.md', async () => {
    // A plugin in another language: answer the stream request with `open`, respect the credit, `end`.
    const nc = client.nc;
    const control = `_INBOX.handrolled.${Date.now()}`;
    let credit = 0;
    let peer = '';
    let next = 0;
    let maxAhead = 0;
    let creditMsgs = 0;
    const total = 100;
    const pump = () => {
      while (credit > 0 && next < total) {
        const h = newHeaders();
        h.set(H_KIND, 'data');
        nc.publish(peer, encodeBody({ n: next++ }), { headers: h });
        credit--;
      }
      if (next === total) {
        const h = newHeaders();
        h.set(H_KIND, 'end');
        nc.publish(peer, new Uint8Array(0), { headers: h });
        next++;
      }
    };
    const ctl = nc.subscribe(control, {
      callback: (_e, m) => {
        if (m.headers?.get(H_KIND) === 'credit') {
          creditMsgs++;
          credit += Number(m.headers.get(H_CREDIT));
          pump();
        }
      },
    });
    const req = nc.subscribe('flotilla.handstream.v1.>', {
      queue: 'handstream',
      callback: (_e, m) => {
        assert.equal(m.headers?.get(H_STREAM), 'out');
        assert.equal(decodeBody<{ from: string }>(m.data).from, 'bus');
        peer = m.reply!;
        credit = Number(m.headers?.get(H_CREDIT));
        maxAhead = credit;
        const h = newHeaders();
        h.set(H_KIND, 'open');
        h.set(H_CONTROL, control);
        h.set(H_CREDIT, '16');
        nc.publish(peer, new Uint8Array(0), { headers: h });
        pump();
      },
    });
    await nc.flush();
    try {
      const got = (await server.collect<{ n: number }>('handstream', 'List', { from: 'bus' }, { window: 10 })).map((v) => v.n);
      assert.deepEqual(got, Array.from({ length: total }, (_, i) => i));
      assert.equal(maxAhead, 10, 'the request grants the window in fl-credit');
      assert.ok(creditMsgs >= 9, `the reader returned credit ${creditMsgs} times`);
    } finally {
      ctl.unsubscribe();
      req.unsubscribe();
    }
  });
});
