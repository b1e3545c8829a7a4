/**
 * Conformance suite of a Snapshotter, run against the overlayfs and native implementations directly
 * and through the bus client, so all are held to containerd's semantics. Tests that mount use
 * `mount(8)` for real (root only) and always unmount.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, linkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { Code, codeOf } from '@flotilla/api';
import type { Info, Mount, Snapshotter, SnapshotterName } from './types.js';

const run = promisify(execFile);

/** What the suite needs to know about the snapshotter under test. */
export interface SuiteTarget {
  /** The snapshotter under test (shared by all tests of the suite; keys are unique per test). */
  sn(): Snapshotter;
  /** Which backend it is. */
  kind: SnapshotterName;
  /** Its plugin root on this host (the suite inspects the layout). */
  root: string;
  /** Scratch space for mount points. */
  scratch: string;
  /** Closes the store and opens it again (a restart of the service). */
  restart?(): Promise<void>;
  /** Whether this process may mount (root). */
  canMount: boolean;
  /** Ids (directory names) the backend's metastore records, read on the serving side. */
  recordedIds(): Set<string>;
}

/** Asserts that `p` rejects with kind `code`. */
export async function rejectsWith(p: Promise<unknown>, code: Code, what = ''): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.equal(codeOf(err), code, `${what}: expected ${Code[code]}, got ${Code[codeOf(err)]}: ${(err as Error).message}`);
    return true;
  });
}

/** Mounts `mounts` (one mount, as both snapshotters return) on `target` with mount(8). */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  assert.equal(mounts.length, 1, 'one mount');
  const m = mounts[0]!;
  if (m.type === 'bind') await run('mount', ['-o', m.options.join(','), '--', m.source, target]);
  else await run('mount', ['-t', m.type, '-o', m.options.join(','), '--', m.source, target]);
}

/** Unmounts `target` (lazily if busy). */
export async function unmount(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch {
    await run('umount', ['-l', target]).catch(() => undefined);
  }
}

