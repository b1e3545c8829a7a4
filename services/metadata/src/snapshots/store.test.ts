/** The namespaced snapshot view over a fake backend (the real snapshotters have their own suite). */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, alreadyExists, codeOf, failedPrecondition, notFound } from '@flotilla/api';
import { openMetadataEnv, type MetadataEnv } from '../lmdb/environment.js';
import { lmdbStores } from '../lmdb/stores.js';
import { collectGarbage } from '../gc/collector.js';
import type { Mount } from '../types.js';
import type { BackendInfo, SnapshotBackend } from './backend.js';

/** In-memory backend recording calls. */
class FakeBackend implements SnapshotBackend {
  readonly snaps = new Map<string, BackendInfo>();
  private mountsOf = (key: string): Mount[] => [{ type: 'bind', source: `/fake/${key}`, options: ['rw', 'rbind'] }];
  private add(kind: BackendInfo['kind'], key: string, parent?: string) {
    if (this.snaps.has(key)) throw alreadyExists(key);
    if (parent && !this.snaps.has(parent)) throw notFound(parent);
    this.snaps.set(key, { name: key, parent, kind, labels: {}, created_at: 0, updated_at: 0 });
  }
  async prepare(_sn: string, key: string, parent?: string) {
    this.add('active', key, parent);
    return this.mountsOf(key);
  }
  async view(_sn: string, key: string, parent?: string) {
    this.add('view', key, parent);
    return this.mountsOf(key);
  }
  async mounts(_sn: string, key: string) {
    if (!this.snaps.has(key)) throw notFound(key);
    return this.mountsOf(key);
  }
  async commit(_sn: string, name: string, key: string) {
    const s = this.snaps.get(key);
    if (!s) throw notFound(key);
    this.snaps.delete(key);
    this.snaps.set(name, { ...s, name, kind: 'committed' });
  }
  async remove(_sn: string, key: string) {
    if (!this.snaps.delete(key)) throw notFound(key);
    for (const s of this.snaps.values()) if (s.parent === key) throw failedPrecondition('has children');
  }
  async stat(_sn: string, key: string) {
    const s = this.snaps.get(key);
    if (!s) throw notFound(key);
    return s;
  }
  async usage() {
    return { size: 4096, inodes: 1 };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-snaps-'));
let env: MetadataEnv;
const backend = new FakeBackend();
before(() => {
  env = openMetadataEnv({ root: dir });
});
after(async () => {
  await env.close();
  rmSync(dir, { recursive: true, force: true });
});

const rejects = (p: Promise<unknown>, code: Code) => assert.rejects(p, (e) => codeOf(e) === code);

test('prepare, commit, view, stat, list, update, remove with containerd semantics', async () => {
  const { snapshots: s } = lmdbStores(env, () => undefined, () => backend);
  const ns = 'sn1';
  const m = await s.prepare(ns, 'overlayfs', 'extract-1 sha256:abc', undefined, { 'containerd.io/snapshot/x': 'y', other: 'z' });
  assert.equal(m[0].type, 'bind');
  assert.equal(backend.snaps.size, 1);
  const bkey = [...backend.snaps.keys()][0];
  assert.ok(bkey.startsWith(`${ns}/`) && bkey.endsWith('/extract-1 sha256:abc'), bkey);
  await rejects(s.prepare(ns, 'overlayfs', 'extract-1 sha256:abc'), Code.AlreadyExists);
  await rejects(s.prepare(ns, 'overlayfs', 'c', 'missing-parent'), Code.NotFound);
  await rejects(s.prepare(ns, 'overlayfs', ''), Code.InvalidArgument);
  await s.commit(ns, 'overlayfs', 'sha256:abc', 'extract-1 sha256:abc', { l: '1' });
  await rejects(s.stat(ns, 'overlayfs', 'extract-1 sha256:abc'), Code.NotFound);
  assert.equal((await s.stat(ns, 'overlayfs', 'sha256:abc')).kind, 'committed');
  await rejects(s.prepare(ns, 'overlayfs', 'p', 'sha256:abc').then(() => s.commit(ns, 'overlayfs', 'sha256:abc', 'p')), Code.AlreadyExists);
  await s.view(ns, 'overlayfs', 'v', 'sha256:abc');
  await rejects(s.commit(ns, 'overlayfs', 'vv', 'v'), Code.FailedPrecondition);
  await rejects(s.remove(ns, 'overlayfs', 'sha256:abc'), Code.FailedPrecondition);
  assert.deepEqual((await s.list(ns, 'overlayfs', ['kind==view'])).map((i) => i.name), ['v']);
  assert.deepEqual((await s.list(ns, 'overlayfs', ['parent==sha256:abc'])).map((i) => i.name).sort(), ['p', 'v']);
  assert.deepEqual((await s.update(ns, 'overlayfs', { name: 'v', labels: { a: 'b' } }, ['labels.a'])).labels, { a: 'b' });
  await rejects(s.update(ns, 'overlayfs', { name: 'v' }, ['parent']), Code.InvalidArgument);
  assert.deepEqual(await s.list('other-ns', 'overlayfs'), []);
  await s.remove(ns, 'overlayfs', 'v');
  await s.remove(ns, 'overlayfs', 'p');
  await s.remove(ns, 'overlayfs', 'sha256:abc');
  await rejects(s.remove(ns, 'overlayfs', 'sha256:abc'), Code.NotFound);
  // Records are gone at once; backend objects wait for GC, which reports them as dirty.
  assert.equal(backend.snaps.size, 3);
  const r = await collectGarbage(env);
  assert.equal(r.dirtySnapshots.length, 3);
});

test('a lease holds snapshots; unreferenced snapshots are swept, parents kept while a child is rooted', async () => {
  const { snapshots: s, leases, containers } = lmdbStores(env, () => undefined, () => backend);
  const ns = 'sn2';
  await leases.create(ns, 'L');
  await s.prepare(ns, 'overlayfs', 'k1', undefined, {}, 'L');
  await s.commit(ns, 'overlayfs', 'base', 'k1', {}, 'L');
  await s.prepare(ns, 'overlayfs', 'c1', 'base');
  await containers.create(ns, { id: 'c1', labels: {}, image: '', runtime: { name: 'r' }, spec: { type_url: 't', value: new Uint8Array() }, snapshotter: 'overlayfs', snapshot_key: 'c1', extensions: {} });
  await s.prepare(ns, 'overlayfs', 'loose');
  const r = await collectGarbage(env);
  assert.deepEqual(r.snapshots.filter((x) => x.ns === ns).map((x) => x.key), ['loose']);
  await leases.delete(ns, 'L');
  const r2 = await collectGarbage(env);
  assert.deepEqual(r2.snapshots.filter((x) => x.ns === ns).map((x) => x.key), [], 'base is the parent of a container snapshot');
  await containers.delete(ns, 'c1');
  const r3 = await collectGarbage(env);
  assert.deepEqual(r3.snapshots.filter((x) => x.ns === ns).map((x) => x.key).sort(), ['base', 'c1']);
});
