/** The snapshotter conformance suite on the overlayfs and native implementations, called directly. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalSnapshotter } from './local/local-snapshotter.js';
import { NativeSnapshotter } from './native/native.js';
import { OverlaySnapshotter, UPPERDIR_LABEL } from './overlay/overlay.js';
import { snapshotterSuite } from './testsuite.js';
import type { Info } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-snap-'));
const canMount = process.getuid?.() === 0;
const open = {
  overlayfs: (root: string) => new OverlaySnapshotter({ root, noSync: true }),
  native: (root: string) => new NativeSnapshotter({ root, noSync: true }),
};
const live: LocalSnapshotter[] = [];

for (const kind of ['overlayfs', 'native'] as const) {
  const root = join(dir, kind, `io.containerd.snapshotter.v1.${kind}`);
  let sn = open[kind](root);
  live.push(sn);
  snapshotterSuite(`${kind} direct`, {
    kind,
    root,
    scratch: join(dir, `${kind}-scratch`),
    canMount,
    sn: () => sn,
    recordedIds: () => sn.recordedIds(),
    restart: async () => {
      await sn.close();
      live.splice(live.indexOf(sn), 1);
      sn = open[kind](root);
      live.push(sn);
    },
  });
}

after(async () => {
  for (const sn of live) await sn.close();
  rmSync(dir, { recursive: true, force: true });
});

test('overlayfs: upperdir_label reports where each layer lives on Stat, Update and Walk', async () => {
  const root = join(dir, 'labelled', 'io.containerd.snapshotter.v1.overlayfs');
  const sn = new OverlaySnapshotter({ root, noSync: true, upperdirLabel: true });
  live.push(sn);
  const [m] = await sn.prepare('a', undefined, { own: '1' });
  assert.equal((await sn.stat('a')).labels[UPPERDIR_LABEL], m!.source);
  assert.equal((await sn.update({ name: 'a', labels: { x: 'y' } })).labels[UPPERDIR_LABEL], m!.source);
  const walked: Info[] = [];
  await sn.walk((i) => void walked.push(i));
  assert.deepEqual(walked[0]!.labels, { x: 'y', [UPPERDIR_LABEL]: m!.source });
  await sn.commit('c', 'a');
  assert.equal((await sn.stat('c')).labels[UPPERDIR_LABEL], m!.source, 'a committed layer keeps its directory');
});
