import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { FakeSys } from './fake.js';
import { mountAll, mountRecord, parseMountOptions, unmount, unmountAll } from './mount.js';
import { nativeLoadError } from './native.js';
import { MNT, MS } from './sys.js';

test('parseMountOptions follows containerd: flags set and cleared in order, the rest is data', () => {
  assert.deepEqual(parseMountOptions(['ro', 'rbind']), { flags: MS.RDONLY | MS.BIND | MS.REC, data: '' });
  assert.deepEqual(parseMountOptions(['bind', 'ro', 'rw', 'nosuid', 'nodev']), {
    flags: MS.BIND | MS.NOSUID | MS.NODEV,
    data: '',
  });
  assert.deepEqual(
    parseMountOptions(['index=off', 'workdir=/w', 'upperdir=/u', 'lowerdir=/l1:/l2', 'noatime']),
    { flags: MS.NOATIME, data: 'index=off,workdir=/w,upperdir=/u,lowerdir=/l1:/l2' },
  );
  assert.deepEqual(parseMountOptions(['size=64k', 'mode=755', 'noexec', 'exec', 'defaults']), {
    flags: 0,
    data: 'size=64k,mode=755,defaults', // containerd passes "defaults" (flag 0) on as data too
  });
});

describe('mountRecord over FakeSys', () => {
  test('a read-only bind is mounted, then remounted read-only', () => {
    const sys = new FakeSys();
    mountRecord({ type: 'bind', source: '/src', options: ['rbind', 'ro'] }, '/dst', sys);
    assert.deepEqual(
      sys.mountCalls.map((c) => [c.source, c.fstype, c.flags, c.data]),
      [
        ['/src', 'bind', MS.BIND | MS.REC | MS.RDONLY, ''],
        ['', '', MS.BIND | MS.REC | MS.RDONLY | MS.REMOUNT, ''],
      ],
    );
  });

  test('options over a page are refused; mountAll undoes its mounts on failure', async () => {
    const sys = new FakeSys();
    const long = { type: 'overlay', source: 'overlay', options: [`lowerdir=${'/x'.repeat(2100)}`] };
    assert.throws(() => mountRecord(long, '/t', sys), (e) => codeOf(e) === Code.InvalidArgument);
    await assert.rejects(mountAll([{ type: 'tmpfs', source: 'tmpfs', options: [] }, long], '/t', sys));
    assert.equal(sys.mounts.has('/t'), false);
  });

  test('unmountAll pops every stacked mount and stops at "not a mount point"', async () => {
    const sys = new FakeSys();
    await mountAll(
      [
        { type: 'tmpfs', source: 'a', options: [] },
        { type: 'tmpfs', source: 'b', options: [] },
      ],
      '/t',
      sys,
    );
    assert.equal(sys.mounts.get('/t')?.length, 2);
    await unmountAll('/t', 0, sys);
    assert.equal(sys.mounts.has('/t'), false);
    await unmount('/t', 0, sys); // EINVAL is "already unmounted"
  });
});

/** The mount entry for `target` in /proc/self/mountinfo: [fstype, mount options]. */
function mountinfo(target: string): { fstype: string; options: string } | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[4] !== target) continue;
    const sep = f.indexOf('-');
    return { fstype: f[sep + 1]!, options: f[5]! };
  }
  return undefined;
}

describe('mounts on the real system', { skip: nativeLoadError() !== undefined || process.getuid?.() !== 0 }, () => {
  test('tmpfs, an overlay on it, and a read-only bind, all unmounted again', async () => {
    const base = mkdtempSync(join(tmpdir(), 'sys-mount-'));
    const tmp = join(base, 'tmp');
    const merged = join(base, 'merged');
    const ro = join(base, 'ro');
    for (const d of [tmp, merged, ro]) mkdirSync(d);
    try {
      await mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'size=4m', 'mode=755'] }], tmp);
      assert.equal(mountinfo(tmp)?.fstype, 'tmpfs');
      for (const d of ['lower', 'upper', 'work']) mkdirSync(join(tmp, d));
      writeFileSync(join(tmp, 'lower/from-lower'), 'L');

      const overlay = {
        type: 'overlay',
        source: 'overlay',
        options: [`workdir=${tmp}/work`, `upperdir=${tmp}/upper`, `lowerdir=${tmp}/lower`],
      };
      await mountAll([overlay], merged);
      assert.equal(mountinfo(merged)?.fstype, 'overlay');
      assert.equal(readFileSync(join(merged, 'from-lower'), 'utf8'), 'L');
      writeFileSync(join(merged, 'new'), 'U');
      assert.equal(readFileSync(join(tmp, 'upper/new'), 'utf8'), 'U', 'writes land in upperdir');

      mountRecord({ type: 'bind', source: merged, options: ['rbind', 'ro'] }, ro);
      assert.match(mountinfo(ro)!.options, /^ro\b/);
      assert.throws(() => writeFileSync(join(ro, 'x'), 'x'), { code: 'EROFS' });

      await unmountAll(ro);
      await unmountAll(merged);
      await unmountAll(tmp);
      for (const d of [ro, merged, tmp]) assert.equal(mountinfo(d), undefined);
    } finally {
      for (const d of [ro, merged, tmp]) await unmountAll(d, MNT.DETACH).catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  });
});
