import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, codeOf } from '@flotilla/api';
import { ScopedRoot, entryComponents } from './safe-path.js';
import { classifyWhiteout } from './whiteouts.js';
import { declaredCompression } from './media-types.js';
import { detectCompression } from './decompress.js';
import { TempDirs } from './test-fixtures.js';

const invalid = (fn: () => unknown): void =>
  assert.throws(fn, (e) => {
    assert.equal(codeOf(e), Code.InvalidArgument, String(e));
    return true;
  });

describe('entryComponents', () => {
  it('cleans names and keeps absolute names inside the root', () => {
    assert.deepEqual(entryComponents('./a/b/'), ['a', 'b']);
    assert.deepEqual(entryComponents('/etc//passwd'), ['etc', 'passwd']);
    assert.deepEqual(entryComponents('a/./c/../b'), ['a', 'b']);
    assert.deepEqual(entryComponents('./'), []);
    assert.deepEqual(entryComponents(''), []);
    assert.deepEqual(entryComponents('a/..'), []);
  });

  it('rejects climbing out and NUL bytes', () => {
    invalid(() => entryComponents('..'));
    invalid(() => entryComponents('../x'));
    invalid(() => entryComponents('a/../../x'));
    invalid(() => entryComponents('/../x'));
    invalid(() => entryComponents('a\0b'));
  });
});

describe('ScopedRoot.resolve', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());

  it('follows symlinks inside the root only', () => {
    const root = tmp.dir('root');
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    symlinkSync('/usr/lib', join(root, 'abs'));
    symlinkSync('../../../../usr', join(root, 'climb'));
    symlinkSync('usr/lib', join(root, 'rel'));
    symlinkSync('rel', join(root, 'chain'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
    writeFileSync(join(root, 'file'), '');
    const r = new ScopedRoot(root);
    assert.deepEqual(r.resolve(['abs', 'x']), ['usr', 'lib', 'x']);
    assert.deepEqual(r.resolve(['climb', 'lib']), ['usr', 'lib']);
    assert.deepEqual(r.resolve(['chain']), ['usr', 'lib']);
    assert.deepEqual(r.resolve(['missing', 'deeper', '..', 'other']), ['missing', 'other']);
    assert.deepEqual(r.resolve(['file', 'below']), ['file', 'below']);
    invalid(() => r.resolve(['loop1', 'x']));
    assert.equal(r.display(r.resolve(['abs'])), join(root, 'usr/lib'));
  });
});

describe('whiteouts, media types, magic bytes', () => {
  it('classifies whiteout names', () => {
    assert.deepEqual(classifyWhiteout('.wh..wh..opq'), { kind: 'opaque' });
    assert.deepEqual(classifyWhiteout('.wh.foo'), { kind: 'whiteout', target: 'foo' });
    assert.deepEqual(classifyWhiteout('.wh..wh.plnk'), { kind: 'whiteout', target: '.wh.plnk' });
    assert.deepEqual(classifyWhiteout('foo.wh.'), { kind: 'none' });
    invalid(() => classifyWhiteout('.wh.'));
    invalid(() => classifyWhiteout('.wh..'));
  });

  it('reads the declared compression of layer media types (containerd DiffCompression)', () => {
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar'), 'none');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar+gzip'), 'gzip');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd');
    assert.equal(declaredCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), 'gzip');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.diff.tar'), 'unknown');
    assert.equal(declaredCompression('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'), 'gzip');
    for (const mt of ['application/json', 'application/vnd.oci.image.layer.v1.tar+encrypted', 'application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted']) {
      assert.throws(() => declaredCompression(mt), (e) => codeOf(e) === Code.Unimplemented);
    }
  });

  it('detects compression by magic bytes', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0])), 'gzip');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])), 'zstd');
    assert.equal(detectCompression(Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 4, 0, 0, 0])), 'zstd');
    assert.equal(detectCompression(Buffer.from('usr/bin/')), 'none');
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
  });
});
