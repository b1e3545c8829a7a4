/**
 * The snapshotter conformance suite through the bus client against a real nats-server, plus the
 * bus surface itself (backend selection, validation, List batches) and a throughput figure.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { SnapshotterClient } from './client.js';
import type { LocalSnapshotter } from './local/local-snapshotter.js';
import { NativeSnapshotter } from './native/native.js';
import { OverlaySnapshotter } from './overlay/overlay.js';
import { serveSnapshotter } from './server.js';
import { rejectsWith, snapshotterSuite } from './testsuite.js';
import { LIST_METHOD, SNAPSHOTTER_SERVICE, type ListBatch } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-snap-bus-'));
const canMount = process.getuid?.() === 0;
const roots = {
  overlayfs: join(dir, 'overlayfs', 'io.containerd.snapshotter.v1.overlayfs'),
  native: join(dir, 'native', 'io.containerd.snapshotter.v1.native'),
};
const open = () => ({ overlayfs: new OverlaySnapshotter({ root: roots.overlayfs }), native: new NativeSnapshotter({ root: roots.native }) });

let nats: NatsServer;
let server: Bus;
let client: Bus;
let backends: Record<'overlayfs' | 'native', LocalSnapshotter>;

const connect = (name: string) => {
  const c = nats.credentials;
  return Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name, noWaitOnFirstConnect: true });
};

before(async () => {
  nats = await startNatsServer({ dir: join(dir, 'nats') });
  server = await connect('snap-test-server');
  client = await connect('snap-test-client');
  backends = open();
  serveSnapshotter(server, backends);
  await server.nc.flush(); // the subscription is registered before the first call
});

after(async () => {
  await client.close();
  await server.close();
  await nats.stop();
  for (const b of Object.values(backends)) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stops serving, closes both stores, opens them again and serves on a new connection. */
async function restartServer(): Promise<void> {
  await server.close();
  for (const b of Object.values(backends)) await b.close();
  backends = open();
  server = await connect('snap-test-server-2');
  serveSnapshotter(server, backends);
  await server.nc.flush();
}

for (const kind of ['overlayfs', 'native'] as const) {
  let current: SnapshotterClient | undefined;
  snapshotterSuite(`${kind} bus`, {
    kind,
    root: roots[kind],
    scratch: join(dir, `${kind}-scratch`),
    canMount,
    sn: () => (current ??= new SnapshotterClient(client, kind, () => ({ timeoutMs: 30_000 }))),
    recordedIds: () => backends[kind].recordedIds(),
    restart: restartServer,
  });
}

test('bus: the backend is chosen by `snapshotter`; unknown or missing names are InvalidArgument', async () => {
  const call = (method: string, req: unknown) => client.call(SNAPSHOTTER_SERVICE, method, req);
  await assert.rejects(call('Stat', { snapshotter: 'zfs', key: 'x' }), (e: Error & { code?: number }) => {
    assert.equal(e.code, Code.InvalidArgument);
    assert.match(e.message, /snapshotter not loaded: zfs/);
    return true;
  });
  await assert.rejects(call('Prepare', { key: 'x' }), (e: Error & { code?: number }) => {
    assert.equal(e.code, Code.InvalidArgument);
    assert.match(e.message, /snapshotter argument missing/);
    return true;
  });
  await rejectsWith(call('Prepare', { snapshotter: '__proto__', key: 'x' }), Code.InvalidArgument, 'prototype names are not backends');
  await rejectsWith(call('Prepare', { snapshotter: 'native', key: 5 }), Code.InvalidArgument, 'key must be a string');
  await rejectsWith(call('Prepare', { snapshotter: 'native', key: 'x', labels: ['a'] }), Code.InvalidArgument, 'labels must be a map');
  await rejectsWith(call('Prepare', { snapshotter: 'native', key: 'x', labels: { a: 1 } }), Code.InvalidArgument, 'label values are strings');
  await rejectsWith(call('Update', { snapshotter: 'native', info: { name: 'x' }, update_mask: 'labels' }), Code.InvalidArgument, 'update_mask is a list');
  await rejectsWith(call('Update', { snapshotter: 'native' }), Code.InvalidArgument, 'info is required');
  await rejectsWith(call('Nope', { snapshotter: 'native' }), Code.Unimplemented, 'unknown method');
  await rejectsWith(client.collect(SNAPSHOTTER_SERVICE, LIST_METHOD, { snapshotter: 'zfs' }, { timeoutMs: 5000 }), Code.InvalidArgument, 'List on an unknown backend');
  await rejectsWith(client.collect(SNAPSHOTTER_SERVICE, LIST_METHOD, { snapshotter: 'native', filters: ['kind=='] }, { timeoutMs: 5000 }), Code.InvalidArgument, 'List with a bad filter');
  await rejectsWith(new SnapshotterClient(client, 'native').stat('never'), Code.NotFound);
});

test('bus: List streams batches of at most 100 infos', async () => {
  const sn = new SnapshotterClient(client, 'native');
  const n = 250;
  await Promise.all(Array.from({ length: n }, (_, i) => sn.view(`list-${String(i).padStart(3, '0')}`, undefined, { batch: 'yes' })));
  const batches = await client.collect<ListBatch>(SNAPSHOTTER_SERVICE, LIST_METHOD, { snapshotter: 'native', filters: ['labels.batch==yes'] }, { timeoutMs: 10_000 });
  assert.deepEqual(batches.map((b) => b.info.length), [100, 100, 50]);
  assert.deepEqual(
    batches.flatMap((b) => b.info.map((i) => i.name)),
    Array.from({ length: n }, (_, i) => `list-${String(i).padStart(3, '0')}`),
  );
  const first = batches[0]!.info[0]!;
  assert.deepEqual(Object.keys(first).sort(), ['created_at', 'kind', 'labels', 'name', 'updated_at']);
  assert.equal(typeof first.created_at, 'number');
  await Promise.all(Array.from({ length: n }, (_, i) => sn.remove(`list-${String(i).padStart(3, '0')}`)));
});

test('bus: Prepare+Commit throughput with 16 in flight (overlayfs, durable metastore)', async () => {
  const sn = new SnapshotterClient(client, 'overlayfs', () => ({ timeoutMs: 30_000 }));
  await sn.prepare('tp-base-a');
  await sn.commit('tp-base', 'tp-base-a');
  const inflight = 16;
  const ms = 3000;
  const t0 = Date.now();
  let done = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (Date.now() - t0 < ms) {
        const i = next++;
        await sn.prepare(`extract-${i} sha256:tp`, 'tp-base');
        await sn.commit(`tp-layer-${i}`, `extract-${i} sha256:tp`);
        done++;
      }
    }),
  );
  const secs = (Date.now() - t0) / 1000;
  const rate = done / secs;
  console.log(`snapshotter throughput: ${done} Prepare+Commit pairs in ${secs.toFixed(2)} s = ${rate.toFixed(0)} pairs/s (${(2 * rate).toFixed(0)} calls/s), 16 in flight over the bus, overlayfs, fsync on`);
  assert.ok(done > 0);
  const t1 = Date.now();
  await Promise.all(Array.from({ length: done }, (_, i) => sn.remove(`tp-layer-${i}`)));
  console.log(`snapshotter remove: ${done} in ${((Date.now() - t1) / 1000).toFixed(2)} s`);
});
