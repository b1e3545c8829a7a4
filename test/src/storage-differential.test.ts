/**
 * Differential storage tests: the same ctr command sequence against Debian's containerd (the
 * reference) and against Flotilla — images, content, snapshots (overlayfs and native), containers,
 * leases, their error cases, and images exported by one and imported by the other. Exit codes,
 * stdout and stderr must be equal after normalising only what must differ: times and ages, sizes of
 * ingests in progress, random lease ids, the roots and temporary directories, snapshot directory
 * numbers and the ids inside backend snapshot keys, the order of labels (ctr prints Go maps),
 * and tabwriter padding where a normalised cell changed width.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  startContainerd,
  startFlotilla,
  waitFor,
  type ContainerdDaemon,
  type CtrResult,
  type FlotillaStack,
  type ImageRefs,
  type TestImage,
} from '@flotilla/testkit';
import { busyboxArchives, ctr, ctrBytes, ctrOk, LeasesApi, lines } from './storage-support.js';

const sha256 = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

interface Side {
  name: 'containerd' | 'flotilla';
  address: string;
  root: string;
}

/** Sorts the comma-separated `k=v` list that ends a line (ctr prints labels in Go map order). */
function sortTrailingLabels(line: string): string {
  const m = /^(.*?)(\S+=\S*)(\s*)$/.exec(line);
  if (!m || !m[2]!.includes('=')) return line;
  return m[1] + m[2]!.split(',').sort().join(',') + m[3];
}

/** Collapses the padding of a space-aligned table (for tables where a normalised cell changed width). */
const collapse = (s: string) => s.replace(/[ \t]+/g, ' ').replace(/ +\n/g, '\n');

