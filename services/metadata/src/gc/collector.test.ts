import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMetadataEnv, type MetadataEnv } from '../lmdb/environment.js';
import { lmdbStores } from '../lmdb/stores.js';
import { collectGarbage, contentReferenced } from './collector.js';

const d = (c: string) => 'sha256:' + c.repeat(64);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-gc-'));
let env: MetadataEnv;

before(() => {
  env = openMetadataEnv({ root: dir });
});
after(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

test('images, label references, leases and gc.root keep content; the rest is swept', async () => {
  const s = lmdbStores(env);
  const ns = 'gc1';
  // index -> manifest -> config + layer, referenced through labels, rooted by an image.
  await s.content.register(ns, { digest: d('1'), size: 1, labels: { 'containerd.io/gc.ref.content.m.0': d('2') } });
  await s.content.register(ns, { digest: d('2'), size: 1, labels: { 'containerd.io/gc.ref.content.config': d('3'), 'containerd.io/gc.ref.content.l.0': d('4') } });
  await s.content.register(ns, { digest: d('3'), size: 1 });
  await s.content.register(ns, { digest: d('4'), size: 1 });
  await s.images.create(ns, { name: 'img', labels: {}, target: { media_type: 'application/vnd.oci.image.index.v1+json', digest: d('1'), size: 1 } });
  // Orphan, rooted, leased, and held by an expired lease.
  await s.content.register(ns, { digest: d('5'), size: 1 });
  await s.content.register(ns, { digest: d('6'), size: 1, labels: { 'containerd.io/gc.root': 'x' } });
  await s.leases.create(ns, 'live', { 'containerd.io/gc.expire': new Date(Date.now() + 3_600_000).toISOString() });
  await s.content.register(ns, { digest: d('7'), size: 1 }, 'live');
  await s.leases.create(ns, 'old', { 'containerd.io/gc.expire': new Date(Date.now() - 1000).toISOString() });
  await s.content.register(ns, { digest: d('8'), size: 1 }, 'old');
  // The same digest in another namespace stays referenced there.
  await s.content.register('gc2', { digest: d('5'), size: 1, labels: { 'containerd.io/gc.root': '1' } });

  const r = await collectGarbage(env);
  const swept = r.content.filter((c) => c.ns === ns).map((c) => c.digest).sort();
  assert.deepEqual(swept, [d('5'), d('8')]);
  assert.deepEqual(r.leases, [{ ns, id: 'old' }]);
  assert.ok(r.nextExpiry && r.nextExpiry > Date.now());
  assert.deepEqual((await s.leases.list(ns)).map((l) => l.id), ['live']);
  for (const k of ['1', '2', '3', '4', '6', '7']) assert.equal((await s.content.info(ns, d(k))).digest, d(k));
  assert.equal(contentReferenced(env, d('5')), true, 'still recorded in gc2');
  assert.equal(contentReferenced(env, d('8')), false);

  // Deleting the image frees its whole tree on the next run.
  await s.images.delete(ns, 'img');
  const r2 = await collectGarbage(env);
  assert.deepEqual(r2.content.map((c) => c.digest).sort(), [d('1'), d('2'), d('3'), d('4')]);
});

test('a flat lease keeps what it lists but not what those reference', async () => {
  const s = lmdbStores(env);
  const ns = 'gc3';
  await s.leases.create(ns, 'flat', { 'containerd.io/gc.flat': '' });
  await s.content.register(ns, { digest: d('a'), size: 1, labels: { 'containerd.io/gc.ref.content.0': d('b') } }, 'flat');
  await s.content.register(ns, { digest: d('b'), size: 1 });
  const r = await collectGarbage(env);
  assert.deepEqual(r.content.filter((c) => c.ns === ns).map((c) => c.digest), [d('b')]);
});
