import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Code, FlotillaError, codeOf, notFound } from '@flotilla/api';
import { TtrpcClient } from './client.js';
import { ttrpcClient, type TypedClient } from './typed-client.js';
import { TtrpcServer, type CallContext } from './server.js';
import { Flags, FrameReader, MAX_MESSAGE_LENGTH, MessageType, encodeFrame, encodeHeader } from './frame.js';
import { decodeResponse, encodeRequest, encodeResponse } from './wire.js';
import { encodeMessage } from './codec.js';
import { fakePeerCredentials, nativePeerCredentials } from './peercred.js';
import { ECHO_SERVICE, RawPeer, echoRoot, tempDir } from './test-fixtures.js';

type EchoReq = { text: string; sleep_ms: string; code: number; blob: Buffer; count: number };
type EchoRes = { text: string; metadata: string[]; deadline_in_ms: string; blob: Buffer; sum: number; peer_uid: number };

const root = echoRoot();
const reqType = root.lookupType('flotilla.ttrpc.test.v1.EchoRequest');

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
  });
}

/** What the Sleep handler saw, for deadline assertions. */
const seen: { aborted?: unknown; deadline?: number }[] = [];

function handlers() {
  return {
    Echo: (req: EchoReq, ctx: CallContext) => ({
      text: req.text,
      metadata: Object.entries(ctx.metadata).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)),
      deadline_in_ms: ctx.deadline ? Math.round(ctx.deadline - Date.now()) : 0,
      peer_uid: ctx.peer?.uid ?? 99999,
    }),
    Fail: (req: EchoReq) => {
      if (req.code === Code.NotFound) throw notFound(`thing "${req.text}"`);
      throw new FlotillaError(req.code, req.text);
    },
    Sleep: async (req: EchoReq, ctx: CallContext) => {
      const rec: { aborted?: unknown; deadline?: number } = { deadline: ctx.deadline };
      seen.push(rec);
      try {
        await sleep(Number(req.sleep_ms), ctx.signal);
      } catch (err) {
        rec.aborted = err;
        throw err;
      }
      return { text: req.text };
    },
    Big: (req: EchoReq) => ({ blob: Buffer.alloc(req.count, 7) }),
    Count: async function* (req: EchoReq) {
      for (let i = 0; i < req.count; i++) {
        if (req.code && i === 2) throw new FlotillaError(req.code, 'count failed at 2');
        yield { text: `${req.text}${i}` };
      }
    },
    Sum: async (reqs: AsyncIterable<EchoReq>) => {
      let sum = 0;
      let n = 0;
      for await (const r of reqs) {
        sum += r.count;
        n++;
        if (Number(r.sleep_ms)) await sleep(Number(r.sleep_ms));
      }
      return { sum, text: `n=${n}` };
    },
    Chat: async function* (reqs: AsyncIterable<EchoReq>) {
      for await (const r of reqs) yield { text: r.text.toUpperCase() };
    },
  };
}

