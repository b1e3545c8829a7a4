/**
 * ARCHITECTURE §6: a layer can never write outside the snapshot. Every case runs against both target
 * kinds with a canary directory beside the target; after the apply (failed or not) nothing outside
 * the target may have changed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Code, codeOf } from '@flotilla/api';
import { applyLayer, Extractor, type ApplyTarget } from './apply.js';
import { TarParser } from './tar-reader.js';
import { treeManifest, compareManifests } from './tree-manifest.js';
import { TempDirs } from './test-fixtures.js';
import { rawTar, chunked, type RawEntry } from '@flotilla/testkit';
import { defaultNativeOps } from './native.js';
import { MediaTypeOciLayer } from './media-types.js';

const native = defaultNativeOps();
const kinds = ['dir', 'overlay-upper'] as const;

interface Case {
  name: string;
  entries: (canary: string) => RawEntry[];
  /** Expected error kind, or undefined when the layer applies (harmlessly, inside the target). */
  code?: Code;
  /** Extra checks inside the target after the apply. */
  check?: (target: string, canary: string) => void;
}

const cases: Case[] = [
  { name: '".." climbing out', entries: () => [{ name: '../canary/pwned', data: 'x' }], code: Code.InvalidArgument },
  { name: '".." after a component', entries: () => [{ name: 'a/../../canary/pwned', data: 'x' }], code: Code.InvalidArgument },
  { name: '".." in a PAX path', entries: () => [{ name: 'ok', data: 'x', pax: { path: 'd/../../../canary/pwned' } }], code: Code.InvalidArgument },
  { name: '".." in a GNU long name', entries: () => [{ name: 'ok', data: 'x', gnuLongName: `${'../'.repeat(40)}canary/pwned`, format: 'gnu' }], code: Code.InvalidArgument },
  { name: 'a NUL byte in a PAX path', entries: () => [{ name: 'ok', data: 'x', pax: { path: 'a\0b' } }], code: Code.InvalidArgument },
  {
    name: 'absolute name (rooted in the target)',
    entries: (canary) => [{ name: `${canary}/pwned`, data: 'x' }],
    check: (t, canary) => assert.equal(readFileSync(join(t, canary, 'pwned'), 'utf8'), 'x'),
  },
  {
    name: 'file written through an absolute symlink',
    entries: (canary) => [{ name: 'evil', type: '2', linkname: canary }, { name: 'evil/pwned', data: 'x' }],
    check: (t, canary) => {
      assert.equal(readlinkSync(join(t, 'evil')), canary);
      assert.equal(readFileSync(join(t, canary, 'pwned'), 'utf8'), 'x');
    },
  },
  {
    name: 'file written through a relative symlink that climbs',
    entries: () => [{ name: 'sub/evil', type: '2', linkname: '../../../../../../../canary' }, { name: 'sub/evil/pwned', data: 'x' }],
    check: (t) => assert.equal(readFileSync(join(t, 'canary/pwned'), 'utf8'), 'x'),
  },
  {
    name: 'a chain of symlinks',
    entries: () => [
      { name: 'a', type: '2', linkname: 'b' },
      { name: 'b', type: '2', linkname: '../..' },
      { name: 'a/canary/pwned', data: 'x' },
    ],
    check: (t) => assert.equal(readFileSync(join(t, 'canary/pwned'), 'utf8'), 'x'),
  },
  { name: 'a symlink loop', entries: () => [{ name: 'loop', type: '2', linkname: 'loop' }, { name: 'loop/x', data: 'x' }], code: Code.InvalidArgument },
  { name: 'hardlink to /etc/passwd', entries: () => [{ name: 'h', type: '1', linkname: '/etc/passwd' }], code: Code.InvalidArgument },
  { name: 'hardlink to ../../x', entries: () => [{ name: 'h', type: '1', linkname: '../../x' }], code: Code.InvalidArgument },
  { name: 'hardlink to the canary by absolute path', entries: (c) => [{ name: 'h', type: '1', linkname: `${c}/file` }], code: Code.InvalidArgument },
  {
    name: 'hardlink through a symlinked parent',
    entries: (c) => [{ name: 'evil', type: '2', linkname: c }, { name: 'h', type: '1', linkname: 'evil/file' }],
    code: Code.InvalidArgument,
  },
  { name: 'hardlink to a directory', entries: () => [{ name: 'd/', type: '5' }, { name: 'h', type: '1', linkname: 'd' }], code: Code.InvalidArgument },
  {
    name: 'hardlink to a symlink links the symlink itself',
    entries: (c) => [{ name: 'evil', type: '2', linkname: `${c}/file` }, { name: 'h', type: '1', linkname: 'evil' }],
    check: (t, c) => assert.equal(readlinkSync(join(t, 'h')), `${c}/file`),
  },
  {
    name: 'file replacing a symlink that points outside',
    entries: (c) => [{ name: 'evil', type: '2', linkname: `${c}/file` }, { name: 'evil', data: 'overwritten', mode: 0o777 }],
    check: (t) => assert.equal(readFileSync(join(t, 'evil'), 'utf8'), 'overwritten'),
  },
  {
    name: 'directory replacing a symlink that points outside',
    entries: (c) => [{ name: 'evil', type: '2', linkname: c }, { name: 'evil/', type: '5', mode: 0o777, uid: 99 }],
    check: (t) => assert.ok(lstatSync(join(t, 'evil')).isDirectory()),
  },
  {
    name: 'symlink entry with a mode, an owner and xattrs (nothing followed)',
    entries: (c) => [{ name: 'evil', type: '2', linkname: `${c}/file`, mode: 0o777, uid: 4242, pax: { 'SCHILY.xattr.user.evil': 'x' } }],
    check: (t) => assert.equal(lstatSync(join(t, 'evil')).uid, 4242),
  },
  {
    name: 'whiteout through a symlinked parent',
    entries: (c) => [{ name: 'evil', type: '2', linkname: c }, { name: 'evil/.wh.file' }],
  },
  {
    name: 'opaque marker through a symlinked parent',
    entries: (c) => [{ name: 'evil', type: '2', linkname: c }, { name: 'evil/.wh..wh..opq' }],
  },
  { name: 'whiteout named ".."', entries: () => [{ name: 'd/.wh..' }], code: Code.InvalidArgument },
  { name: 'whiteout with no name', entries: () => [{ name: 'd/.wh.' }], code: Code.InvalidArgument },
  {
    name: 'device and FIFO nodes stay inside',
    entries: (c) => [{ name: `${c}/null`, type: '3', devmajor: 1, devminor: 3 }, { name: '../fifo', type: '6' }],
    code: Code.InvalidArgument,
  },
];

