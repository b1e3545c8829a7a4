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
