/** The tar writer against GNU tar (listing and extracting what we write), plus ordering rules. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { contentKey, generateContent } from './content.js';
import { sortEntries, tarBuffer, tarSize, withParentDirs, type TarEntry } from './tar.js';

const longName = 'n'.repeat(180) + '.txt';
const ustarSplit = `dir/${'p'.repeat(90)}/${'q'.repeat(90)}.txt`;

function sample(): TarEntry[] {
  return sortEntries(
    withParentDirs([
      { path: 'a/file', type: 'file', data: Buffer.from('hello\n'), mode: 0o4755 },
      { path: `a/${longName}`, type: 'file', data: Buffer.from('long\n') },
      { path: ustarSplit, type: 'file', data: Buffer.from('split\n') },
      { path: 'a/ünï-文件', type: 'file', data: Buffer.from('utf8\n') },
      { path: 'a/big-owner', type: 'file', uid: 3_000_000, gid: 4_000_000, data: Buffer.alloc(513, 7) },
      { path: 'a/link-long', type: 'symlink', linkname: longName },
      { path: 'a/0-hard', type: 'hardlink', linkname: 'a/file', mode: 0o4755 },
      { path: 'a/streamed', type: 'file', data: { size: 5, read: () => [Buffer.from('ab'), Buffer.from('cde')] } },
      { path: 'a/x', type: 'file', xattrs: { 'user.b': 'two', 'user.a': 'one' } },
      { path: 'a/fifo', type: 'fifo' },
      { path: 'a/sticky', type: 'dir', mode: 0o1777 },
    ]),
  );
}

describe('tar writer', () => {
  it('writes archives GNU tar lists and extracts exactly', async () => {
    const entries = sample();
    const tar = await tarBuffer(entries);
    assert.equal(tar.length % 512, 0);
    assert.equal(tar.length, tarSize(entries));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', '-'], { input: tar, encoding: 'utf8' });
    assert.match(listing, /^-rwsr-xr-x 0\/0 +6 2000-01-01 00:00 a\/file$/m);
    assert.match(listing, /^hrwsr-xr-x 0\/0 +0 2000-01-01 00:00 a\/0-hard link to a\/file$/m);
    assert.match(listing, /^-rw-r--r-- 3000000\/4000000 +513 /m);
    assert.match(listing, new RegExp(` a/${longName}$`, 'm'));
    assert.match(listing, new RegExp(` ${ustarSplit}$`, 'm'));
    assert.match(listing, / a\/link-long -> n{180}\.txt$/m);
    assert.match(listing, / a\/ünï-文件$/m);
    assert.match(listing, /^drwxrwxrwt .* a\/sticky\/$/m);
    assert.match(listing, /^prw-r--r-- .* a\/fifo$/m);
    // The hardlink is deferred until after its target, which sorts later.
    assert.ok(listing.indexOf(' a/file\n') < listing.indexOf(' a/0-hard '));

    const dir = mkdtempSync(join(tmpdir(), 'flotilla-tar-'));
    try {
      execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', '-', '-C', dir], { input: tar });
      assert.equal(readFileSync(join(dir, 'a/file'), 'utf8'), 'hello\n');
      assert.equal(readFileSync(join(dir, 'a/streamed'), 'utf8'), 'abcde');
      assert.equal(readFileSync(join(dir, `a/${longName}`), 'utf8'), 'long\n');
      assert.equal(readFileSync(join(dir, ustarSplit), 'utf8'), 'split\n');
      assert.equal(readlinkSync(join(dir, 'a/link-long')), longName);
      assert.equal(lstatSync(join(dir, 'a/0-hard')).ino, lstatSync(join(dir, 'a/file')).ino);
      assert.equal(lstatSync(join(dir, 'a/big-owner')).uid, 3_000_000);
      assert.equal(lstatSync(join(dir, 'a/big-owner')).gid, 4_000_000);
      const again = execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-cf', '-', '-C', dir, 'a/x']);
      assert.ok(again.includes(Buffer.from('SCHILY.xattr.user.a=one\n')));
      assert.ok(again.includes(Buffer.from('SCHILY.xattr.user.b=two\n')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is deterministic', async () => {
    assert.deepEqual(await tarBuffer(sample()), await tarBuffer(sample()));
  });

  it('rejects bad paths, duplicates, dangling hardlinks and lying data sizes', async () => {
    for (const path of ['/abs', 'a/../b', './a', 'a//b', 'a/', '']) {
      assert.throws(() => sortEntries([{ path, type: 'file' }]), /bad tar path/, path);
    }
    assert.throws(() => sortEntries([{ path: 'a', type: 'file' }, { path: 'a', type: 'dir' }]), /duplicate/);
    assert.throws(() => sortEntries([{ path: 'h', type: 'hardlink', linkname: 'missing' }]), /not in the archive/);
    await assert.rejects(tarBuffer([{ path: 'f', type: 'file', data: { size: 4, read: () => [Buffer.from('abc')] } }]), /3 bytes, declared 4/);
    await assert.rejects(tarBuffer([{ path: 'f', type: 'file', data: { size: 2, read: () => [Buffer.from('abc')] } }]), /longer/);
  });
});

describe('generated content', () => {
  it('does not depend on chunking: a shorter file is a prefix of a longer one', () => {
    const key = contentKey('t');
    const long = Buffer.concat([...generateContent(key, 'p', 3 * 1024 * 1024 + 5)]);
    const short = Buffer.concat([...generateContent(key, 'p', 1024 * 1024 + 4097)]);
    assert.deepEqual(long.subarray(0, short.length), short);
    assert.notDeepEqual(Buffer.concat([...generateContent(key, 'q', 100)]), long.subarray(0, 100));
    assert.notDeepEqual(Buffer.concat([...generateContent(contentKey('u'), 'p', 100)]), long.subarray(0, 100));
  });
});