describe('layer path safety', () => {
  const tmp = new TempDirs();
  after(() => tmp.cleanup());
  const hostPasswd = statSync('/etc/passwd');

  for (const kind of kinds) {
    for (const c of cases) {
      it(`${kind}: ${c.name} → ${c.code === undefined ? 'stays inside' : Code[c.code]}`, async () => {
        const base = tmp.dir('case');
        const lower = join(base, 'lower');
        const targetDir = join(base, 'target');
        const canary = join(base, 'canary');
        for (const d of [lower, targetDir, canary]) mkdirSync(d);
        writeFileSync(join(canary, 'file'), 'canary');
        native.lsetxattr(Buffer.from(join(canary, 'file')), 'user.canary', Buffer.from('1'));
        const outside = (): ReturnType<typeof treeManifest> => treeManifest(base).filter((e) => !e.path.startsWith('target/') && e.path !== 'target');
        const before = outside();
        const target: ApplyTarget = kind === 'dir' ? { kind, root: targetDir } : { kind, upper: targetDir, lowers: [lower] };
        const tar = rawTar(c.entries(canary));
        const p = applyLayer(chunked(tar, 512), target, { mediaType: MediaTypeOciLayer });
        if (c.code === undefined) {
          await p;
          c.check?.(targetDir, canary);
        } else {
          await assert.rejects(p, (e) => {
            assert.equal(codeOf(e), c.code, String(e));
            return true;
          });
        }
        assert.deepEqual(compareManifests(before, outside()), [], 'nothing outside the target changed');
        assert.equal(readFileSync(join(canary, 'file'), 'utf8'), 'canary');
        const st = statSync('/etc/passwd');
        assert.equal(st.nlink, hostPasswd.nlink);
        assert.equal(st.mtimeMs, hostPasswd.mtimeMs);
        assert.ok(!existsSync(join(base, 'pwned')) && !existsSync('/pwned'));
      });
    }
  }

  it('skips devices with a warning when not running as root (containerd rootless)', () => {
    const d = tmp.dir('rootless');
    const warnings: string[] = [];
    const ex = new Extractor({ kind: 'dir', root: d }, { log: { warn: (_o, m) => warnings.push(m) }, asRoot: false });
    const parser = new TarParser(ex);
    parser.write(rawTar([{ name: 'null', type: '3', devmajor: 1, devminor: 3 }, { name: 'fifo', type: '6' }, { name: 'f', data: 'f' }]));
    parser.end();
    ex.finish();
    assert.ok(!existsSync(join(d, 'null')));
    assert.ok(lstatSync(join(d, 'fifo')).isFIFO());
    assert.deepEqual(warnings, ['device ignored: not running as root']);
  });
});
