/**
 * Snapshots Prepare + Commit pairs on overlayfs, 16 pairs in flight: Prepare(active key, parent =
 * a committed base snapshot made by setup) then Commit(name, key), as unpacking a layer does
 * (without applying a diff). Like every containerd client, the calls carry a lease (one per round,
 * created untimed), else the daemon's GC may collect an active snapshot between its Prepare and its
 * Commit. Keys are unique per round; every round's snapshots are removed (children first) after
 * it and its lease deleted; the base and its lease go in teardown.
 */
import { runCount } from '../load.js';
import { simple } from '../types.js';
import { SNAPSHOTTER, removeSnapshots, snapshotDirs, waitSnapshotDirs } from './snapshots.js';
import { IN_FLIGHT, flushDisk, uniqueName } from './util.js';

const PAIRS = 1000;
const WARMUP = 20;
const baseOf = (runId: string) => `b${runId}-snap-base`;
const leaseOf = (runId: string, round: number | string) => `b${runId}-snap-lease-${round}`;

export default simple({
  name: 'snapshots.prepare-commit',
  description:
    `Snapshots.Prepare(key, parent = a committed base) + Snapshots.Commit(name, key) pairs on ${SNAPSHOTTER}, ${IN_FLIGHT} pairs in flight, ` +
    `${PAIRS} (--quick 100) pairs after ${WARMUP} warm-up ones; pairs/s. Removed (children first) after each round.`,
  unit: 'pairs/s',
  better: 'higher',
  async setup(t, { runId }) {
    const base = baseOf(runId);
    const lease = leaseOf(runId, 'base');
    await t.clients.createLease(lease);
    await t.clients.prepareSnapshot(SNAPSHOTTER, `${base}-active`, '', lease);
    await t.clients.commitSnapshot(SNAPSHOTTER, base, `${base}-active`, lease);
  },
  async teardown(t, { runId }) {
    const base = baseOf(runId);
    const mine = (await t.clients.listSnapshots(SNAPSHOTTER)).filter((i) => i.name.startsWith(`b${runId}-snap`));
    await removeSnapshots(t, mine.length > 0 ? mine : [{ name: base, parent: '', kind: 3 }]);
    await t.clients.deleteLease(leaseOf(runId, 'base'), true).catch(() => undefined);
  },
  async run(t, { quick, round, runId, measure, note }) {
    const base = baseOf(runId);
    const n = quick ? 100 : PAIRS;
    const dirs = snapshotDirs(t);
    const lease = leaseOf(runId, round);
    await t.clients.createLease(lease);
    const pair = (tag: string | number) => async () => {
      const name = uniqueName(runId, 'snap', round, tag);
      await t.clients.prepareSnapshot(SNAPSHOTTER, `${name}-active`, base, lease);
      await t.clients.commitSnapshot(SNAPSHOTTER, name, `${name}-active`, lease);
    };
    try {
      await runCount(WARMUP, IN_FLIGHT, (i) => pair(`w${i}`)());
      const r = await measure('prepare+commit', () => runCount(n, IN_FLIGHT, (i) => pair(i)()));
      return r.opsPerSecond;
    } finally {
      const prefix = uniqueName(runId, 'snap', round, '');
      const mine = (await t.clients.listSnapshots(SNAPSHOTTER)).filter((i) => i.name.startsWith(prefix));
      await removeSnapshots(t, mine);
      await t.clients.deleteLease(lease, true);
      await waitSnapshotDirs(t, dirs, note);
      flushDisk();
    }
  },
});
