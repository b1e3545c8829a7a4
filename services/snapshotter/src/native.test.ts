/** The native snapshotter's copy keeps everything a layer carries. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NativeSnapshotter } from './native/native.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-native-'));
const sn = new NativeSnapshotter({ root: join(dir, 'io.containerd.snapshotter.v1.native'), noSync: true });
after(async () => {
  await sn.close();
  rmSync(dir, { recursive: true, force: true });
});

const python = (code: string, ...args: string[]) => execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
const hasXattrTool = (() => {
  try {
    python('import os; os.getxattr');
    return true;
  } catch {
    return false;
  }
})();

test('native: prepare on a parent copies modes, owners, times, xattrs, links, devices and the root itself', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const [m] = await sn.prepare('layer');
  const p = m!.source;
  writeFileSync(join(p, 'file'), 'data');
  chmodSync(join(p, 'file'), 0o640);
  chownSync(join(p, 'file'), 1234, 5678);
  linkSync(join(p, 'file'), join(p, 'hard'));
  writeFileSync(join(p, 'suid'), '#!/bin/sh\n');
  chmodSync(join(p, 'suid'), 0o4755);
  mkdirSync(join(p, 'tmp'));
  chmodSync(join(p, 'tmp'), 0o1777);
  symlinkSync('file', join(p, 'link'));
  lchownSync(join(p, 'link'), 42, 43);
  execFileSync('mknod', [join(p, 'null'), 'c', '1', '3']);
  execFileSync('mknod', [join(p, 'fifo'), 'p']);
  const old = new Date('2001-02-03T04:05:06Z');
  utimesSync(join(p, 'file'), old, old);
  utimesSync(join(p, 'tmp'), old, old);
  chmodSync(p, 0o711);
  if (hasXattrTool) python('import os,sys; os.setxattr(sys.argv[1], "user.flotilla", b"yes")', join(p, 'file'));
  await sn.commit('layer-c', 'layer');

  const [c] = await sn.prepare('child', 'layer-c');
  const q = c!.source;
  assert.notEqual(q, p);
  for (const name of ['file', 'hard', 'suid', 'tmp', 'link', 'null', 'fifo']) {
    const a = lstatSync(join(p, name));
    const b = lstatSync(join(q, name));
    assert.equal(b.mode, a.mode, `${name} mode`);
    assert.equal(b.uid, a.uid, `${name} uid`);
    assert.equal(b.gid, a.gid, `${name} gid`);
    assert.equal(b.rdev, a.rdev, `${name} rdev`);
    if (!a.isSymbolicLink()) assert.equal(b.mtimeMs, a.mtimeMs, `${name} mtime`);
  }
  assert.equal(lstatSync(join(q, 'file')).ino, lstatSync(join(q, 'hard')).ino, 'hard link kept');
  assert.equal(lstatSync(join(q, 'file')).nlink, 2);
  assert.equal(readlinkSync(join(q, 'link')), 'file');
  assert.ok(lstatSync(join(q, 'null')).isCharacterDevice());
  assert.ok(lstatSync(join(q, 'fifo')).isFIFO());
  assert.equal(lstatSync(q).mode & 0o7777, 0o711, "the root's own mode is copied");
  if (hasXattrTool) assert.equal(python('import os,sys; print(os.getxattr(sys.argv[1], "user.flotilla").decode())', join(q, 'file')).trim(), 'yes');

  // The copy is independent of the parent.
  writeFileSync(join(q, 'file'), 'changed');
  assert.equal(execFileSync('cat', [join(p, 'file')], { encoding: 'utf8' }), 'data');
  // A view of the parent uses the parent's directory, read-only, and makes none of its own.
  const before = (await sn.recordedIds()).size;
  const v = await sn.view('v', 'layer-c');
  assert.deepEqual(v, [{ type: 'bind', source: p, options: ['rbind', 'ro'] }]);
  assert.equal((await sn.recordedIds()).size, before + 1);
});

test('native: a root snapshot is an empty 0755 directory whatever the umask', async () => {
  const old = process.umask(0o077);
  try {
    const [m] = await sn.prepare('root-mode');
    assert.equal(lstatSync(m!.source).mode & 0o7777, 0o755);
  } finally {
    process.umask(old);
  }
});
