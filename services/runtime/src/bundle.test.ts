import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { BUNDLE_FILES, claimTeardown, createBundle, deleteBundle, listBundles, removeDeleteLeftovers, teardownClaimed } from './bundle.js';

describe('bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fl-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const dirs = { stateDir: join(dir, 'state', 'io.containerd.runtime.v2.task'), rootDir: join(dir, 'root', 'io.containerd.runtime.v2.task') };
  const spec = Buffer.from('{"ociVersion":"1.0.2"}');

  test('create lays out config.json, rootfs, work link and the log FIFO as containerd does', () => {
    const b = createBundle(dirs, 'ns1', 'c1', spec);
    assert.equal(b.path, join(dirs.stateDir, 'ns1', 'c1'));
    assert.equal(statSync(b.path).mode & 0o777, 0o700);
    assert.equal(statSync(join(dirs.stateDir, 'ns1')).mode & 0o777, 0o711);
    assert.equal(statSync(join(b.path, 'rootfs')).mode & 0o777, 0o711);
    assert.equal(readlinkSync(join(b.path, 'work')), join(dirs.rootDir, 'ns1', 'c1'));
    assert.ok(statSync(join(dirs.rootDir, 'ns1', 'c1')).isDirectory());
    assert.deepEqual(readFileSync(join(b.path, 'config.json')), spec);
    assert.ok(lstatSync(join(b.path, BUNDLE_FILES.log)).isFIFO());
  });

  test('a second create of the same id is AlreadyExists; a bad id InvalidArgument; nothing left behind', () => {
    assert.throws(() => createBundle(dirs, 'ns1', 'c1', spec), (e) => codeOf(e) === Code.AlreadyExists && /task c1: already exists/.test((e as Error).message));
    assert.throws(() => createBundle(dirs, 'ns1', '../x', spec), (e) => codeOf(e) === Code.InvalidArgument);
    assert.throws(() => createBundle(dirs, 'ns1', 'bad', Buffer.from('{"linux":{"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]')), (e) => codeOf(e) === Code.InvalidArgument);
    assert.equal(existsSync(join(dirs.stateDir, 'ns1', 'bad')), false);
    assert.equal(existsSync(join(dirs.rootDir, 'ns1', 'bad')), false);
  });

  test('teardown is claimed exactly once', () => {
    const b = createBundle(dirs, 'ns1', 'c2', spec);
    assert.equal(teardownClaimed(b), false);
    assert.equal(claimTeardown(b, 'delete'), true);
    assert.equal(claimTeardown(b, 'dead-shim'), false);
    assert.equal(teardownClaimed(b), true);
  });

  test('list skips hidden leftovers; delete removes bundle and work folder', async () => {
    mkdirSync(join(dirs.stateDir, 'ns1', '.c9'));
    assert.deepEqual(listBundles(dirs).map((b) => `${b.namespace}/${b.id}`).sort(), ['ns1/c1', 'ns1/c2']);
    assert.deepEqual(listBundles(dirs, 'ns1').map((b) => b.id).sort(), ['c1', 'c2']);
    assert.deepEqual(listBundles(dirs, 'none'), []);
    removeDeleteLeftovers(dirs);
    assert.equal(existsSync(join(dirs.stateDir, 'ns1', '.c9')), false);
    for (const b of listBundles(dirs)) await deleteBundle(b);
    assert.deepEqual(listBundles(dirs), []);
    assert.equal(existsSync(join(dirs.rootDir, 'ns1', 'c1')), false);
    await deleteBundle({ id: 'gone', namespace: 'ns1', path: join(dirs.stateDir, 'ns1', 'gone') });
  });
});
