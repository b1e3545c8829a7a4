/**
 * The content service on a real nats-server: registration through metadata (a fake that records
 * calls), the Write stream's wire shape, and 512 MiB through the bus with flat memory.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { ContentClient } from './client.js';
import { LocalContentStore } from './local/store.js';
import { serveContent } from './server.js';
import { FakeMetadata } from './testing-metadata.js';
import { rejectsWith, sha256 } from './testsuite.js';

const MiB = 1024 * 1024;

describe('content service on the bus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-content-srv-'));
  let nats: NatsServer;
  let buses: Bus[] = [];
  let store: LocalContentStore;
  let meta: FakeMetadata;
  let bus: Bus;
  let cc: ContentClient;
  let n = 0;
  const ref = () => `layer-sha256:${++n}-${randomBytes(4).toString('hex')}`;

  before(async () => {
    nats = await startNatsServer({ dir: join(dir, 'nats') });
    const c = nats.credentials;
    const connect = async (name: string) => {
      const b = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name });
      buses.push(b);
      return b;
    };
    store = await LocalContentStore.open(join(dir, 'root', 'io.containerd.content.v1.content'));
    serveContent(await connect('content'), store);
    meta = new FakeMetadata(await connect('metadata'));
    bus = await connect('client');
    cc = new ContentClient(bus, () => ({ lease: 'lease-1' }));
  });

  after(async () => {
    for (const b of buses.reverse()) await b.close();
    buses = [];
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function commitBlob(namespace: string, data: Uint8Array, client = cc) {
    const w = await client.open(namespace, ref());
    await w.write(0, data);
    return w.commit({ expected: sha256(data) });
  }

  it('commits to the backend, then registers in the namespace and lease of the call, then replies', async () => {
    const data = randomBytes(5000);
    const digest = sha256(data);
    const w = await cc.open('ns-a', ref(), { total: data.length });
    await w.write(0, data);
    meta.delayMs = 300;
    const before = meta.calls.length;
    const started = Date.now();
    let replied = 0;
    const committing = w.commit({ expected: digest, labels: { 'containerd.io/gc.ref.content.l.0': 'x' } }).then((b) => ((replied = Date.now()), b));
    await sleep(150);
    assert.deepEqual(await store.info(digest), { digest, size: 5000 }, 'in the backend before metadata knows');
    assert.equal(meta.calls.length, before, 'Register still running');
    assert.equal(replied, 0, 'no reply before Register returns');
    assert.deepEqual(await committing, { digest, size: 5000 });
    meta.delayMs = 0;
    assert.ok(replied - started >= 300, `replied after ${replied - started} ms`);
    const call = meta.calls.at(-1)!;
    assert.equal(call.namespace, 'ns-a');
    assert.equal(call.lease, 'lease-1');
    assert.deepEqual(call.req, { digest, size: 5000, exclusive: true, labels: { 'containerd.io/gc.ref.content.l.0': 'x' } });
    assert.ok(call.answeredAt <= replied);
  });

  it('at stat, an expected blob that exists is registered non-exclusively and answered with AlreadyExists', async () => {
    const data = randomBytes(777);
    const digest = sha256(data);
    await commitBlob('ns-a', data);
    const r = ref();
    for (let i = 0; i < 2; i++) {
      await rejectsWith(cc.open('ns-b', r, { expected: digest, total: data.length }), Code.AlreadyExists, new RegExp(`content ${digest}: already exists`));
      const call = meta.calls.at(-1)!;
      assert.equal(call.namespace, 'ns-b');
      assert.equal(call.lease, 'lease-1');
      assert.deepEqual(call.req, { digest, size: 777, exclusive: false });
    }
    assert.ok(meta.blobs.has(`ns-b/${digest}`));
    await rejectsWith(cc.status('ns-b', r), Code.NotFound, undefined);
    // Announced later in the stream: the ingest started so far is dropped (containerd aborts it).
    const s = cc.openWriteStream({ action: 'stat', ref: r }, { namespace: 'ns-c' });
    assert.equal((await s.recv())!.offset, 0);
    await s.send({ action: 'write', offset: 0, data: Buffer.from('abc') });
    assert.equal((await s.recv())!.offset, 3);
    await s.send({ action: 'stat', expected: digest });
    await rejectsWith(s.recv(), Code.AlreadyExists);
    assert.equal(meta.calls.at(-1)!.namespace, 'ns-c');
    await rejectsWith(cc.status('ns-c', r), Code.NotFound);
    // A size that contradicts the existing blob is refused rather than linked.
    await rejectsWith(cc.open('ns-d', ref(), { expected: digest, total: 778 }), Code.FailedPrecondition);
    assert.equal(meta.blobs.has(`ns-d/${digest}`), false);
  });

  it('committing bytes the backend has links them into a new namespace, and is AlreadyExists in the same one', async () => {
    const data = randomBytes(1234);
    const digest = sha256(data);
    await commitBlob('ns-e', data);
    assert.deepEqual(await commitBlob('ns-f', data), { digest, size: 1234 });
    assert.deepEqual(meta.calls.at(-1)!.req, { digest, size: 1234, exclusive: true });
    assert.equal(meta.calls.at(-1)!.namespace, 'ns-f');
    await rejectsWith(commitBlob('ns-f', data), Code.AlreadyExists);
  });

  it('a failing Register fails the commit with its error and leaves the blob for GC', async () => {
    const data = randomBytes(99);
    meta.failWith = Code.NotFound;
    try {
      await rejectsWith(commitBlob('ns-g', data), Code.NotFound, /lease "lease-1": not found/);
    } finally {
      meta.failWith = undefined;
    }
    assert.deepEqual(await store.info(sha256(data)), { digest: sha256(data), size: 99 });
    assert.equal(meta.blobs.has(`ns-g/${sha256(data)}`), false);
  });

  it('namespaced methods need a namespace', async () => {
    const s = cc.openWriteStream({ action: 'stat', ref: ref() }, {});
    await rejectsWith(s.recv(), Code.FailedPrecondition, /^namespace is required: failed precondition$/);
    await rejectsWith(bus.call('content', 'Status', { ref: 'x' }), Code.FailedPrecondition);
    await rejectsWith(bus.call('content', 'ListStatuses', {}), Code.FailedPrecondition);
    await rejectsWith(bus.call('content', 'Abort', { ref: 'x' }), Code.FailedPrecondition);
    const noRef = cc.openWriteStream({ action: 'stat' }, { namespace: 'ns-a' });
    await rejectsWith(noRef.recv(), Code.InvalidArgument, /first message must have a reference/);
  });

  it('Write answers every message once, lock-step, with containerd fields', async () => {
    const r = ref();
    const digest = sha256(Buffer.from('hello world'));
    const s = cc.openWriteStream({ action: 'stat', ref: r, total: 11 }, { namespace: 'ns-raw' });
    const stat = (await s.recv())!;
    assert.deepEqual(Object.keys(stat).sort(), ['action', 'digest', 'offset', 'started_at', 'total', 'updated_at']);
    assert.equal(stat.action, 'stat');
    assert.equal(stat.offset, 0);
    assert.equal(stat.total, 11);
    assert.equal(stat.digest, sha256(new Uint8Array(0)));
    assert.ok(Math.abs(stat.started_at - Date.now()) < 5000 && stat.updated_at >= stat.started_at);
    await s.send({ action: 'write', offset: 0, data: Buffer.from('hello ') });
    const w1 = (await s.recv())!;
    assert.equal(w1.action, 'write');
    assert.equal(w1.offset, 6);
    assert.equal(w1.digest, sha256(Buffer.from('hello ')));
    await s.send({ action: 'write', data: Buffer.from('world') });
    assert.equal((await s.recv())!.offset, 11);
    const st = await cc.status('ns-raw', r);
    assert.deepEqual([st.ref, st.offset, st.total], [r, 11, 11]);
    await s.send({ action: 'commit', offset: 11, total: 11, expected: digest });
    const done = (await s.recv())!;
    assert.equal(done.action, 'commit');
    assert.equal(done.offset, 11);
    assert.equal(done.digest, digest);
    assert.equal(await s.recv(), undefined, 'the server ends the stream after a commit');
    s.end();
    const info = await bus.call('content', 'Info', { digest });
    assert.deepEqual(info, { digest, size: 11 });
  });

  it('Read fails before any data when the blob is absent or the digest is bad', async () => {
    const absent = cc.openReadStream({ digest: sha256(Buffer.from('nobody wrote this')) });
    await rejectsWith(absent.recv(), Code.NotFound);
    const bad = cc.openReadStream({ digest: 'sha256:../../etc/passwd' });
    await rejectsWith(bad.recv(), Code.InvalidArgument);
  });

  it('ReadAt answers a small range in one reply, with the errors of Read', async () => {
    const data = randomBytes(70_000);
    await commitBlob('ns-readat', data);
    const digest = sha256(data);
    const at = (offset: number, size: number) => bus.call<{ data: Uint8Array }>('content', 'ReadAt', { digest, offset, size });
    assert.ok(Buffer.from((await at(0, 70_000)).data).equals(data));
    assert.ok(Buffer.from((await at(69_990, 10)).data).equals(data.subarray(69_990)));
    assert.ok(Buffer.from((await at(69_990, 100)).data).equals(data.subarray(69_990)), 'short at the end of the blob');
    await rejectsWith(at(0, 0), Code.InvalidArgument, /size must be from 1 to/);
    await rejectsWith(at(0, 512 * 1024 + 1), Code.InvalidArgument, /size must be from 1 to/);
    await rejectsWith(at(-1, 10), Code.InvalidArgument);
    await rejectsWith(bus.call('content', 'ReadAt', { digest: sha256(Buffer.from('nobody wrote this')), size: 1 }), Code.NotFound);
    await rejectsWith(bus.call('content', 'ReadAt', { digest: 'sha256:../../etc/passwd', size: 1 }), Code.InvalidArgument);
  });

  it('moves 512 MiB in and out through the bus with flat memory', async () => {
    const total = 512 * MiB;
    const piece = 8 * MiB;
    const src = randomBytes(piece);
    const hash = createHash('sha256');
    if (global.gc) global.gc();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
    const sampler = setInterval(sample, 20);
    let writeMs: number;
    let readMs: number;
    let digest: string;
    try {
      const t0 = Date.now();
      const w = await cc.open('ns-big', 'layer-sha256:big', { total });
      for (let at = 0; at < total; at += piece) {
        src.writeUInt32BE(at / piece, 0);
        hash.update(src);
        await w.write(at, src);
        sample();
      }
      digest = `sha256:${hash.digest('hex')}`;
      assert.deepEqual(await w.commit({ size: total, expected: digest }), { digest, size: total });
      writeMs = Date.now() - t0;

      const t1 = Date.now();
      const back = createHash('sha256');
      let got = 0;
      for await (const c of cc.read(digest)) {
        back.update(c);
        got += c.length;
        if ((got & (16 * MiB - 1)) === 0) sample();
      }
      readMs = Date.now() - t1;
      assert.equal(got, total);
      assert.equal(`sha256:${back.digest('hex')}`, digest);
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - base;
    const rate = (ms: number) => ((total / MiB / ms) * 1000).toFixed(0);
    console.log(
      `# 512 MiB through the bus: Write ${writeMs} ms (${rate(writeMs)} MiB/s), Read ${readMs} ms (${rate(readMs)} MiB/s), peak RSS growth ${(growth / MiB).toFixed(1)} MiB`,
    );
    assert.ok(growth < 200 * MiB, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
    await store.delete(digest);
  });
});