describe('storage: containerd vs Flotilla, ctr outputs compared', () => {
  let containerd: ContainerdDaemon | undefined;
  let flotilla: FlotillaStack | undefined;
  let ref: Side;
  let flo: Side;
  let dir: string;
  let bb: TestImage;
  let bbd: TestImage;
  let refs: ImageRefs;
  let ociFile: string;
  let dockerFile: string;
  const apis: LeasesApi[] = [];

  /** Normalises what must differ between the two daemons. */
  function norm(s: string, side: Side): string {
    let t = s.split(side.root).join('<root>').split(dir).join('<dir>');
    t = t.replace(/time="[^"]*"/g, 'time="<time>"');
    t = t.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
    // Snapshot directories and the ids in backend keys (containerd: a sequence; Flotilla: random hex).
    t = t.replace(/(\/snapshots\/)\d+(?=\/|\s|$)/gm, '$1<n>');
    t = t.replace(/(["\s])(default|xfer)\/(?:\d+|[0-9a-f]{16})\//g, '$1$2/<id>/');
    return t;
  }

  const sides = () => [ref, flo] as const;

  /**
   * Runs `args` on containerd, then on Flotilla; asserts containerd exits `expectCode` and that
   * Flotilla's normalised result equals containerd's. `post` normalises further (both sides).
   */
  async function same(args: string[], expectCode: number, opts: { post?: (s: string) => string; namespace?: string; input?: string } = {}): Promise<CtrResult> {
    const run = async (side: Side) => {
      const r = await ctr(side.address, args, { namespace: opts.namespace, input: opts.input, timeoutMs: 60_000 });
      const p = opts.post ?? ((x: string) => x);
      return { code: r.code, stdout: p(norm(r.stdout, side)), stderr: p(norm(r.stderr, side)) };
    };
    const want = await run(ref);
    const got = await run(flo);
    assert.equal(want.code, expectCode, `reference containerd: ctr ${args.join(' ')} exited ${want.code}: ${want.stderr}`);
    assert.deepEqual(got, want, `ctr ${args.join(' ')}`);
    return want;
  }

  /** The labels of every line sorted. */
  const sortedLabels = (s: string) => s.split('\n').map(sortTrailingLabels).join('\n');
  /**
   * `content active` rows sorted: containerd lists ingests in directory order (hashed names), which is
   * no order a user can rely on, so the rows are compared as a set.
   */
  const sortedRows = (post: (s: string) => string) => (s: string) => {
    const [head, ...rows] = post(s).split('\n');
    const body = rows.filter((r) => r !== '').sort();
    return [head, ...body, ...(s.endsWith('\n') ? [''] : [])].join('\n');
  };
  /** `content ls`/`content active` rows: tab-separated cells, age (and for ingests the size) replaced. */
  const tabRows = (ageCol: number, sizeCol?: number) => (s: string) =>
    s
      .split('\n')
      .map((l, i) => {
        if (l === '') return l;
        const cells = l.split(/\t+/);
        if (i > 0) {
          if (cells.length > ageCol) cells[ageCol] = '<age>';
          if (sizeCol !== undefined && cells.length > sizeCol) cells[sizeCol] = '<size>';
          if (cells.length > 3) cells[3] = cells[3]!.split(',').sort().join(',');
        }
        return cells.join('\t');
      })
      .join('\n');

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'storage-diff-'));
      ({ bb, bbd, refs, ociFile, dockerFile } = await busyboxArchives(dir));
      [containerd, flotilla] = await Promise.all([startContainerd(), startFlotilla()]);
      ref = { name: 'containerd', address: containerd.address, root: join(containerd.dir, 'root') };
      flo = { name: 'flotilla', address: flotilla.address, root: flotilla.root };
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      for (const a of apis) a.close();
      await Promise.all([containerd?.stop(), flotilla?.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 40_000 },
  );

  it('images: import (OCI, Docker), ls, check, tag, label, rm and their errors print the same', { timeout: 60_000 }, async () => {
    await same(['images', 'import', ociFile], 0);
    await same(['images', 'import', dockerFile], 0);
    assert.match((await same(['images', 'ls'], 0)).stdout, new RegExp(`\\s${refs.manifestDigest}\\s`));
    await same(['images', 'ls', '-q'], 0);
    await same(['images', 'ls', `name==${bb.name}`], 0);
    assert.match((await same(['images', 'check'], 0)).stdout, /complete \(2\/2\)/);
    const v2 = 'flotilla.test/busybox:v2';
    await same(['images', 'tag', bb.name, v2], 0);
    await same(['images', 'tag', bb.name, v2], 1);
    await same(['images', 'tag', '--force', bbd.name, v2], 0);
    await same(['images', 'ls'], 0);
    await same(['images', 'tag', 'flotilla.test/missing:latest', 'flotilla.test/x:1'], 1);
    await same(['images', 'label', bb.name, 'a=b', 'c=d'], 0, { post: sortedLabels });
    await same(['images', 'ls'], 0, { post: sortedLabels });
    await same(['images', 'label', bb.name, 'c='], 0, { post: sortedLabels });
    await same(['images', 'label', 'flotilla.test/missing:latest', 'a=b'], 1);
    await same(['images', 'rm', '--sync', v2], 0);
    await same(['images', 'rm', '--sync', 'flotilla.test/missing:latest'], 0);
    await same(['images', 'ls'], 0, { post: sortedLabels });
    await same(['images', 'check'], 0);
  });

  it('content: ls, get, label, ingest, active, rm and their errors print the same', { timeout: 60_000 }, async () => {
    const ls = tabRows(2);
    await same(['content', 'ls'], 0, { post: ls });
    await same(['content', 'ls', '-q'], 0);
    await same(['content', 'get', refs.manifestDigest], 0);
    await same(['content', 'get', refs.configDigest], 0);
    await same(['content', 'label', refs.configDigest, 'x=y', 'z=1'], 0, { post: sortedLabels });
    await same(['content', 'ls', '-q', 'labels.x==y'], 0);
    await same(['content', 'label', refs.configDigest, 'x=', 'z='], 0, { post: sortedLabels });
    await same(['content', 'ls'], 0, { post: ls });

    // The same random bytes ingested on both, held by a lease so no GC takes them early.
    const data = randomBytes(300_000);
    const digest = sha256(data);
    await same(['leases', 'create', '--id', 'diff-keep', '--expires', '0'], 0);
    for (const side of sides()) {
      const api = new LeasesApi(side.address);
      apis.push(api);
      const add = await api.call('AddResource', { id: 'diff-keep', resource: { id: digest, type: 'content' } });
      assert.equal(add.code, 0, `${side.name}: ${add.details}`);
      const r = await ctrBytes(side.address, ['content', 'ingest', '--expected-digest', digest, '--expected-size', String(data.length), 'diff-ingest'], { input: data });
      assert.equal(r.code, 0, `${side.name}: ${r.stderr}`);
      const got = await ctrBytes(side.address, ['content', 'get', digest]);
      assert.ok(got.stdout.equals(data), `${side.name}: content get differs`);
    }
    await same(['content', 'label', digest, 'k=v'], 0);
    await same(['content', 'ls'], 0, { post: ls });
    // A wrong expected digest: refused the same way, the ingest stays active on both.
    await same(['content', 'ingest', '--expected-digest', sha256('other'), 'diff-wrong'], 1, { input: 'some bytes\n' });
    await same(['content', 'active'], 0, { post: sortedRows(tabRows(2)) });

    // An ingest in progress (its writer keeps stdin open); its blob held by the lease too.
    const partial = randomBytes(100_000);
    for (const [i, side] of sides().entries()) {
      const add = await apis[i]!.call('AddResource', { id: 'diff-keep', resource: { id: sha256(partial), type: 'content' } });
      assert.equal(add.code, 0, `${side.name}: ${add.details}`);
    }
    const writers = sides().map((side) => {
      const child = spawn('ctr', ['-a', side.address, 'content', 'ingest', 'diff-active'], { stdio: ['pipe', 'ignore', 'pipe'] });
      child.stdin.write(partial);
      return { side, child, closed: new Promise<number | null>((r) => child.once('close', (c) => r(c))) };
    });
    try {
      for (const w of writers) {
        await waitFor(`${w.side.name}: content active lists diff-active`, 15_000, async () => (await ctrOk(w.side.address, ['content', 'active'])).includes('diff-active\t'));
      }
      await same(['content', 'active'], 0, { post: sortedRows(tabRows(2, 1)) });
      await same(['content', 'active', 'ref==diff-active'], 0, { post: tabRows(2, 1) });
      for (const w of writers) w.child.stdin.end();
      for (const w of writers) assert.equal(await w.closed, 0, `${w.side.name}: ingest of diff-active failed`);
    } finally {
      for (const w of writers) w.child.kill('SIGKILL');
    }

    await same(['content', 'rm', digest], 0);
    await same(['content', 'rm', digest], 0);
    await same(['content', 'get', digest], 1);
    await same(['content', 'get', 'sha256:bad'], 1);
    await same(['content', 'get', 'nodigest'], 1);
    await same(['content', 'label', digest, 'a=b'], 1);
    await same(['content', 'ls', '-q'], 0);
    await same(['leases', 'rm', '--sync', 'diff-keep'], 0);
    await same(['content', 'ls', '-q'], 0);
  });

  it('snapshots (overlayfs): prepare, mounts, commit, view, ls, tree, info, label, usage, rm and their errors print the same', { timeout: 60_000 }, async () => {
    const target = join(dir, 'mnt-target');
    await same(['snapshots', 'prepare', 'd-base'], 0);
    await same(['snapshots', 'prepare', '--target', target, 'd-base2'], 0);
    await same(['snapshots', 'mounts', target, 'd-base'], 0);
    await same(['snapshots', 'commit', 'd-base-c', 'd-base'], 0);
    await same(['snapshots', 'prepare', 'd-child', 'd-base-c'], 0);
    await same(['snapshots', 'mounts', target, 'd-child'], 0);
    await same(['snapshots', 'prepare', 'd-img', refs.chainIds[0]!], 0);
    await same(['snapshots', 'mounts', target, 'd-img'], 0);
    await same(['snapshots', 'view', 'd-view', 'd-base-c'], 0);
    await same(['snapshots', 'label', 'd-view', 'containerd.io/gc.root=diff'], 0);
    await same(['snapshots', 'mounts', target, 'd-view'], 0);
    await same(['snapshots', 'commit', 'd-child-c', 'd-child'], 0);
    await same(['snapshots', 'view', 'd-view2', 'd-child-c'], 0);
    await same(['snapshots', 'label', 'd-view2', 'containerd.io/gc.root=diff'], 0);
    await same(['snapshots', 'mounts', target, 'd-view2'], 0);
    await same(['snapshots', 'ls'], 0);
    await same(['snapshots', 'tree'], 0);
    await same(['snapshots', 'info', 'd-base-c'], 0);
    await same(['snapshots', 'info', 'd-view'], 0);
    await same(['snapshots', 'info', refs.chainIds[0]!], 0);
    await same(['snapshots', 'label', 'd-child-c', 'a=b', 'c=d'], 0, { post: sortedLabels });
    await same(['snapshots', 'label', 'd-child-c', 'c='], 0, { post: sortedLabels });
    await same(['snapshots', 'info', 'd-child-c'], 0);
    await same(['snapshots', 'usage'], 0);
    await same(['snapshots', 'usage', 'd-base-c'], 0);
    // Errors.
    await same(['snapshots', 'prepare', 'd-base-c'], 1);
    await same(['snapshots', 'prepare', 'd-x', 'd-missing'], 1);
    await same(['snapshots', 'prepare', 'd-x', 'd-base2'], 1);
    await same(['snapshots', 'view', 'd-x', 'd-base2'], 1);
    await same(['snapshots', 'commit', 'd-x', 'd-view'], 1);
    await same(['snapshots', 'commit', 'd-base-c', 'd-missing'], 1);
    await same(['snapshots', 'commit', 'd-x', 'd-missing'], 1);
    await same(['snapshots', 'mounts', target, 'd-base-c'], 1);
    await same(['snapshots', 'mounts', target, 'd-missing'], 1);
    await same(['snapshots', 'info', 'd-missing'], 1);
    await same(['snapshots', 'info', ''], 1);
    await same(['snapshots', 'usage', 'd-missing'], 1);
    await same(['snapshots', 'label', 'd-missing', 'a=b'], 1);
    await same(['snapshots', 'rm', 'd-base-c'], 1);
    await same(['snapshots', 'rm', 'd-missing'], 1);
    await same(['snapshots', 'rm', refs.chainIds[0]!], 1);
    await same(['snapshots', 'rm', 'd-view2', 'd-child-c', 'd-view', 'd-base-c', 'd-base2', 'd-img'], 0);
    await same(['snapshots', 'ls'], 0);
    await same(['snapshots', 'tree'], 0);
  });

  it('snapshots (native): prepare, commit, view, ls, tree, info, usage, rm and their errors print the same', { timeout: 60_000 }, async () => {
    const n = (args: string[]) => ['snapshots', '--snapshotter', 'native', ...args];
    await same(n(['prepare', 'n-base']), 0);
    await same(n(['commit', 'n-base-c', 'n-base']), 0);
    await same(n(['prepare', 'n-child', 'n-base-c']), 0);
    await same(n(['view', 'n-view', 'n-base-c']), 0);
    await same(n(['label', 'n-view', 'containerd.io/gc.root=diff']), 0);
    await same(n(['ls']), 0);
    await same(n(['tree']), 0);
    await same(n(['info', 'n-view']), 0);
    await same(n(['usage']), 0);
    await same(n(['prepare', 'n-x', 'n-child']), 1);
    await same(n(['commit', 'n-x', 'n-base-c']), 1);
    // (Not compared: commit of a native view. containerd fails it with `lstat <root>/…/snapshots/<n>:
    // no such file or directory: unknown` as a view has no directory; Flotilla answers
    // FailedPrecondition "… is not active", as overlayfs does on both.)
    await same(n(['mounts', '/mnt', 'n-base-c']), 1);
    await same(n(['rm', 'n-base-c']), 1);
    await same(n(['rm', 'n-view', 'n-child', 'n-base-c']), 0);
    await same(n(['ls']), 0);
  });

  // ctr snapshots mounts prints the options of the native snapshotter's bind mount in containerd's
  // order: `rbind,rw` / `rbind,ro` (containerd 1.6 snapshots/native/native.go); Flotilla prints
  // `rw,rbind` / `ro,rbind` (services/snapshotter/src/native/native.ts).
  it('snapshots (native): mounts print the same', { timeout: 30_000 }, async () => {
    const n = (args: string[]) => ['snapshots', '--snapshotter', 'native', ...args];
    await same(n(['prepare', 'nm-base']), 0);
    try {
      await same(n(['commit', 'nm-base-c', 'nm-base']), 0);
      await same(n(['prepare', 'nm-child', 'nm-base-c']), 0);
      await same(n(['view', 'nm-view', 'nm-base-c']), 0);
      await same(n(['mounts', '/mnt', 'nm-child']), 0);
      await same(n(['mounts', '/mnt', 'nm-view']), 0);
    } finally {
      for (const side of sides()) await ctr(side.address, n(['rm', 'nm-view', 'nm-child', 'nm-base-c', 'nm-base']));
    }
  });

  it('containers: create, ls, info, label, rm and their errors print the same', { timeout: 60_000 }, async () => {
    await same(['containers', 'create', '--label', 'a=b', bb.name, 'c1'], 0);
    await same(['containers', 'create', '--snapshotter', 'native', bb.name, 'c-native'], 0);
    await same(['containers', 'ls'], 0);
    await same(['containers', 'ls', '-q'], 0);
    await same(['containers', 'ls', 'labels.a==b'], 0);
    const info = async (id: string) => {
      const [want, got] = await Promise.all(sides().map((s) => ctrOk(s.address, ['containers', 'info', id])));
      const strip = (s: string) => {
        const j = JSON.parse(s);
        assert.match(j.CreatedAt, /^\d{4}-\d\d-\d\dT/);
        assert.match(j.UpdatedAt, /^\d{4}-\d\d-\d\dT/);
        delete j.CreatedAt;
        delete j.UpdatedAt;
        return j;
      };
      assert.deepEqual(strip(got), strip(want), `containers info ${id}`);
    };
    await info('c1');
    await info('c-native');
    await same(['containers', 'info', '--spec', 'c1'], 0);
    await same(['containers', 'label', 'c1', 'x=y'], 0, { post: sortedLabels });
    await same(['containers', 'label', 'c1', 'x='], 0, { post: sortedLabels });
    await info('c1');
    await same(['snapshots', 'info', 'c1'], 0);
    await same(['snapshots', '--snapshotter', 'native', 'info', 'c-native'], 0);
    await same(['containers', 'create', bb.name, 'c1'], 1);
    await same(['containers', 'create', 'flotilla.test/missing:latest', 'c2'], 1);
    await same(['containers', 'info', 'c-missing'], 1);
    await same(['containers', 'label', 'c-missing', 'a=b'], 1);
    await same(['containers', 'rm', 'c1', 'c-native'], 0);
    await same(['containers', 'rm', 'c1'], 1);
    await same(['containers', 'ls'], 0);
    await same(['snapshots', 'ls'], 0);
    await same(['snapshots', '--snapshotter', 'native', 'ls'], 0);
  });

  it('leases: create, ls, rm and their errors print the same', { timeout: 30_000 }, async () => {
    await same(['leases', 'create', '--id', 'x'], 0);
    await same(['leases', 'create', '--id', 'x'], 1);
    await same(['leases', 'create', '--id', 'y', '--expires', '0', 'a=b', 'c=d'], 0);
    await same(['leases', 'create', '--id', 'z', '--expires', '1h'], 0);
    await same(['leases', 'ls'], 0, { post: sortedLabels });
    await same(['leases', 'ls', '-q'], 0);
    await same(['leases', 'ls', 'id==y'], 0, { post: sortedLabels });
    await same(['leases', 'rm', 'x', 'y'], 0);
    await same(['leases', 'rm', 'x'], 1);
    await same(['leases', 'rm', '--sync', 'z'], 0);
    // Without --id the server picks a random id: `<nanoseconds>-<4 base64url chars>` on both.
    const ids: string[] = [];
    for (const side of sides()) {
      const r = await ctr(side.address, ['leases', 'create']);
      assert.equal(r.code, 0, `${side.name}: ${r.stderr}`);
      assert.match(r.stdout, /^\d{1,9}-[A-Za-z0-9_-]{4}\n$/, side.name);
      ids.push(r.stdout.trim());
    }
    const randomId = (i: number) => (s: string) => collapse(s.split(ids[i]!).join('<id>'));
    const [want, got] = await Promise.all(sides().map((s, i) => ctr(s.address, ['leases', 'ls']).then((r) => ({ ...r, stdout: randomId(i)(norm(r.stdout, s)) }))));
    assert.deepEqual(got, want);
    for (const [i, side] of sides().entries()) assert.equal(await ctrOk(side.address, ['leases', 'rm', ids[i]!]), `${ids[i]}\n`);
    await same(['leases', 'ls'], 0);
  });

  it('error cases: rm of a missing image, container, snapshot, lease; bad digests; tag of a missing image', { timeout: 30_000 }, async () => {
    await same(['images', 'rm', 'flotilla.test/nope:latest'], 0);
    await same(['images', 'rm', 'flotilla.test/nope:latest', bb.name, 'flotilla.test/nope2:latest'], 0);
    await same(['images', 'import', ociFile], 0);
    await same(['containers', 'rm', 'nope'], 1);
    await same(['containers', 'rm', 'nope', 'nope2'], 1);
    await same(['snapshots', 'rm', 'nope'], 1);
    await same(['snapshots', '--snapshotter', 'native', 'rm', 'nope'], 1);
    await same(['leases', 'rm', 'nope'], 1);
    await same(['content', 'get', 'sha256:0123'], 1);
    await same(['content', 'get', `sha256:${'0'.repeat(64)}`], 1);
    await same(['content', 'rm', `sha256:${'0'.repeat(64)}`], 0);
    await same(['content', 'label', `sha256:${'0'.repeat(64)}`, 'a=b'], 1);
    await same(['images', 'tag', 'flotilla.test/nope:latest', 'flotilla.test/nope:v2'], 1);
    await same(['images', 'export', join(dir, 'nope.tar'), 'flotilla.test/nope:latest'], 1);
    await same(['images', 'check'], 0);
  });

  // containerd (go-digest) accepts sha384 and sha512 digests; Flotilla's validateDigest
  // (packages/api/src/digests.ts) only sha256 ("the only algorithm Flotilla stores"), so a lookup
  // answers InvalidArgument, not NotFound. A documented limitation: todo, not a failure.
  it('content get of a well-formed sha512 digest that is not there: NotFound on both', { timeout: 30_000, todo: 'Flotilla accepts sha256 digests only' }, async () => {
    await same(['content', 'get', `sha512:${'0'.repeat(128)}`], 1);
  });

  it('an image exported by Flotilla imports into containerd and the reverse, with identical blob digests', { timeout: 60_000 }, async () => {
    await same(['images', 'import', dockerFile], 0);
    const out = { containerd: join(dir, 'from-containerd.tar'), flotilla: join(dir, 'from-flotilla.tar') };
    for (const side of sides()) await ctrOk(side.address, ['images', 'export', out[side.name], bb.name, bbd.name]);
    // ctr writes the archive from the daemon's content, so equal content gives an equal archive —
    // except the order of manifest.json's entries, which ctr takes from a Go map (random per run).
    const entries = (f: string) => execFileSync('tar', ['-tvf', f], { encoding: 'utf8' });
    const member = (f: string, name: string) => execFileSync('tar', ['-xOf', f, name], { maxBuffer: 64 << 20 });
    assert.equal(entries(out.flotilla), entries(out.containerd));
    for (const name of lines(execFileSync('tar', ['-tf', out.containerd], { encoding: 'utf8' }))) {
      if (name.endsWith('/')) continue;
      if (name === 'manifest.json') {
        const sorted = (f: string) => (JSON.parse(member(f, name).toString('utf8')) as { RepoTags: string[] }[]).sort((a, b) => a.RepoTags[0]!.localeCompare(b.RepoTags[0]!));
        assert.deepEqual(sorted(out.flotilla), sorted(out.containerd));
      } else {
        assert.ok(member(out.flotilla, name).equals(member(out.containerd, name)), `${name} differs between the exports`);
      }
    }
    const dockerDigest = await digestOf(ref, bbd.name);
    assert.equal(await digestOf(flo, bbd.name), dockerDigest);
    const imported = await ctrOk(ref.address, ['images', 'import', out.flotilla], { namespace: 'xfer' });
    assert.deepEqual(lines(imported).sort(), [`unpacking ${bbd.name} (${dockerDigest})...done`, `unpacking ${bb.name} (${refs.manifestDigest})...done`].sort());
    assert.equal(await ctrOk(flo.address, ['images', 'import', out.containerd], { namespace: 'xfer' }), imported);
    await same(['images', 'ls'], 0, { namespace: 'xfer' });
    await same(['images', 'check'], 0, { namespace: 'xfer' });
    const digests = await same(['content', 'ls', '-q'], 0, { namespace: 'xfer' });
    const want = [refs.manifestDigest, refs.configDigest, ...refs.layerDigests, dockerDigest].sort();
    assert.deepEqual(lines(digests.stdout), want);
    await same(['content', 'ls'], 0, { namespace: 'xfer', post: tabRows(2) });
    await same(['snapshots', 'ls'], 0, { namespace: 'xfer' });
  });

  /** The manifest digest of image `name` in the default namespace of `side`. */
  async function digestOf(side: Side, name: string): Promise<string> {
    const row = lines(await ctrOk(side.address, ['images', 'ls'])).find((l) => l.startsWith(name + ' '));
    assert.ok(row, `${side.name}: no image ${name}`);
    return row.trim().split(/\s+/)[2]!;
  }

  // containerd runs a collection after `mutation_threshold` (default 100) database writes; Flotilla
  // reads and documents the key (packages/config/src/notes.ts) but its GC scheduler
  // (services/metadata/src/gc/scheduler.ts) only counts deletions — instead it runs a full
  // collection every expire_check_interval (30 s) whatever happened.
  it('100 writes without a deletion trigger a collection of unreferenced content on both', { timeout: 60_000 }, async () => {
    const data = randomBytes(1000);
    const digest = sha256(data);
    const present = async (side: Side) => lines(await ctrOk(side.address, ['content', 'ls', '-q'])).includes(digest);
    // A synchronous collection first resets both schedulers (containerd's write count, Flotilla's 30 s timer).
    await same(['leases', 'create', '--id', 'gc-reset'], 0);
    await same(['leases', 'rm', '--sync', 'gc-reset'], 0);
    for (const side of sides()) {
      const r = await ctrBytes(side.address, ['content', 'ingest', 'mutations-blob'], { input: data });
      assert.equal(r.code, 0, `${side.name}: ${r.stderr}`);
      assert.ok(await present(side), `${side.name}: the blob is not there right after its ingest`);
    }
    const ids = Array.from({ length: 110 }, (_, i) => `mutation-${i}`);
    const gone: Record<string, boolean> = {};
    try {
      for (const side of sides()) {
        const api = new LeasesApi(side.address);
        apis.push(api);
        for (const id of ids) {
          const r = await api.call('Create', { id, labels: {} });
          assert.equal(r.code, 0, `${side.name}: ${r.details}`);
        }
        gone[side.name] = await waitFor(`${side.name}: collection after 110 writes`, 5_000, async () => !(await present(side))).catch(() => false);
      }
    } finally {
      for (const side of sides()) await ctr(side.address, ['leases', 'rm', ...ids]);
    }
    assert.equal(gone.containerd, true, 'containerd kept the unreferenced blob after 110 writes');
    assert.equal(gone.flotilla, true, 'Flotilla kept the unreferenced blob after 110 writes (mutation_threshold is not implemented)');
  });
});
