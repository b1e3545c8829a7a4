/**
 * Conformance suite of NamespaceStore: run against the LMDB implementation and against the bus
 * client, so both are held to containerd's semantics.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import type { NamespaceStore } from './types.js';

async function rejectsWith(p: Promise<unknown>, code: Code): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.equal(codeOf(err), code, `expected code ${Code[code]}, got ${codeOf(err)}: ${(err as Error).message}`);
    return true;
  });
}

/** Registers the namespace conformance tests; `store()` gives the store under test (fresh state). */
export function namespaceSuite(label: string, store: () => NamespaceStore, objects?: { add(ns: string, kind: string): Promise<void> }): void {
  test(`${label}: create, get, list, duplicate`, async () => {
    const s = store();
    assert.deepEqual(await s.create('alpha', { a: '1' }), { name: 'alpha', labels: { a: '1' } });
    assert.deepEqual(await s.get('alpha'), { name: 'alpha', labels: { a: '1' } });
    await rejectsWith(s.create('alpha', {}), Code.AlreadyExists);
    await s.create('beta', {});
    const names = (await s.list()).map((n) => n.name);
    assert.ok(names.indexOf('alpha') < names.indexOf('beta') && names.includes('alpha'));
  });

  test(`${label}: get of an unknown namespace answers empty labels`, async () => {
    assert.deepEqual(await store().get('never-made'), { name: 'never-made', labels: {} });
    assert.deepEqual(await store().get('A!'), { name: 'A!', labels: {} });
  });

  test(`${label}: delete of an impossible name is NotFound`, async () => {
    await rejectsWith(store().delete('A!'), Code.NotFound);
  });

  test(`${label}: invalid names and labels are InvalidArgument and change nothing`, async () => {
    const s = store();
    const before = await s.list();
    for (const bad of ['', 'A!', '-a', 'a..b', 'a'.repeat(77), 'a/b']) await rejectsWith(s.create(bad, {}), Code.InvalidArgument);
    await rejectsWith(s.create('biglabel', { k: 'v'.repeat(4096) }), Code.InvalidArgument);
    await rejectsWith(s.update('gamma', {}, ['name']), Code.InvalidArgument);
    assert.deepEqual(await s.list(), before);
  });

  test(`${label}: update with and without field masks`, async () => {
    const s = store();
    await s.create('upd', { a: '1', b: '2' });
    assert.deepEqual((await s.update('upd', { c: '3' }, ['labels.c'])).labels, { a: '1', b: '2', c: '3' });
    assert.deepEqual((await s.update('upd', {}, ['labels.a'])).labels, { b: '2', c: '3' });
    assert.deepEqual((await s.update('upd', { z: '9' })).labels, { z: '9' });
    assert.deepEqual((await s.get('upd')).labels, { z: '9' });
  });

  test(`${label}: delete`, async () => {
    const s = store();
    await s.create('gone', {});
    await s.delete('gone');
    assert.equal((await s.list()).some((n) => n.name === 'gone'), false);
    await rejectsWith(s.delete('gone'), Code.NotFound);
  });

  if (objects) {
    test(`${label}: a namespace holding objects cannot be deleted`, async () => {
      const s = store();
      await s.create('busy', {});
      await objects.add('busy', 'images');
      await rejectsWith(s.delete('busy'), Code.FailedPrecondition);
      assert.ok((await s.list()).some((n) => n.name === 'busy'));
    });
  }
}

const D1 = 'sha256:' + 'a'.repeat(64);
const D2 = 'sha256:' + 'b'.repeat(64);

