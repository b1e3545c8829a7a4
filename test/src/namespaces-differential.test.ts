/**
 * Differential tests of namespaces: the same ctr commands and gRPC calls against Debian's
 * containerd (the reference) and against Flotilla; exit codes, stdout and stderr (or gRPC status
 * codes and replies) must be identical.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ctr, startContainerd, startFlotilla, type ContainerdDaemon, type CtrResult, type FlotillaStack } from '@flotilla/testkit';
import { ApiClient } from './api-client.js';
import { startCtrEvents } from './ctr-events.js';

describe('namespaces: containerd vs Flotilla', () => {
  let containerd: ContainerdDaemon | undefined;
  let flotilla: FlotillaStack | undefined;
  let ref: ApiClient;
  let flo: ApiClient;

  before(
    async () => {
      [containerd, flotilla] = await Promise.all([startContainerd(), startFlotilla()]);
      ref = new ApiClient(containerd.address);
      flo = new ApiClient(flotilla.address);
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      ref?.close();
      flo?.close();
      await Promise.all([containerd?.stop(), flotilla?.stop()]);
    },
    { timeout: 30_000 },
  );

  /** Runs `args` on both; asserts containerd exits `expectCode` and Flotilla prints exactly the same. */
  async function same(args: string[], expectCode: number): Promise<CtrResult> {
    const want = await ctr(containerd!.address, args);
    const got = await ctr(flotilla!.address, args);
    assert.equal(want.code, expectCode, `reference containerd: ctr ${args.join(' ')} exited ${want.code}: ${want.stderr}`);
    assert.deepEqual(got, want, `ctr ${args.join(' ').slice(0, 80)}`);
    return want;
  }

  it('the ctr ns command sequence prints the same on both', { timeout: 90_000 }, async () => {
    await same(['ns', 'create', 'a'], 0);
    const dup = await same(['ns', 'create', 'a'], 1);
    assert.match(dup.stderr, /already exists/);
    await same(['ns', 'label', 'a', 'k=v'], 0);
    await same(['ns', 'label', 'a', 'k2=v2'], 0);
    await same(['ns', 'label', 'a', 'k='], 0); // removes k
    const ls = await same(['ns', 'ls'], 0);
    assert.match(ls.stdout, /^a\s+k2=v2\s*$/m);
    assert.doesNotMatch(ls.stdout, /k=v/);
    assert.equal((await same(['ns', 'ls', '-q'], 0)).stdout, 'a\n');
    assert.match((await same(['ns', 'create', 'A!'], 1)).stderr, /invalid argument/);
    assert.match((await same(['ns', 'create', 'b', `x=${'y'.repeat(5000)}`], 1)).stderr, /invalid argument/);
    assert.equal((await same(['ns', 'rm', 'a'], 0)).stdout, 'a\n');
    assert.equal((await same(['ns', 'rm', 'nope'], 0)).stdout, 'nope\n'); // ctr ignores NotFound
    await same(['ns', 'label', 'zz', 'q=1'], 0); // creates zz
    assert.match((await same(['ns', 'ls'], 0)).stdout, /^NAME\s+LABELS\s*\nzz\s+q=1\s*\n$/);
  });

  it.todo('ctr ns rm of a namespace that still holds objects (needs images)');

  // containerd's Delete answers NotFound for a name that is not a valid identifier, which ctr
  // ignores (exit 0); Flotilla validates the name first and answers InvalidArgument (exit 1).
  it('ctr ns rm of an invalid name prints the same on both', { timeout: 30_000 }, async () => {
    await same(['ns', 'rm', 'A!'], 0);
  });

  it('gRPC Get of a namespace that does not exist: OK with empty labels on both', { timeout: 30_000 }, async () => {
    const want = await ref.call(ref.namespaces, 'Get', { name: 'ghost' }, { namespace: 'default' });
    const got = await flo.call(flo.namespaces, 'Get', { name: 'ghost' }, { namespace: 'default' });
    assert.equal(want.code, 0, want.details);
    assert.deepEqual(got.value, want.value);
    assert.equal(got.code, 0, got.details);
    assert.deepEqual(got.value, { namespace: { name: 'ghost', labels: {} } });
  });

  it('gRPC Delete of a namespace that does not exist: same code (NotFound)', { timeout: 30_000 }, async () => {
    const want = await ref.call(ref.namespaces, 'Delete', { name: 'ghost' }, { namespace: 'default' });
    const got = await flo.call(flo.namespaces, 'Delete', { name: 'ghost' }, { namespace: 'default' });
    assert.equal(want.code, 5);
    assert.equal(got.code, want.code, got.details);
  });

  it('gRPC Update with field mask path "name": same code (InvalidArgument), nothing created', { timeout: 30_000 }, async () => {
    const req = { namespace: { name: 'renamed', labels: { a: '1' } }, update_mask: { paths: ['name'] } };
    const want = await ref.call(ref.namespaces, 'Update', req, { namespace: 'default' });
    const got = await flo.call(flo.namespaces, 'Update', req, { namespace: 'default' });
    assert.equal(want.code, 3);
    assert.equal(got.code, want.code, got.details);
    assert.equal((await flo.namespaceNames()).includes('renamed'), false);
    assert.equal((await ref.namespaceNames()).includes('renamed'), false);
  });

  it('gRPC Create with an empty name: same code (InvalidArgument)', { timeout: 30_000 }, async () => {
    const want = await ref.call(ref.namespaces, 'Create', { namespace: { name: '', labels: {} } }, { namespace: 'default' });
    const got = await flo.call(flo.namespaces, 'Create', { namespace: { name: '', labels: {} } }, { namespace: 'default' });
    assert.equal(want.code, 3);
    assert.equal(got.code, want.code, got.details);
    assert.deepEqual(await flo.namespaceNames(), await ref.namespaceNames());
  });

  // containerd answers Get("") (and any impossible name) with OK and an empty namespace.
  it('gRPC Get with an empty name: same code', { timeout: 30_000 }, async () => {
    const want = await ref.call(ref.namespaces, 'Get', { name: '' }, { namespace: 'default' });
    const got = await flo.call(flo.namespaces, 'Get', { name: '' }, { namespace: 'default' });
    assert.equal(got.code, want.code, got.details);
  });

  // containerd publishes /namespaces/create and /namespaces/update in the caller's namespace
  // (ctr's "default") and /namespaces/delete in the deleted one; `ctr events` shows it.
  it('ctr events shows the same lines for ns create, label, rm (timestamps aside)', { timeout: 60_000 }, async () => {
    const lines = async (address: string) => {
      const ev = startCtrEvents(address);
      try {
        // Until ctr events has subscribed, poke with label updates and wait for one to show.
        let seen = -1;
        for (let i = 0; seen < 0 && i < 100; i++) {
          assert.equal((await ctr(address, ['ns', 'label', 'warmup', `n=${i}`])).code, 0);
          seen = await ev.waitLine((l) => l.includes('/namespaces/update'), 200).then((l) => l.index, () => -1);
        }
        assert.ok(seen >= 0, 'ctr events never showed an event');
        await ev.waitLine(() => false, 300).catch(() => undefined); // let stray warm-up events arrive
        const from = ev.lines.length;
        for (const args of [['ns', 'create', 'evx'], ['ns', 'label', 'evx', 'a=b'], ['ns', 'rm', 'evx']]) assert.equal((await ctr(address, args)).code, 0);
        await ev.waitLine((l) => l.includes('/namespaces/delete'), 10_000, from);
        return ev.lines.slice(from).map((l) => l.text.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC /, '<time> '));
      } finally {
        await ev.stop();
      }
    };
    const want = await lines(containerd!.address);
    const got = await lines(flotilla!.address);
    assert.equal(want.length, 3, want.join('\n'));
    assert.deepEqual(got, want);
  });
});
