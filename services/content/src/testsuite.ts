/**
 * Conformance suite of ContentBackend: run against the local store and against the bus client, so
 * both are held to containerd's content semantics.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { READ_CHUNK, type ContentBackend, type ContentWriter } from './types.js';

const MiB = 1024 * 1024;

/** Rejects with `code` (and a message matching `message`, when given). */
export async function rejectsWith(p: Promise<unknown>, code: Code, message?: RegExp): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(p, (err) => {
    caught = err as Error;
    assert.equal(codeOf(err), code, `expected code ${Code[code]}, got ${Code[codeOf(err)]}: ${(err as Error).message}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
  return caught as Error;
}

/** `sha256:<hex>` of `data`. */
export function sha256(...data: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const d of data) h.update(d);
  return `sha256:${h.digest('hex')}`;
}

/** Everything `read` yields, concatenated; checks the chunk bound on the way. */
export async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) {
    assert.ok(c.length > 0 && c.length <= READ_CHUNK, `chunk of ${c.length} bytes`);
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts);
}

async function writeAll(w: ContentWriter, data: Uint8Array, piece = MiB): Promise<void> {
  for (let at = w.status().offset; at < data.length; at += piece) {
    assert.equal(await w.write(at, data.subarray(at, Math.min(at + piece, data.length))), Math.min(at + piece, data.length));
  }
}

async function exists(s: ContentBackend, digest: string): Promise<boolean> {
  try {
    await s.info(digest);
    return true;
  } catch (err) {
    assert.equal(codeOf(err), Code.NotFound, (err as Error).message);
    return false;
  }
}

const BAD_DIGESTS = [
  '',
  'sha256:',
  'sha256:abc',
  `sha256:${'A'.repeat(64)}`,
  `sha256:${'g'.repeat(64)}`,
  `sha512:${'a'.repeat(128)}`,
  `sha256:${'a'.repeat(64)}/../../x`,
  `sha256:../${'a'.repeat(61)}`,
  '../../../etc/passwd',
  `SHA256:${'a'.repeat(64)}`,
  ` sha256:${'a'.repeat(64)}`,
];

/** Registers the content conformance tests; `store()` gives the backend under test. */
export function contentSuite(label: string, store: () => ContentBackend): void {
  const ns = 'suite';
  let n = 0;
  const ref = (what: string) => `${what}-sha256:${label}-${++n}-${randomBytes(4).toString('hex')}`;

  test(`${label}: write, commit and read back a blob`, async () => {
    const s = store();
    const data = randomBytes(3 * MiB + 7);
    const digest = sha256(data);
    const r = ref('layer');
    const w = await s.open(ns, r, { total: data.length, expected: digest });
    assert.equal(w.status().offset, 0);
    assert.equal(w.status().total, data.length);
    await writeAll(w, data);
    assert.equal(w.digest(), digest, 'running digest');
    assert.deepEqual(await w.commit({ size: data.length, expected: digest }), { digest, size: data.length });
    assert.deepEqual(await s.info(digest), { digest, size: data.length });
    const back = await readAll(s.read(digest));
    assert.equal(sha256(back), digest);
    await rejectsWith(s.status(ns, r), Code.NotFound);
    const all: string[] = [];
    for await (const b of s.walk()) all.push(`${b.digest}:${b.size}`);
    assert.ok(all.includes(`${digest}:${data.length}`));
  });

  test(`${label}: an empty blob`, async () => {
    const s = store();
    const w = await s.open(ns, ref('empty'));
    const digest = sha256(new Uint8Array(0));
    assert.equal((await w.commit({ expected: digest })).size, 0);
    assert.equal((await readAll(s.read(digest))).length, 0);
  });

  test(`${label}: a closed writer resumes where it stopped, with the digest recomputed`, async () => {
    const s = store();
    const data = randomBytes(2 * MiB + 333);
    const r = ref('layer');
    const w1 = await s.open(ns, r, { total: data.length });
    await w1.write(0, data.subarray(0, MiB + 5));
    await w1.close();
    await w1.close();
    const st = await s.status(ns, r);
    assert.equal(st.ref, r);
    assert.equal(st.offset, MiB + 5);
    assert.equal(st.total, data.length);
    assert.ok(st.startedAt > 0 && st.updatedAt >= st.startedAt);
    const w2 = await s.open(ns, r);
    assert.equal(w2.status().offset, MiB + 5);
    assert.equal(w2.status().total, data.length, 'total survives');
    assert.equal(w2.digest(), sha256(data.subarray(0, MiB + 5)));
    await writeAll(w2, data);
    assert.equal((await w2.commit({ expected: sha256(data) })).digest, sha256(data));
  });

  test(`${label}: writes must happen at the current offset; offset 0 starts over`, async () => {
    const s = store();
    const r = ref('layer');
    const w0 = await s.open(ns, r);
    await w0.write(0, Buffer.from('hello '));
    await rejectsWith(w0.write(3, Buffer.from('x')), Code.OutOfRange, /write @3 must occur at current offset 6/);
    // A failure ends the writer; the ingest stays and resumes.
    await assert.rejects(w0.write(6, Buffer.from('world')));
    await w0.close();
    const w1 = await s.open(ns, r);
    await rejectsWith(w1.write(9, Buffer.from('x')), Code.OutOfRange);
    const w = await s.open(ns, r);
    assert.equal(await w.write(6, Buffer.from('world')), 11);
    assert.equal(await w.write(0, Buffer.from('again')), 5);
    assert.equal(w.digest(), sha256(Buffer.from('again')));
    const blob = await w.commit();
    assert.deepEqual(blob, { digest: sha256(Buffer.from('again')), size: 5 });
    assert.equal((await readAll(s.read(blob.digest))).toString(), 'again');
  });

  test(`${label}: a digest mismatch fails the commit, commits nothing and keeps the ingest`, async () => {
    const s = store();
    const data = randomBytes(1000);
    const wrong = sha256(Buffer.from('something else'));
    const r = ref('layer');
    const w = await s.open(ns, r);
    await w.write(0, data);
    const err = await rejectsWith(w.commit({ expected: wrong }), Code.FailedPrecondition);
    assert.equal(err.message, `unexpected commit digest ${sha256(data)}, expected ${wrong}: failed precondition`);
    assert.equal(await exists(s, sha256(data)), false);
    assert.equal(await exists(s, wrong), false);
    assert.equal((await s.status(ns, r)).offset, 1000, 'containerd keeps the ingest');
    // The writer is done; the ingest can be resumed and committed properly.
    await rejectsWith(w.write(1000, Buffer.from('x')), Code.FailedPrecondition);
    const again = await s.open(ns, r);
    assert.equal(again.status().offset, 1000);
    assert.equal((await again.commit({ expected: sha256(data) })).digest, sha256(data));
  });

  test(`${label}: a size mismatch fails the commit and commits nothing`, async () => {
    const s = store();
    const data = randomBytes(100);
    const r = ref('layer');
    const w = await s.open(ns, r);
    await w.write(0, data);
    const err = await rejectsWith(w.commit({ size: 101 }), Code.FailedPrecondition);
    assert.equal(err.message, 'unexpected commit size 100, expected 101: failed precondition');
    assert.equal(await exists(s, sha256(data)), false);
    // The total announced at open counts as the size to check.
    const w2 = await s.open(ns, ref('layer'), { total: 200 });
    await w2.write(0, data);
    await rejectsWith(w2.commit(), Code.FailedPrecondition, /unexpected commit size 100, expected 200/);
    assert.equal(await exists(s, sha256(data)), false);
    await s.abort(ns, r);
  });

  test(`${label}: a write past the announced total is InvalidArgument and writes nothing`, async () => {
    const s = store();
    const r = ref('layer');
    const w0 = await s.open(ns, r, { total: 10 });
    await rejectsWith(w0.write(0, Buffer.from('0123456789A')), Code.InvalidArgument, /exceeds total 10/);
    await w0.close();
    assert.equal((await s.status(ns, r)).offset, 0);
    const w = await s.open(ns, r, { total: 10 });
    await w.write(0, Buffer.from('01234'));
    await rejectsWith(w.write(5, Buffer.from('567890')), Code.InvalidArgument);
    await assert.rejects(w.commit(), "the writer ended with the failed write");
    assert.equal(await exists(s, sha256(Buffer.from('01234567890'))), false);
    assert.equal(await exists(s, sha256(Buffer.from('01234'))), false);
    await w.close();
    assert.equal((await s.status(ns, r)).offset, 5);
    await s.abort(ns, r);
  });

  test(`${label}: invalid digests are InvalidArgument everywhere and touch nothing`, async () => {
    const s = store();
    for (const bad of BAD_DIGESTS) {
      await rejectsWith(s.info(bad), Code.InvalidArgument);
      await rejectsWith(readAll(s.read(bad)), Code.InvalidArgument);
      await rejectsWith(s.delete(bad), Code.InvalidArgument);
      await rejectsWith(s.open(ns, ref('bad'), { expected: bad || 'x' }), Code.InvalidArgument);
    }
    const r = ref('layer');
    const w = await s.open(ns, r);
    await w.write(0, Buffer.from('abc'));
    await rejectsWith(w.commit({ expected: 'sha256:abc' }), Code.InvalidArgument);
    assert.equal(await exists(s, sha256(Buffer.from('abc'))), false);
    await w.close();
    await s.abort(ns, r);
  });

  test(`${label}: refs are any text up to 256 bytes and never paths`, async () => {
    const s = store();
    for (const bad of ['', 'x'.repeat(257), 'é'.repeat(129)]) {
      await rejectsWith(s.open(ns, bad), Code.InvalidArgument);
      await rejectsWith(s.status(ns, bad), Code.InvalidArgument);
      await rejectsWith(s.abort(ns, bad), Code.InvalidArgument);
    }
    for (const odd of ['x'.repeat(256), '../../../../tmp/escape', '/etc/passwd', 'a/b\\c:d', 'ref with spaces\nand lines', '.', '..']) {
      const w = await s.open(ns, odd);
      await w.write(0, Buffer.from(odd));
      await w.close();
      const st = await s.status(ns, odd);
      assert.equal(st.ref, odd);
      assert.equal(st.offset, Buffer.byteLength(odd));
      await s.abort(ns, odd);
      await rejectsWith(s.status(ns, odd), Code.NotFound);
    }
    await rejectsWith(s.open('Not/A/Namespace', ref('x')), Code.InvalidArgument);
  });

  test(`${label}: a second writer on a locked ref is Unavailable`, async () => {
    const s = store();
    const r = ref('layer');
    const w1 = await s.open(ns, r);
    await w1.write(0, Buffer.from('first'));
    await rejectsWith(s.open(ns, r), Code.Unavailable, new RegExp(`ref ${r.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} locked`));
    const other = await s.open('suite-other', r);
    await other.close();
    await w1.close();
    const w2 = await s.open(ns, r);
    assert.equal(w2.status().offset, 5);
    await w2.close();
    await s.abort(ns, r);
    await s.abort('suite-other', r);
  });

  test(`${label}: abort removes an ingest, also under an open writer`, async () => {
    const s = store();
    const r = ref('layer');
    const w = await s.open(ns, r);
    await w.write(0, Buffer.from('partial'));
    await w.close();
    await s.abort(ns, r);
    await rejectsWith(s.status(ns, r), Code.NotFound);
    await rejectsWith(s.abort(ns, r), Code.NotFound);
    await rejectsWith(s.abort('suite-other', ref('never')), Code.NotFound);

    const r2 = ref('layer');
    const active = await s.open(ns, r2);
    await active.write(0, Buffer.from('data'));
    await s.abort(ns, r2);
    await rejectsWith(s.status(ns, r2), Code.NotFound);
    await assert.rejects(active.write(4, Buffer.from('more')));
    await active.close();
    assert.equal(await exists(s, sha256(Buffer.from('datamore'))), false);
    // The ref is free again.
    const fresh = await s.open(ns, r2);
    assert.equal(fresh.status().offset, 0);
    await fresh.close();
    await s.abort(ns, r2);
  });

  test(`${label}: listStatuses is per namespace and filters on ref`, async () => {
    const s = store();
    const lns = `list-${label}`;
    const refs = ['layer-sha256:aaa', 'layer-sha256:bbb', 'config-sha256:ccc'];
    for (const [i, r] of refs.entries()) {
      const w = await s.open(lns, r, { total: 100 });
      await w.write(0, Buffer.alloc(i + 1));
      await w.close();
    }
    const w = await s.open(`${lns}-2`, 'layer-sha256:zzz');
    await w.close();
    const all = await s.listStatuses(lns);
    assert.deepEqual(
      all.map((st) => [st.ref, st.offset, st.total]),
      [
        ['config-sha256:ccc', 3, 100],
        ['layer-sha256:aaa', 1, 100],
        ['layer-sha256:bbb', 2, 100],
      ],
    );
    assert.deepEqual((await s.listStatuses(lns, ['ref~=^layer-'])).map((st) => st.ref), ['layer-sha256:aaa', 'layer-sha256:bbb']);
    assert.deepEqual((await s.listStatuses(lns, ['ref==config-sha256:ccc'])).map((st) => st.ref), ['config-sha256:ccc']);
    assert.deepEqual((await s.listStatuses(lns, ['ref==layer-sha256:aaa', 'ref==config-sha256:ccc'])).map((st) => st.ref), ['config-sha256:ccc', 'layer-sha256:aaa']);
    assert.deepEqual((await s.listStatuses(`${lns}-2`)).map((st) => st.ref), ['layer-sha256:zzz']);
    assert.deepEqual(await s.listStatuses(`${lns}-none`), []);
    await rejectsWith(s.listStatuses(lns, ['ref==']), Code.InvalidArgument);
    for (const r of refs) await s.abort(lns, r);
    await s.abort(`${lns}-2`, 'layer-sha256:zzz');
  });

  test(`${label}: read at an offset and with a size`, async () => {
    const s = store();
    const data = randomBytes(MiB + MiB / 2 + 11);
    const w = await s.open(ns, ref('layer'));
    await writeAll(w, data);
    const { digest } = await w.commit();
    assert.ok((await readAll(s.read(digest, 100))).equals(data.subarray(100)));
    assert.ok((await readAll(s.read(digest, 100, 50))).equals(data.subarray(100, 150)));
    assert.ok((await readAll(s.read(digest, READ_CHUNK - 1, READ_CHUNK + 2))).equals(data.subarray(READ_CHUNK - 1, 2 * READ_CHUNK + 1)));
    assert.ok((await readAll(s.read(digest, 0, 10 * MiB))).equals(data), 'a size past the end reads to the end');
    assert.equal((await readAll(s.read(digest, data.length))).length, 0);
    await rejectsWith(readAll(s.read(digest, data.length + 1)), Code.OutOfRange);
    await rejectsWith(readAll(s.read(sha256(Buffer.from('absent')))), Code.NotFound);
    // A reader that stops early leaves nothing behind.
    for await (const c of s.read(digest)) {
      assert.equal(c.length, READ_CHUNK);
      break;
    }
  });

  test(`${label}: committing an existing blob is AlreadyExists and drops the ingest`, async () => {
    const s = store();
    const data = randomBytes(4096);
    const digest = sha256(data);
    const w1 = await s.open(ns, ref('layer'));
    await w1.write(0, data);
    await w1.commit();
    const r2 = ref('layer');
    const w2 = await s.open(ns, r2);
    await w2.write(0, data);
    await rejectsWith(w2.commit({ expected: digest }), Code.AlreadyExists, new RegExp(`content ${digest}: already exists`));
    await rejectsWith(s.status(ns, r2), Code.NotFound);
    await rejectsWith(s.open(ns, ref('layer'), { expected: digest }), Code.AlreadyExists);
    assert.deepEqual(await s.info(digest), { digest, size: 4096 });
  });

  test(`${label}: delete removes a blob`, async () => {
    const s = store();
    const data = randomBytes(10);
    const w = await s.open(ns, ref('layer'));
    await w.write(0, data);
    const { digest } = await w.commit();
    await s.delete(digest);
    await rejectsWith(s.info(digest), Code.NotFound, new RegExp(`content ${digest}: not found`));
    await rejectsWith(s.delete(digest), Code.NotFound);
    for await (const b of s.walk()) assert.notEqual(b.digest, digest);
  });
}