describe('our client ↔ our server', () => {
  const tmp = tempDir();
  const sock = join(tmp.dir, 'echo.sock');
  let server: TtrpcServer;
  let client: TtrpcClient;
  let echo: TypedClient;

  before(async () => {
    // The real SO_PEERCRED reader (koffi): we connect to ourselves, same uid and gid.
    server = new TtrpcServer({ root });
    server.register(ECHO_SERVICE, handlers());
    await server.listen(sock);
    client = await TtrpcClient.connect(`unix://${sock}`);
    echo = ttrpcClient(root, ECHO_SERVICE, client);
  });

  after(async () => {
    client?.close();
    await server?.shutdown({ timeoutMs: 2000 });
    tmp.cleanup();
  });

  test('socket is created with mode 0660', () => {
    assert.equal(statSync(sock).mode & 0o777, 0o660);
  });

  test('unary call, peer credentials read with SO_PEERCRED', async () => {
    const res = await echo.call<EchoRes>('Echo', { text: 'hello' });
    assert.equal(res.text, 'hello');
    assert.equal(res.peer_uid, process.geteuid!());
    const creds = await new Promise((resolve) => {
      const s = createServer((c) => (resolve(nativePeerCredentials().read(c)), c.destroy(), s.close()));
      s.listen(join(tmp.dir, 'pc.sock'), () => TtrpcClient.connect(join(tmp.dir, 'pc.sock')).then((c) => c.waitClosed()));
    });
    assert.deepEqual(creds, { pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() });
  });

  test('raw bytes API and an empty request', async () => {
    const res = await client.call(ECHO_SERVICE, 'Echo', Buffer.alloc(0));
    assert.ok(Buffer.isBuffer(res));
  });

  test('100 concurrent calls multiplexed on one connection, matched by stream id', async () => {
    const order: number[] = [];
    const calls = Array.from({ length: 100 }, (_, i) =>
      echo.call<EchoRes>('Sleep', { text: `call-${i}`, sleep_ms: (i * 7919) % 23 }).then((r) => {
        order.push(i);
        return r;
      }),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.equal(r.text, `call-${i}`));
    assert.notDeepEqual(order, [...order].sort((a, b) => a - b), 'replies arrived out of order');
    assert.equal(client.pending, 0);
  });

  test('handler errors keep their code and message', async () => {
    await assert.rejects(echo.call('Fail', { text: 'x', code: Code.NotFound }), { code: Code.NotFound, message: 'thing "x": not found' });
    await assert.rejects(echo.call('Fail', { text: 'nope', code: Code.FailedPrecondition }), {
      code: Code.FailedPrecondition,
      message: 'nope',
    });
    // a plain Error is Unknown
    const s2 = new TtrpcServer({ root });
    s2.register(ECHO_SERVICE, {
      Echo: () => {
        throw new Error('boom');
      },
    });
    const p = join(tmp.dir, 'plain.sock');
    await s2.listen(p);
    const c2 = await TtrpcClient.connect(p);
    await assert.rejects(ttrpcClient(root, ECHO_SERVICE, c2).call('Echo', {}), { code: Code.Unknown, message: 'boom' });
    c2.close();
    await s2.shutdown();
  });

  test('unknown service and method → Unimplemented', async () => {
    await assert.rejects(client.call('no.such.Service', 'Echo', Buffer.alloc(0)), {
      code: Code.Unimplemented,
      message: 'service no.such.Service',
    });
    await assert.rejects(client.call(ECHO_SERVICE, 'Nope', Buffer.alloc(0)), { code: Code.Unimplemented, message: 'method Nope' });
    // declared in the proto but no handler registered
    await assert.rejects(echo.call('Missing', {}), { code: Code.Unimplemented, message: 'method Missing' });
  });

  test('bad payload → Internal "ttrpc: error unmarshalling payload: ..."', async () => {
    await assert.rejects(client.call(ECHO_SERVICE, 'Echo', Buffer.from([0x0a, 0x05, 0x61])), (err: FlotillaError) => {
      assert.equal(err.code, Code.Internal);
      assert.match(err.message, /^ttrpc: error unmarshalling payload: /);
      return true;
    });
  });

  test('deadline: timeout_nano reaches the handler as ctx.deadline and aborts its signal', async () => {
    const res = await echo.call<EchoRes>('Echo', { text: 'd' }, { timeoutMs: 5000 });
    const left = Number(res.deadline_in_ms);
    assert.ok(left > 4000 && left <= 5000, `deadline ${left} ms ahead`);

    seen.length = 0;
    const t0 = Date.now();
    await assert.rejects(echo.call('Sleep', { sleep_ms: 10_000 }, { timeoutMs: 150 }), {
      code: Code.DeadlineExceeded,
      message: 'context deadline exceeded',
    });
    assert.ok(Date.now() - t0 < 2000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(codeOf(seen[0]!.aborted), Code.DeadlineExceeded, 'server-side signal aborted with DeadlineExceeded');
    assert.ok(seen[0]!.deadline! > t0);
  });

  test('server-side deadline answers DeadlineExceeded (no client timer involved)', async () => {
    const peer = await RawPeer.connect(sock);
    const payload = encodeMessage(reqType, { sleep_ms: 10_000 });
    peer.send(1, MessageType.Request, 0, encodeRequest({ service: ECHO_SERVICE, method: 'Sleep', payload, timeout_nano: 100e6 }));
    const [f] = await peer.waitFrames(1);
    assert.equal(f!.type, MessageType.Response);
    assert.deepEqual(decodeResponse(f!.payload).status, { code: Code.DeadlineExceeded, message: 'context deadline exceeded', details: [] });
    peer.close();
  });

  test('signal cancels locally with Canceled', async () => {
    const ac = new AbortController();
    const p = echo.call('Sleep', { sleep_ms: 300 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(p, { code: Code.Canceled });
    // the late reply is dropped; the connection keeps working
    await new Promise((r) => setTimeout(r, 350));
    assert.equal((await echo.call<EchoRes>('Echo', { text: 'still' })).text, 'still');
  });

  test('metadata reaches the server as a multimap', async () => {
    const res = await echo.call<EchoRes>('Echo', {}, { metadata: { 'containerd-namespace-ttrpc': 'k8s.io', 'X-Multi': ['a', 'b'] } });
    assert.deepEqual(res.metadata, ['containerd-namespace-ttrpc=k8s.io', 'x-multi=a', 'x-multi=b']);
  });

  test('server streaming, including an error after two messages', async () => {
    const got: string[] = [];
    for await (const m of echo.serverStream<EchoRes>('Count', { text: 'n', count: 5 })) got.push(m.text);
    assert.deepEqual(got, ['n0', 'n1', 'n2', 'n3', 'n4']);

    const got2: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const m of echo.serverStream<EchoRes>('Count', { text: 'e', count: 5, code: Code.Aborted })) got2.push(m.text);
      })(),
      { code: Code.Aborted, message: 'count failed at 2' },
    );
    assert.deepEqual(got2, ['e0', 'e1']);
    // zero messages
    const none = echo.serverStream<EchoRes>('Count', { count: 0 });
    assert.equal(await none.recv(), undefined);
  });

  test('server streaming frames: Request(remote-closed) → Data… → Data(remote-closed|no-data)', async () => {
    const frames: { dir: string; type: number; flags: number }[] = [];
    const c = await TtrpcClient.connect(sock, { trace: (dir, h) => frames.push({ dir, type: h.type, flags: h.flags }) });
    const s = ttrpcClient(root, ECHO_SERVICE, c).serverStream<EchoRes>('Count', { count: 2 });
    for await (const _ of s) void _;
    c.close();
    assert.deepEqual(frames, [
      { dir: 'out', type: MessageType.Request, flags: Flags.RemoteClosed },
      { dir: 'in', type: MessageType.Data, flags: 0 },
      { dir: 'in', type: MessageType.Data, flags: 0 },
      { dir: 'in', type: MessageType.Data, flags: Flags.RemoteClosed | Flags.NoData },
    ]);
  });

  test('client streaming (and its frames), empty client stream, bidi', async () => {
    const frames: { dir: string; type: number; flags: number; len: number }[] = [];
    const c = await TtrpcClient.connect(sock, { trace: (dir, h) => frames.push({ dir, type: h.type, flags: h.flags, len: h.length }) });
    const t = ttrpcClient(root, ECHO_SERVICE, c);
    const sum = t.clientStream<EchoRes>('Sum');
    for (const n of [1, 2, 3, 4]) await sum.send({ count: n });
    const res = await sum.closeAndRecv();
    assert.deepEqual([res.sum, res.text], [10, 'n=4']);
    assert.deepEqual(frames[0], { dir: 'out', type: MessageType.Request, flags: Flags.RemoteOpen, len: frames[0]!.len });
    assert.deepEqual(
      frames.slice(1, 5).map((f) => [f.type, f.flags]),
      [
        [MessageType.Data, 0],
        [MessageType.Data, 0],
        [MessageType.Data, 0],
        [MessageType.Data, 0],
      ],
    );
    assert.deepEqual(frames[5], { dir: 'out', type: MessageType.Data, flags: Flags.RemoteClosed | Flags.NoData, len: 0 });
    assert.deepEqual([frames[6]!.dir, frames[6]!.type], ['in', MessageType.Response]);

    // an empty message inside a client stream is a zero-length Data frame without no-data
    const zero = t.clientStream<EchoRes>('Sum');
    await zero.send({});
    assert.deepEqual((await zero.closeAndRecv()).text, 'n=1');
    const empty = t.clientStream<EchoRes>('Sum');
    assert.deepEqual((await empty.closeAndRecv()).text, 'n=0');

    const chat = t.bidiStream<EchoRes>('Chat');
    await chat.send({ text: 'a' });
    assert.equal((await chat.recv())!.text, 'A');
    await chat.send({ text: 'b' });
    chat.closeSend();
    assert.equal((await chat.recv())!.text, 'B');
    assert.equal(await chat.recv(), undefined);
    c.close();
  });

  test('client streaming with a slow consumer: 300 messages through a 64-message buffer', async () => {
    const sum = echo.clientStream<EchoRes>('Sum');
    let expect = 0;
    for (let i = 0; i < 300; i++) {
      await sum.send({ count: i, sleep_ms: i % 50 === 0 ? 20 : 0 });
      expect += i;
    }
    assert.equal((await sum.closeAndRecv()).sum, expect);
  });

  test('a stream whose buffer stays full fails after the timeout; others go on', async () => {
    const s3 = new TtrpcServer({ root, streamBufferSize: 4, streamFullTimeoutMs: 150 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    s3.register(ECHO_SERVICE, {
      Sum: async (reqs: AsyncIterable<EchoReq>) => {
        await gate;
        for await (const _ of reqs) void _;
        return {};
      },
      Echo: (r: EchoReq) => ({ text: r.text }),
    });
    const p = join(tmp.dir, 'full.sock');
    await s3.listen(p);
    const c = await TtrpcClient.connect(p);
    const t = ttrpcClient(root, ECHO_SERVICE, c);
    const sum = t.clientStream('Sum');
    for (let i = 0; i < 10; i++) await sum.send({ count: i });
    await assert.rejects(sum.closeAndRecv(), { code: Code.InvalidArgument, message: 'data handling error: ttrpc: stream buffer full' });
    release();
    assert.equal((await t.call<EchoRes>('Echo', { text: 'alive' })).text, 'alive');
    c.close();
    await s3.shutdown();
  });

  test('oversize: the client refuses to send (ResourceExhausted), the server refuses to reply', async () => {
    await assert.rejects(echo.call('Echo', { blob: Buffer.alloc(MAX_MESSAGE_LENGTH + 1) }), {
      code: Code.ResourceExhausted,
    });
    await assert.rejects(echo.call('Big', { count: MAX_MESSAGE_LENGTH + 10 }), (err: FlotillaError) => {
      assert.equal(err.code, Code.ResourceExhausted);
      assert.match(err.message, /^message length \d+ exceed maximum message size of 4194304$/);
      return true;
    });
    const ok = await echo.call<EchoRes>('Big', { count: MAX_MESSAGE_LENGTH - 100 });
    assert.equal(ok.blob.length, MAX_MESSAGE_LENGTH - 100);
  });

  test('raw frames: bad stream ids, unknown streams, oversized and garbage frames; connection stays up', async () => {
    const peer = await RawPeer.connect(sock);
    const echoReq = (text: string) => encodeRequest({ service: ECHO_SERVICE, method: 'Echo', payload: encodeMessage(reqType, { text }) });
    const status = (i: number) => decodeResponse(peer.frames[i]!.payload).status;

    peer.send(2, MessageType.Request, 0, echoReq('even'));
    await peer.waitFrames(1);
    assert.equal(peer.frames[0]!.streamId, 2);
    assert.deepEqual(status(0), { code: Code.InvalidArgument, message: 'StreamID must be odd for client initiated streams', details: [] });

    peer.send(5, MessageType.Request, 0, echoReq('five'));
    await peer.waitFrames(2);
    assert.equal(peer.frames[1]!.streamId, 5);
    assert.equal(status(1), undefined, 'success: no status, as Go');

    for (const id of [5, 3]) peer.send(id, MessageType.Request, 0, echoReq('again'));
    await peer.waitFrames(4);
    for (const i of [2, 3]) {
      assert.deepEqual(status(i), { code: Code.InvalidArgument, message: 'StreamID cannot be re-used and must increment', details: [] });
    }
    assert.deepEqual([peer.frames[2]!.streamId, peer.frames[3]!.streamId], [5, 3]);

    peer.send(7, MessageType.Data, 0, Buffer.from('x'));
    await peer.waitFrames(5);
    assert.deepEqual([peer.frames[4]!.streamId, status(4)], [7, { code: Code.InvalidArgument, message: 'StreamID is no longer active', details: [] }]);

    // oversized frame: discarded and answered on its stream id
    peer.write(encodeHeader({ length: MAX_MESSAGE_LENGTH + 1, streamId: 9, type: MessageType.Request, flags: 0 }));
    peer.write(Buffer.alloc(MAX_MESSAGE_LENGTH + 1));
    await peer.waitFrames(6);
    assert.equal(peer.frames[5]!.streamId, 9);
    assert.deepEqual(status(5), {
      code: Code.ResourceExhausted,
      message: 'message length 4194305 exceed maximum message size of 4194304',
      details: [],
    });

    // a Request that is not a ttrpc.Request
    peer.send(11, MessageType.Request, 0, Buffer.from([0x0a, 0x09, 0x01]));
    await peer.waitFrames(7);
    assert.equal(status(6)!.code, Code.InvalidArgument);
    assert.match(status(6)!.message, /^unmarshal request error: /);

    // unknown frame types are ignored; the connection still serves
    peer.send(13, 0x7f, 0, Buffer.from('future'));
    peer.send(15, MessageType.Request, 0, echoReq('alive'));
    await peer.waitFrames(8);
    assert.equal(peer.frames[7]!.streamId, 15);
    assert.equal(status(7), undefined);
    assert.equal(peer.closed, false);
    peer.close();
  });

  test('client: an oversized incoming frame fails only that call with ResourceExhausted', async () => {
    const p = join(tmp.dir, 'rogue.sock');
    const rogue = createServer((s) => {
      let n = 0;
      const reader = new FrameReader({
        frame: (f) => {
          if (n++ === 0) {
            s.write(encodeHeader({ length: MAX_MESSAGE_LENGTH + 5, streamId: f.streamId, type: MessageType.Response, flags: 0 }));
            s.write(Buffer.alloc(MAX_MESSAGE_LENGTH + 5));
          } else {
            s.write(encodeFrame(f.streamId, MessageType.Response, 0, encodeResponse({ payload: Buffer.from([0x0a, 0x02, 0x6f, 0x6b]) })));
          }
        },
        oversize: () => {},
      });
      s.on('data', (c: Buffer) => reader.push(c));
    });
    await new Promise<void>((r) => rogue.listen(p, r));
    const c = await TtrpcClient.connect(p);
    await assert.rejects(c.call('a.B', 'C', Buffer.alloc(0)), { code: Code.ResourceExhausted });
    assert.deepEqual(await c.call('a.B', 'C', Buffer.alloc(0)), Buffer.from([0x0a, 0x02, 0x6f, 0x6b]));
    c.close();
    await closeServer(rogue);
  });

  test('connection loss fails every pending call with Unavailable', async () => {
    const p = join(tmp.dir, 'lossy.sock');
    const sockets: Socket[] = [];
    const lossy = createServer((s) => {
      sockets.push(s);
      s.on('data', () => {
        if (sockets.length && s.bytesRead > 200) s.destroy();
      });
    });
    await new Promise<void>((r) => lossy.listen(p, r));
    const c = await TtrpcClient.connect(p);
    const calls = Array.from({ length: 10 }, () => c.call(ECHO_SERVICE, 'Echo', Buffer.alloc(30)));
    const results = await Promise.allSettled(calls);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal(codeOf((r as PromiseRejectedResult).reason), Code.Unavailable);
    }
    assert.ok(c.closed);
    await assert.rejects(c.call(ECHO_SERVICE, 'Echo', Buffer.alloc(0)), { code: Code.Unavailable, message: 'ttrpc: closed' });
    await closeServer(lossy);
    await assert.rejects(TtrpcClient.connect(p), { code: Code.Unavailable });
  });

  test('server going away mid-call → Unavailable; its handlers are aborted', async () => {
    const s4 = new TtrpcServer({ root });
    s4.register(ECHO_SERVICE, handlers());
    const p = join(tmp.dir, 'gone.sock');
    await s4.listen(p);
    const c = await TtrpcClient.connect(p);
    seen.length = 0;
    const pending = ttrpcClient(root, ECHO_SERVICE, c).call('Sleep', { sleep_ms: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    s4.close();
    await assert.rejects(pending, { code: Code.Unavailable });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(codeOf(seen[0]!.aborted), Code.Unavailable);
  });

  test('peer credentials: a different uid (fake reader) is refused; a same-user peer is served', async () => {
    const euid = process.geteuid!();
    const egid = process.getegid!();
    for (const [creds, ok] of [
      [{ pid: 1, uid: euid + 1000, gid: egid }, false],
      [{ pid: 1, uid: euid, gid: egid + 1000 }, false],
      [{ pid: 1, uid: euid, gid: egid }, true],
    ] as const) {
      const s5 = new TtrpcServer({ root, peerCredentials: fakePeerCredentials(creds) });
      s5.register(ECHO_SERVICE, handlers());
      const p = join(tmp.dir, 'cred.sock');
      await s5.listen(p);
      const c = await TtrpcClient.connect(p);
      const t = ttrpcClient(root, ECHO_SERVICE, c);
      if (ok) assert.equal((await t.call<EchoRes>('Echo', { text: 'in' })).text, 'in');
      else await assert.rejects(t.call('Echo', { text: 'in' }), { code: Code.Unavailable });
      c.close();
      await s5.shutdown();
    }
  });

  test('graceful shutdown: in-flight calls finish, new calls get Unavailable, listener closes', async () => {
    const s6 = new TtrpcServer({ root });
    s6.register(ECHO_SERVICE, handlers());
    const p = join(tmp.dir, 'grace.sock');
    await s6.listen(p);
    const c = await TtrpcClient.connect(p);
    const t = ttrpcClient(root, ECHO_SERVICE, c);
    const inflight = t.call<EchoRes>('Sleep', { text: 'done', sleep_ms: 200 });
    await new Promise((r) => setTimeout(r, 30));
    const stopping = s6.shutdown({ timeoutMs: 5000 });
    await assert.rejects(t.call('Echo', {}), { code: Code.Unavailable, message: 'ttrpc: server closed' });
    await assert.rejects(TtrpcClient.connect(p), { code: Code.Unavailable });
    assert.equal((await inflight).text, 'done');
    await stopping;
    await c.waitClosed();
    assert.equal(s6.connectionCount, 0);
  });

  test('listen: a live socket is AlreadyExists, a stale socket file is replaced', async () => {
    await assert.rejects(new TtrpcServer({ root }).listen(sock), { code: Code.AlreadyExists });
    // A crashed owner leaves a socket file nobody accepts on.
    const p = join(tmp.dir, 'stale.sock');
    const py = spawnSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', p]);
    assert.equal(py.status, 0, py.stderr?.toString());
    assert.ok(statSync(p).isSocket());
    const s8 = new TtrpcServer({ root });
    s8.register(ECHO_SERVICE, handlers());
    await s8.listen(p);
    const c = await TtrpcClient.connect(p);
    assert.equal((await ttrpcClient(root, ECHO_SERVICE, c).call<EchoRes>('Echo', { text: 'fresh' })).text, 'fresh');
    c.close();
    await s8.shutdown();
  });

  test('listenFd: serve an inherited listening socket (as a shim serves fd 3)', async () => {
    const name = `\0fl-ttrpc-${process.pid}-${Date.now()}`; // abstract: nothing to unlink
    const parent = createServer();
    await new Promise<void>((r) => parent.listen(name, r));
    const fd = libc().dup((parent as unknown as { _handle: { fd: number } })._handle.fd);
    await closeServer(parent);
    const s9 = new TtrpcServer({ root });
    s9.register(ECHO_SERVICE, handlers());
    await s9.listenFd(fd);
    const c = await TtrpcClient.connect(name);
    assert.equal((await ttrpcClient(root, ECHO_SERVICE, c).call<EchoRes>('Echo', { text: 'fd3' })).text, 'fd3');
    c.close();
    await s9.shutdown();
  });

  test('shutdown limit: calls still running after timeoutMs are aborted', async () => {
    const s7 = new TtrpcServer({ root });
    s7.register(ECHO_SERVICE, handlers());
    const p = join(tmp.dir, 'limit.sock');
    await s7.listen(p);
    const c = await TtrpcClient.connect(p);
    const pending = ttrpcClient(root, ECHO_SERVICE, c).call('Sleep', { sleep_ms: 30_000 });
    await new Promise((r) => setTimeout(r, 30));
    const t0 = Date.now();
    await s7.shutdown({ timeoutMs: 150 });
    assert.ok(Date.now() - t0 < 1500);
    await assert.rejects(pending, { code: Code.Unavailable });
  });
});

let libcFns: { dup(fd: number): number } | undefined;
function libc() {
  if (!libcFns) {
    const koffi = createRequire(import.meta.url)('koffi');
    const lib = koffi.load('libc.so.6');
    libcFns = { dup: lib.func('int dup(int fd)') };
  }
  return libcFns;
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}