/** Runs `fn` with `mounts` mounted on a fresh directory under `scratch`, unmounting in all cases. */
export async function withMounts<T>(scratch: string, mounts: Mount[], fn: (dir: string) => Promise<T> | T): Promise<T> {
  mkdirSync(scratch, { recursive: true });
  const dir = mkdtempSync(join(scratch, 'mnt-'));
  await mountAll(mounts, dir);
  try {
    return await fn(dir);
  } finally {
    await unmount(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The value of `name=` in an overlay mount's options. */
export function overlayOption(m: Mount, name: string): string | undefined {
  const o = m.options.find((x) => x.startsWith(`${name}=`));
  return o === undefined ? undefined : o.slice(name.length + 1);
}

/** Every info of `sn` matching `filters`. */
export async function list(sn: Snapshotter, filters?: string[]): Promise<Info[]> {
  const out: Info[] = [];
  await sn.walk((i) => void out.push(i), filters);
  return out;
}

const read = (p: string) => readFileSync(p, 'utf8');

let counter = 0;

/** Registers the conformance tests for `t`. */
export function snapshotterSuite(label: string, t: SuiteTarget): void {
  const sd = join(t.root, 'snapshots');
  const mount = (c: TestContext) => {
    if (!t.canMount) c.skip('needs root to mount');
    return t.canMount;
  };
  /** Unique keys per test. */
  /** Bind options as containerd orders them: overlayfs `rw,rbind`, native `rbind,rw`. */
  const bindOpts = (mode: 'rw' | 'ro') => (t.kind === 'native' ? ['rbind', mode] : [mode, 'rbind']);
  const keys = () => {
    const p = `${label}-${++counter}-`;
    return (s: string) => p + s;
  };
  /** Directory names under snapshots/ that no record owns. */
  const orphans = async (): Promise<string[]> => {
    const ids = t.recordedIds();
    return readdirSync(sd).filter((n) => !ids.has(n));
  };
  const idsIn = (s: string): string[] => {
    const out: string[] = [];
    for (const m of s.matchAll(new RegExp(`${escapeRe(sd)}/([0-9]+)`, 'g'))) out.push(m[1]!);
    return out;
  };
  /** Where a fresh active snapshot writes (upperdir for overlay with parents, else the bind source). */
  const writable = (ms: Mount[]): string => (ms[0]!.type === 'overlay' ? overlayOption(ms[0]!, 'upperdir')! : ms[0]!.source);
  /** Builds a committed layer `name` on `parent` by running `apply` in the mounted active snapshot. */
  const layer = async (name: string, parent: string | undefined, apply: (dir: string) => void, labels?: Record<string, string>) => {
    const key = `${name}-active`;
    const ms = await t.sn().prepare(key, parent);
    await withMounts(t.scratch, ms, apply);
    await t.sn().commit(name, key, labels);
    return name;
  };

  test(`${label}: prepare, write through the mount, commit, a child sees the parent and writes to its own layer`, async (c) => {
    if (!mount(c)) return;
    const k = keys();
    const sn = t.sn();
    const m1 = await sn.prepare(k('base'), undefined, { gc: 'root' });
    assert.equal(m1.length, 1);
    assert.equal(m1[0]!.type, 'bind');
    assert.deepEqual(m1[0]!.options, bindOpts('rw'));
    const baseDir = m1[0]!.source;
    assert.match(baseDir, new RegExp(`^${escapeRe(sd)}/[0-9]+${t.kind === 'overlayfs' ? '/fs' : ''}$`));
    assert.deepEqual(await sn.mounts(k('base')), m1);
    await withMounts(t.scratch, m1, (d) => {
      writeFileSync(join(d, 'foo'), 'foo\n');
      mkdirSync(join(d, 'a/b'), { recursive: true });
      writeFileSync(join(d, 'a/b/c'), 'c\n');
      writeFileSync(join(d, 'del-me'), 'x');
    });
    assert.equal(read(join(baseDir, 'foo')), 'foo\n');
    await sn.commit(k('L1'), k('base'), { committed: 'yes' });
    const l1 = await sn.stat(k('L1'));
    assert.equal(l1.kind, 'committed');
    assert.equal(l1.parent, undefined);
    assert.deepEqual(l1.labels, { committed: 'yes' });
    await rejectsWith(sn.stat(k('base')), Code.NotFound, 'active key after commit');

    const m2 = await sn.prepare(k('child'), k('L1'));
    const childInfo = await sn.stat(k('child'));
    assert.equal(childInfo.kind, 'active');
    assert.equal(childInfo.parent, k('L1'));
    if (t.kind === 'overlayfs') {
      assert.equal(m2[0]!.type, 'overlay');
      assert.equal(m2[0]!.source, 'overlay');
      assert.equal(overlayOption(m2[0]!, 'lowerdir'), baseDir, 'lowerdir is the committed layer (same directory as while active)');
      const upper = overlayOption(m2[0]!, 'upperdir')!;
      assert.equal(overlayOption(m2[0]!, 'workdir'), join(dirname(upper), 'work'));
      if (existsSync('/sys/module/overlay/parameters/index')) assert.equal(m2[0]!.options[0], 'index=off');
      assert.ok(!m2[0]!.options.includes('userxattr'), 'no userxattr for the real root');
    } else {
      assert.deepEqual(m2[0]!.options, bindOpts('rw'));
      assert.notEqual(m2[0]!.source, baseDir);
    }
    await withMounts(t.scratch, m2, (d) => {
      assert.equal(read(join(d, 'foo')), 'foo\n', 'parent file visible');
      assert.equal(read(join(d, 'a/b/c')), 'c\n');
      writeFileSync(join(d, 'new'), 'new\n');
      writeFileSync(join(d, 'foo'), 'changed\n');
      unlinkSync(join(d, 'del-me'));
      assert.equal(existsSync(join(d, 'del-me')), false);
    });
    const upper = writable(m2);
    assert.equal(read(join(upper, 'new')), 'new\n', 'writes land in the child layer');
    assert.equal(read(join(upper, 'foo')), 'changed\n');
    if (t.kind === 'overlayfs') {
      const wh = lstatSync(join(upper, 'del-me'));
      assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'deletion recorded as an overlay whiteout');
    }
    assert.equal(read(join(baseDir, 'foo')), 'foo\n', 'parent layer untouched');
    assert.equal(existsSync(join(baseDir, 'new')), false);
    assert.equal(existsSync(join(baseDir, 'del-me')), true);
  });

  test(`${label}: parent chains of four layers, views of zero, one and several parents`, async (c) => {
    if (!mount(c)) return;
    const k = keys();
    const sn = t.sn();
    await layer(k('L1'), undefined, (d) => (writeFileSync(join(d, 'a'), '1'), writeFileSync(join(d, 'keep'), 'k')));
    await layer(k('L2'), k('L1'), (d) => (writeFileSync(join(d, 'b'), '2'), writeFileSync(join(d, 'a'), '2')));
    await layer(k('L3'), k('L2'), (d) => (writeFileSync(join(d, 'c'), '3'), unlinkSync(join(d, 'b'))));
    await layer(k('L4'), k('L3'), (d) => writeFileSync(join(d, 'd'), '4'));
    assert.equal((await sn.stat(k('L4'))).parent, k('L3'));
    assert.equal((await sn.stat(k('L3'))).parent, k('L2'));
    assert.equal((await sn.stat(k('L2'))).parent, k('L1'));

    const top = await sn.prepare(k('top'), k('L4'));
    if (t.kind === 'overlayfs') {
      const lowers = overlayOption(top[0]!, 'lowerdir')!.split(':');
      assert.equal(lowers.length, 4, 'lowerdir lists the whole chain');
      const views = await Promise.all([k('L4'), k('L3'), k('L2'), k('L1')].map(async (n, i) => {
        const ms = await sn.view(`${k('probe')}${i}`, n);
        return ms;
      }));
      // A view of one parent binds the parent's fs: the chain order is parent first.
      assert.equal(views[3]![0]!.source, lowers[3]);
      const oneParent = await sn.view(k('v1'), k('L1'));
      assert.deepEqual(oneParent, [{ type: 'bind', source: lowers[3], options: bindOpts('ro') }]);
    }
    await withMounts(t.scratch, top, (d) => {
      assert.equal(read(join(d, 'a')), '2');
      assert.equal(existsSync(join(d, 'b')), false, 'deleted in L3');
      assert.equal(read(join(d, 'c')), '3');
      assert.equal(read(join(d, 'd')), '4');
      assert.equal(read(join(d, 'keep')), 'k');
      writeFileSync(join(d, 'top'), 'rw');
    });

    const several = await sn.view(k('v-several'), k('L4'));
    assert.equal((await sn.stat(k('v-several'))).kind, 'view');
    assert.deepEqual(await sn.mounts(k('v-several')), several);
    if (t.kind === 'overlayfs') {
      assert.equal(several[0]!.type, 'overlay');
      assert.equal(overlayOption(several[0]!, 'upperdir'), undefined, 'no upper for a view');
      assert.equal(overlayOption(several[0]!, 'workdir'), undefined);
      assert.equal(overlayOption(several[0]!, 'lowerdir')!.split(':').length, 4);
    } else {
      assert.deepEqual(several[0]!.options, bindOpts('ro'));
    }
    await withMounts(t.scratch, several, (d) => {
      assert.equal(read(join(d, 'd')), '4');
      assert.equal(existsSync(join(d, 'top')), false, 'the view does not see the active child');
      assert.throws(() => writeFileSync(join(d, 'x'), 'x'), /EROFS/);
    });
    const single = await sn.view(k('v-single'), k('L1'));
    assert.deepEqual(single[0]!.options, bindOpts('ro'));
    await withMounts(t.scratch, single, (d) => {
      assert.equal(read(join(d, 'a')), '1');
      assert.throws(() => writeFileSync(join(d, 'x'), 'x'), /EROFS/);
    });
    const empty = await sn.view(k('v-empty'));
    assert.equal(empty[0]!.type, 'bind');
    assert.deepEqual(empty[0]!.options, bindOpts('ro'));
    await withMounts(t.scratch, empty, (d) => {
      assert.deepEqual(readdirSync(d), []);
      assert.throws(() => writeFileSync(join(d, 'x'), 'x'), /EROFS/);
    });
  });

  test(`${label}: error kinds`, async () => {
    const k = keys();
    const sn = t.sn();
    await sn.prepare(k('a'));
    await sn.commit(k('C'), k('a'));
    await sn.prepare(k('active'), k('C'));
    await sn.view(k('view'), k('C'));

    for (const [what, call] of [
      ['stat', () => sn.stat(k('missing'))],
      ['mounts', () => sn.mounts(k('missing'))],
      ['usage', () => sn.usage(k('missing'))],
      ['remove', () => sn.remove(k('missing'))],
      ['commit', () => sn.commit(k('n'), k('missing'))],
      ['update', () => sn.update({ name: k('missing'), labels: {} })],
      ['prepare on a missing parent', () => sn.prepare(k('p'), k('missing'))],
      ['view on a missing parent', () => sn.view(k('p'), k('missing'))],
    ] as const) await rejectsWith(call(), Code.NotFound, what);

    await rejectsWith(sn.prepare(k('active')), Code.AlreadyExists, 'prepare of an existing key');
    await rejectsWith(sn.prepare(k('active'), k('C')), Code.AlreadyExists, 'prepare of an existing key on a parent');
    await rejectsWith(sn.view(k('active'), k('C')), Code.AlreadyExists, 'view with an active key');
    await rejectsWith(sn.view(k('view'), k('C')), Code.AlreadyExists, 'view twice');
    await rejectsWith(sn.prepare(k('C')), Code.AlreadyExists, 'prepare with a committed name');

    await rejectsWith(sn.prepare(k('p'), k('active')), Code.InvalidArgument, 'parent is active');
    await rejectsWith(sn.prepare(k('p'), k('view')), Code.InvalidArgument, 'parent is a view');
    await rejectsWith(sn.prepare(''), Code.InvalidArgument, 'empty key');
    await rejectsWith(sn.prepare('x'.repeat(3000)), Code.InvalidArgument, 'key too long');
    await rejectsWith(sn.prepare(k('p'), undefined, { big: 'v'.repeat(5000) }), Code.InvalidArgument, 'label too big');

    await rejectsWith(sn.mounts(k('C')), Code.FailedPrecondition, 'mounts of a committed snapshot');
    await rejectsWith(sn.commit(k('n'), k('view')), Code.FailedPrecondition, 'commit of a view');
    await rejectsWith(sn.commit(k('n'), k('C')), Code.FailedPrecondition, 'commit of a committed snapshot');
    await rejectsWith(sn.commit(k('C'), k('active')), Code.AlreadyExists, 'commit onto an existing name');
    await rejectsWith(sn.commit(k('view'), k('active')), Code.AlreadyExists, 'commit onto an existing view key');
    await rejectsWith(sn.commit('', k('active')), Code.InvalidArgument, 'empty name');
    await rejectsWith(sn.remove(k('C')), Code.FailedPrecondition, 'remove with children');
    await rejectsWith(list(sn, ['kind==']), Code.InvalidArgument, 'bad filter');

    // Nothing above changed anything.
    assert.equal((await sn.stat(k('active'))).kind, 'active');
    assert.equal((await sn.stat(k('view'))).kind, 'view');
    await rejectsWith(sn.stat(k('p')), Code.NotFound, 'failed prepares left no record');
    assert.deepEqual(await orphans(), [], 'failed prepares left no directory');

    // Children of every kind hold the parent; once they are gone it can be removed.
    await sn.commit(k('C2'), k('active'));
    await rejectsWith(sn.remove(k('C')), Code.FailedPrecondition, 'committed child');
    await sn.remove(k('C2'));
    await rejectsWith(sn.remove(k('C')), Code.FailedPrecondition, 'view child');
    await sn.remove(k('view'));
    await sn.remove(k('C'));
    await rejectsWith(sn.stat(k('C')), Code.NotFound);
  });

  test(`${label}: commit replaces labels, resets times, frees the key and keeps the layer`, async () => {
    const k = keys();
    const sn = t.sn();
    await sn.prepare(k('a'), undefined, { inherited: 'no', x: '1' });
    const before = await sn.stat(k('a'));
    await new Promise((r) => setTimeout(r, 5));
    await sn.commit(k('C'), k('a'), { own: 'yes', empty: '' });
    const ci = await sn.stat(k('C'));
    assert.deepEqual(ci.labels, { own: 'yes' }, 'labels replaced, not inherited; empty values dropped');
    assert.ok(ci.created_at > before.created_at, 'created_at is the commit time (containerd CommitActive)');
    assert.equal(ci.created_at, ci.updated_at);
    await rejectsWith(sn.stat(k('a')), Code.NotFound);
    await sn.prepare(k('a'), k('C'));
    assert.equal((await sn.stat(k('a'))).parent, k('C'), 'the key is free again');
    await sn.commit(k('C-nolabels'), k('a'));
    assert.deepEqual((await sn.stat(k('C-nolabels'))).labels, {});
  });

  test(`${label}: keys and names are never paths`, async () => {
    const k = keys();
    const sn = t.sn();
    const outside = dirname(t.root);
    const before = readdirSync(outside).sort();
    const weird = ['../../escape', '..', '.', '/', '/etc/passwd', 'a/b/../../c', ' spaced key ', 'extract-1700000000000000000-Ab3x sha256:0123456789abcdef', 'nul\u0000byte', 'ünï/cödé'];
    let parent: string | undefined;
    for (const w of weird) {
      const key = k(`key`) + w;
      const name = k('name') + w;
      const full = [w, key];
      for (const f of full) {
        const ms = await sn.prepare(f, parent, { w: f });
        assert.match(ms[0]!.type === 'bind' ? ms[0]!.source : overlayOption(ms[0]!, 'upperdir')!, new RegExp(`^${escapeRe(sd)}/[0-9]+(/fs)?$`));
        assert.equal((await sn.stat(f)).name, f);
      }
      await sn.remove(w);
      await sn.commit(name, key);
      assert.equal((await sn.stat(name)).parent, parent);
      parent = name;
    }
    // The bare strings are free again and can be committed names too.
    await sn.prepare(k('last'), parent);
    await sn.commit('..', k('last'));
    assert.equal((await sn.stat('..')).parent, parent);
    const names = (await list(sn, [`name~=${JSON.stringify(`^${escapeRe(k('name'))}`)}`])).map((i) => i.name).sort();
    assert.deepEqual(names, weird.map((w) => k('name') + w).sort());
    for (const n of readdirSync(sd)) assert.match(n, /^[0-9]+$/, 'only numeric directories under snapshots/');
    assert.deepEqual(readdirSync(outside).sort(), before, 'nothing created beside the plugin root');
    assert.equal(existsSync(join(outside, 'escape')), false);
    await sn.remove('..');
  });

  test(`${label}: labels and updates with field masks`, async () => {
    const k = keys();
    const sn = t.sn();
    await sn.prepare(k('a'), undefined, { a: '1', b: '2', empty: '' });
    const s0 = await sn.stat(k('a'));
    assert.deepEqual(s0.labels, { a: '1', b: '2' });
    await new Promise((r) => setTimeout(r, 3));
    const u1 = await sn.update({ name: k('a'), labels: { a: 'x', c: 'ignored' } }, ['labels.a']);
    assert.deepEqual(u1.labels, { a: 'x', b: '2' });
    assert.equal(u1.kind, 'active');
    assert.equal(u1.name, k('a'));
    assert.equal(u1.created_at, s0.created_at);
    assert.ok(u1.updated_at > s0.updated_at);
    assert.deepEqual((await sn.update({ name: k('a'), labels: {} }, ['labels.b'])).labels, { a: 'x' }, 'absent value deletes');
    assert.deepEqual((await sn.update({ name: k('a'), labels: { 'dotted.key': 'v' } }, ['labels.dotted.key'])).labels, { a: 'x', 'dotted.key': 'v' });
    assert.deepEqual((await sn.update({ name: k('a'), labels: { y: '1' } }, ['labels'])).labels, { y: '1' }, '"labels" replaces all');
    assert.deepEqual((await sn.update({ name: k('a'), labels: { z: '9', e: '' } })).labels, { z: '9' }, 'no mask replaces all');
    for (const bad of ['name', 'kind', 'parent', 'created_at', 'labelsx']) {
      await rejectsWith(sn.update({ name: k('a'), labels: { q: '1' } }, ['labels.q', bad]), Code.InvalidArgument, bad);
    }
    await rejectsWith(sn.update({ name: k('a'), labels: { q: 'v'.repeat(5000) } }, ['labels.q']), Code.InvalidArgument, 'label size');
    assert.deepEqual((await sn.stat(k('a'))).labels, { z: '9' }, 'failed updates changed nothing');
    await sn.commit(k('C'), k('a'));
    assert.deepEqual((await sn.update({ name: k('C'), labels: { gc: 'root' } }, ['labels.gc'])).labels, { gc: 'root' }, 'committed snapshots take updates');
  });

  test(`${label}: walk with filters`, async () => {
    const k = keys();
    const sn = t.sn();
    const tag = k('tag');
    await sn.prepare(k('c1'), undefined, { suite: tag, role: 'base' });
    await sn.commit(k('C1'), k('c1'), { suite: tag, role: 'base' });
    await sn.prepare(k('c2'), k('C1'));
    await sn.commit(k('C2'), k('c2'), { suite: tag, role: 'mid', 'dotted.key': 'v' });
    await sn.prepare(k('A'), k('C2'), { suite: tag, role: '' });
    await sn.view(k('V'), k('C2'), { suite: tag });
    await sn.prepare(k('R'), undefined, { suite: tag });
    const names = async (...filters: string[]) => (await list(sn, filters)).map((i) => i.name).sort();
    const mine = `labels.suite==${JSON.stringify(tag)}`;
    assert.deepEqual(await names(mine), [k('A'), k('C1'), k('C2'), k('R'), k('V')].sort());
    assert.deepEqual(await names(`${mine},kind==committed`), [k('C1'), k('C2')]);
    assert.deepEqual(await names(`${mine},kind==view`), [k('V')]);
    assert.deepEqual(await names(`${mine},parent==${JSON.stringify(k('C2'))}`), [k('A'), k('V')]);
    assert.deepEqual(await names(`${mine},parent==""`), [k('C1'), k('R')].sort(), 'empty parent is present and equal to ""');
    assert.deepEqual(await names(`${mine},kind==view`, `${mine},kind==active`), [k('A'), k('R'), k('V')].sort(), 'several filters are OR');
    assert.deepEqual(await names(`${mine},labels."dotted.key"==v`), [k('C2')]);
    assert.deepEqual(await names(`${mine},labels.dotted.key==v`), [k('C2')]);
    assert.deepEqual(await names(`${mine},labels.role`), [k('C1'), k('C2')], 'presence of a label');
    assert.deepEqual(await names(`${mine},labels.role!=base`), [k('A'), k('C2'), k('R'), k('V')].sort());
    assert.deepEqual(await names(`${mine},name~=${JSON.stringify('[CV][0-9]?$')}`), [k('C1'), k('C2'), k('V')].sort());
    const all = await list(sn);
    assert.ok(all.length >= 5);
    const sorted = [...all.map((i) => i.name)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    assert.deepEqual(all.map((i) => i.name), sorted, 'walk is in key order');
    const c2 = all.find((i) => i.name === k('C2'))!;
    assert.deepEqual(c2, await sn.stat(k('C2')));
  });

  test(`${label}: usage of active, committed and view snapshots`, async (c) => {
    if (!mount(c)) return;
    const k = keys();
    const sn = t.sn();
    const MiB = 1024 * 1024;
    const ms = await sn.prepare(k('a'));
    const empty = await sn.usage(k('a'));
    assert.equal(empty.inodes, 1, 'an empty layer is one inode (its root)');
    await withMounts(t.scratch, ms, (d) => {
      writeFileSync(join(d, 'big'), randomBytes(MiB));
      mkdirSync(join(d, 'dir'));
      writeFileSync(join(d, 'dir/small'), 'x');
      linkSync(join(d, 'big'), join(d, 'dir/big-link'));
    });
    const u = await sn.usage(k('a'));
    assert.ok(u.size >= MiB, `size ${u.size} ≥ 1 MiB`);
    assert.ok(u.size < 2 * MiB, `hard link counted once (${u.size})`);
    assert.equal(u.inodes, 4, 'root, big (+link), dir, small');
    await sn.commit(k('C'), k('a'));
    assert.deepEqual(await sn.usage(k('C')), u, 'committed usage is the one measured at commit');
    await sn.view(k('v'), k('C'));
    assert.deepEqual(await sn.usage(k('v')), { size: 0, inodes: 0 }, 'views report no usage (none is stored)');
    await sn.prepare(k('child'), k('C'));
    const cu = await sn.usage(k('child'));
    if (t.kind === 'overlayfs') assert.equal(cu.inodes, 1, 'an overlay child starts with an empty upper');
    else assert.ok(cu.size >= MiB && cu.inodes === 4, 'a native child is a full copy');
  });

  test(`${label}: remove deletes record and directory, and the key can be used again`, async () => {
    const k = keys();
    const sn = t.sn();
    const ms = await sn.prepare(k('a'));
    const dir = t.kind === 'overlayfs' ? dirname(ms[0]!.source) : ms[0]!.source;
    assert.ok(existsSync(dir));
    await sn.remove(k('a'));
    assert.equal(existsSync(dir), false, 'directory removed with the record');
    await rejectsWith(sn.stat(k('a')), Code.NotFound);
    await rejectsWith(sn.remove(k('a')), Code.NotFound);
    const again = await sn.prepare(k('a'));
    assert.notEqual(again[0]!.source, ms[0]!.source, 'ids are never reused');
    await sn.remove(k('a'));
  });

  test(`${label}: cleanup removes orphan directories and nothing else`, async () => {
    const k = keys();
    const sn = t.sn();
    const live = await sn.prepare(k('live'));
    await sn.commit(k('C'), k('live'));
    const act = await sn.prepare(k('act'), k('C'));
    mkdirSync(join(sd, '99999999/fs'), { recursive: true });
    writeFileSync(join(sd, '99999999/fs/leftover'), 'x');
    mkdirSync(join(sd, 'new-123456'));
    await sn.cleanup();
    assert.equal(existsSync(join(sd, '99999999')), false);
    assert.equal(existsSync(join(sd, 'new-123456')), false);
    assert.ok(existsSync(live[0]!.source), 'committed layer kept');
    assert.ok(existsSync(writable(act)), 'active layer kept');
    assert.deepEqual(await sn.mounts(k('act')), act);
    assert.deepEqual(await orphans(), []);
  });

  test(`${label}: concurrent prepares of one key: one wins, nothing leaks`, async () => {
    const k = keys();
    const sn = t.sn();
    await sn.prepare(k('p'));
    await sn.commit(k('P'), k('p'));
    const results = await Promise.allSettled(Array.from({ length: 16 }, () => sn.prepare(k('same'), k('P'))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal(codeOf(r.reason), Code.AlreadyExists);
    const commits = await Promise.allSettled([sn.commit(k('X'), k('same')), sn.commit(k('Y'), k('same'))]);
    assert.equal(commits.filter((r) => r.status === 'fulfilled').length, 1, 'one of two racing commits wins');
    assert.deepEqual(await orphans(), []);
  });

  if (t.kind === 'overlayfs') {
    test(`${label}: a new layer takes the owner of its parent's layer`, async (c) => {
      if (!mount(c)) return;
      const k = keys();
      const sn = t.sn();
      const ms = await sn.prepare(k('a'));
      await run('chown', ['1234:5678', ms[0]!.source]);
      await sn.commit(k('C'), k('a'));
      const child = await sn.prepare(k('b'), k('C'));
      const st = lstatSync(overlayOption(child[0]!, 'upperdir')!);
      assert.equal(st.uid, 1234);
      assert.equal(st.gid, 5678);
      assert.equal(st.mode & 0o7777, 0o755);
      assert.equal(lstatSync(overlayOption(child[0]!, 'workdir')!).mode & 0o7777, 0o711);
    });
  }

  if (t.restart) {
    test(`${label}: everything survives a restart`, async () => {
      const k = keys();
      const sn0 = t.sn();
      await sn0.prepare(k('a'), undefined, { l: '1' });
      await sn0.commit(k('C1'), k('a'), { c: '1' });
      await sn0.prepare(k('b'), k('C1'));
      await sn0.commit(k('C2'), k('b'));
      const act = await sn0.prepare(k('act'), k('C2'), { x: 'y' });
      const view = await sn0.view(k('view'), k('C2'));
      const usageC1 = await sn0.usage(k('C1'));
      const before = await list(sn0);
      await t.restart!();
      const sn = t.sn();
      assert.deepEqual(await list(sn), before);
      assert.deepEqual(await sn.mounts(k('act')), act);
      assert.deepEqual(await sn.mounts(k('view')), view);
      assert.deepEqual(await sn.usage(k('C1')), usageC1);
      await rejectsWith(sn.remove(k('C2')), Code.FailedPrecondition, 'parent links survive');
      const fresh = await sn.prepare(k('fresh'));
      const id = (ms: Mount[]) => Number(idsIn(ms[0]!.type === 'bind' ? ms[0]!.source : overlayOption(ms[0]!, 'upperdir')!)[0]);
      const maxBefore = Math.max(...readdirSync(sd).filter((n) => n !== String(id(fresh))).map(Number));
      assert.ok(id(fresh) > maxBefore, 'ids continue after a restart');
    });
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