/** Conformance suite of ContentStore + LeaseStore (content records and the leases that hold them). */
export function contentAndLeaseSuite(label: string, stores: () => { content: import('./types.js').ContentStore; leases: import('./types.js').LeaseStore }): void {
  test(`${label}: content register, info, update, list, delete`, async () => {
    const { content } = stores();
    const ns = 'c1';
    const info = await content.register(ns, { digest: D1, size: 10, labels: { a: '1' }, exclusive: true });
    assert.equal(info.size, 10);
    assert.deepEqual((await content.info(ns, D1)).labels, { a: '1' });
    await rejectsWith(content.register(ns, { digest: D1, size: 10, exclusive: true }), Code.AlreadyExists);
    assert.equal((await content.register(ns, { digest: D1, size: 10 })).digest, D1);
    await rejectsWith(content.info('other', D1), Code.NotFound);
    assert.deepEqual((await content.update(ns, { digest: D1, labels: { b: '2' } }, ['labels.b'])).labels, { a: '1', b: '2' });
    assert.deepEqual((await content.update(ns, { digest: D1, labels: {} }, ['labels.a'])).labels, { b: '2' });
    await rejectsWith(content.update(ns, { digest: D1 }, ['size']), Code.InvalidArgument);
    await content.register(ns, { digest: D2, size: 5, labels: { kind: 'layer' } });
    assert.deepEqual((await content.list(ns)).map((i) => i.digest), [D1, D2]);
    assert.deepEqual((await content.list(ns, ['labels.kind==layer'])).map((i) => i.digest), [D2]);
    await rejectsWith(content.list(ns, ['labels.kind==']), Code.InvalidArgument);
    await content.delete(ns, D1);
    await rejectsWith(content.info(ns, D1), Code.NotFound);
    await rejectsWith(content.delete(ns, D1), Code.NotFound);
    await rejectsWith(content.info(ns, 'sha256:xyz'), Code.InvalidArgument);
  });

  test(`${label}: leases hold resources; commit into a lease`, async () => {
    const { content, leases } = stores();
    const ns = 'l1';
    const l = await leases.create(ns, 'lease-1', { 'containerd.io/gc.expire': '2100-01-01T00:00:00Z' });
    assert.equal(l.id, 'lease-1');
    await rejectsWith(leases.create(ns, 'lease-1'), Code.AlreadyExists);
    await rejectsWith(leases.create(ns, ''), Code.InvalidArgument);
    assert.equal((await leases.create(ns, '/tmp/a path')).id, '/tmp/a path');
    await leases.delete(ns, '/tmp/a path');
    await content.register(ns, { digest: D1, size: 1 }, 'lease-1');
    await leases.addResource(ns, 'lease-1', { type: 'snapshots/overlayfs', id: 'key 1' });
    await rejectsWith(leases.addResource(ns, 'lease-1', { type: 'images', id: 'x' }), Code.InvalidArgument);
    await rejectsWith(leases.addResource(ns, 'lease-1', { type: 'content', id: 'nope' }), Code.InvalidArgument);
    await rejectsWith(leases.addResource(ns, 'missing', { type: 'ingests', id: 'r' }), Code.NotFound);
    await rejectsWith(content.register(ns, { digest: D2, size: 1 }, 'missing'), Code.NotFound);
    await rejectsWith(content.info(ns, D2), Code.NotFound);
    const res = await leases.listResources(ns, 'lease-1');
    assert.deepEqual(res.sort((a, b) => a.type.localeCompare(b.type)), [
      { type: 'content', id: D1 },
      { type: 'snapshots/overlayfs', id: 'key 1' },
    ]);
    await leases.deleteResource(ns, 'lease-1', { type: 'content', id: D1 });
    assert.equal((await leases.listResources(ns, 'lease-1')).length, 1);
    await leases.create(ns, 'lease-2', { team: 'x' });
    assert.deepEqual((await leases.list(ns, ['labels.team==x'])).map((x) => x.id), ['lease-2']);
    await leases.delete(ns, 'lease-1');
    await rejectsWith(leases.delete(ns, 'lease-1'), Code.NotFound);
    await rejectsWith(leases.listResources(ns, 'lease-1'), Code.NotFound);
    assert.deepEqual((await leases.list(ns)).map((x) => x.id), ['lease-2']);
  });
}

const SPEC = { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: new Uint8Array(Buffer.from('{}')) };

/** Conformance suite of ImageStore + ContainerStore. */
export function imageAndContainerSuite(label: string, stores: () => { images: import('./types.js').ImageStore; containers: import('./types.js').ContainerStore }): void {
  test(`${label}: images create, get, list with filters, update with masks, delete`, async () => {
    const { images } = stores();
    const ns = 'img1';
    const target = { media_type: 'application/vnd.oci.image.manifest.v1+json', digest: D1, size: 10 };
    const img = await images.create(ns, { name: 'docker.io/library/a:1', labels: { x: '1' }, target });
    assert.equal(img.target.digest, D1);
    await rejectsWith(images.create(ns, { name: 'docker.io/library/a:1', labels: {}, target }), Code.AlreadyExists);
    await rejectsWith(images.create(ns, { name: '', labels: {}, target }), Code.InvalidArgument);
    await rejectsWith(images.create(ns, { name: 'b', labels: {}, target: { ...target, digest: 'nope' } }), Code.InvalidArgument);
    await rejectsWith(images.create(ns, { name: 'b', labels: {}, target: { ...target, media_type: '' } }), Code.InvalidArgument);
    await images.create(ns, { name: 'b', labels: {}, target: { ...target, digest: D2 } });
    assert.deepEqual((await images.list(ns, [`target.digest==${D2}`])).map((i) => i.name), ['b']);
    assert.deepEqual((await images.list(ns, ['labels.x==1'])).map((i) => i.name), ['docker.io/library/a:1']);
    const up = await images.update(ns, { name: 'b', labels: { y: '2' }, target: { ...target, digest: D1 } }, ['labels.y']);
    assert.deepEqual(up.labels, { y: '2' });
    assert.equal(up.target.digest, D2, 'target unchanged when not in the mask');
    assert.equal((await images.update(ns, { name: 'b', labels: {}, target }, ['target'])).target.digest, D1);
    await rejectsWith(images.update(ns, { name: 'b', labels: {}, target }, ['name']), Code.InvalidArgument);
    await rejectsWith(images.update(ns, { name: 'missing', labels: {}, target }), Code.NotFound);
    await images.delete(ns, 'b');
    await rejectsWith(images.get(ns, 'b'), Code.NotFound);
    await rejectsWith(images.delete(ns, 'b'), Code.NotFound);
  });

  test(`${label}: containers create, get, list, update rules, delete`, async () => {
    const { containers } = stores();
    const ns = 'ctr1';
    const base = { id: 'c1', labels: { app: 'x' }, image: 'img', runtime: { name: 'io.containerd.runc.v2' }, spec: SPEC, snapshotter: 'overlayfs', snapshot_key: 'c1', extensions: {} };
    const c = await containers.create(ns, base);
    assert.equal(c.runtime.name, 'io.containerd.runc.v2');
    assert.deepEqual(Buffer.from((await containers.get(ns, 'c1')).spec!.value).toString(), '{}');
    await rejectsWith(containers.create(ns, base), Code.AlreadyExists);
    await rejectsWith(containers.create(ns, { ...base, id: 'bad id' }), Code.InvalidArgument);
    await rejectsWith(containers.create(ns, { ...base, id: 'c2', runtime: { name: '' } }), Code.InvalidArgument);
    await rejectsWith(containers.create(ns, { ...base, id: 'c2', spec: undefined }), Code.InvalidArgument);
    await containers.create(ns, { ...base, id: 'c2', labels: {} });
    assert.deepEqual((await containers.list(ns, ['labels.app==x'])).map((x) => x.id), ['c1']);
    assert.deepEqual((await containers.update(ns, { ...base, labels: { b: '1' } }, ['labels.b'])).labels, { app: 'x', b: '1' });
    await rejectsWith(containers.update(ns, { ...base, runtime: { name: 'other' } }, ['runtime']), Code.InvalidArgument);
    await rejectsWith(containers.update(ns, { ...base, runtime: { name: 'other' } }), Code.InvalidArgument);
    assert.equal((await containers.update(ns, { ...base, image: 'img2' }, ['image'])).image, 'img2');
    await containers.delete(ns, 'c2');
    await rejectsWith(containers.get(ns, 'c2'), Code.NotFound);
    assert.deepEqual((await containers.list(ns)).map((x) => x.id), ['c1']);
  });
}
