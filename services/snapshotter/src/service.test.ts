/** Configuration, plugin reports, overlay probing, and the snapshotter process end to end. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import { defaultConfig } from '@flotilla/config';
import { startNatsServer, writeCredentials } from '@flotilla/natsd';
import { SnapshotterClient } from './client.js';
import { NATIVE_PLUGIN, OVERLAYFS_PLUGIN, snapshotterConfig } from './config.js';
import { needsUserXattr, overlayListed, overlayUnsupportedReason, runningInUserNS } from './overlay/support.js';
import { snapshotterPlugins } from './plugins.js';

const HERE = dirname(fileURLToPath(import.meta.url));

test('config: defaults, containerd keys and validation', () => {
  const cfg = defaultConfig();
  const d = snapshotterConfig(cfg);
  assert.deepEqual(d.overlayfs, { root: '/var/lib/flotilla/io.containerd.snapshotter.v1.overlayfs', mapSizeMb: 256, noSync: false, upperdirLabel: false });
  assert.deepEqual(d.native, { root: '/var/lib/flotilla/io.containerd.snapshotter.v1.native', mapSizeMb: 256, noSync: false });
  cfg.plugins[OVERLAYFS_PLUGIN] = { root_path: '/srv/overlay', upperdir_label: true, no_sync: true, map_size_mb: 64 };
  cfg.plugins[NATIVE_PLUGIN] = { root_path: '' };
  const c = snapshotterConfig(cfg);
  assert.deepEqual(c.overlayfs, { root: '/srv/overlay', mapSizeMb: 64, noSync: true, upperdirLabel: true });
  assert.equal(c.native.root, '/var/lib/flotilla/io.containerd.snapshotter.v1.native');
  for (const bad of [{ root_path: 'relative' }, { map_size_mb: 0 }, { no_sync: 'yes' }, { upperdir_label: 1 }]) {
    const cfg2 = defaultConfig();
    cfg2.plugins[OVERLAYFS_PLUGIN] = bad;
    assert.throws(() => snapshotterConfig(cfg2), (e) => codeOf(e) === Code.InvalidArgument && /io\.containerd\.snapshotter\.v1\.overlayfs/.test((e as Error).message));
  }
});

test('plugins: overlayfs ok or skipped with its reason, native ok, differ ok', () => {
  const ok = snapshotterPlugins({ overlayfs: { root: '/r/o' }, native: { root: '/r/n' } });
  assert.deepEqual(ok.map((p) => `${p.type} ${p.id} ${p.status}`), [
    'io.containerd.snapshotter.v1 overlayfs ok',
    'io.containerd.snapshotter.v1 native ok',
    'io.containerd.differ.v1 walking ok',
  ]);
  assert.deepEqual(ok[0]!.exports, { root: '/r/o' });
  assert.match(ok[0]!.platforms![0]!, /^linux\//);
  assert.equal(ok[2]!.reason, undefined);
  const skipped = snapshotterPlugins({ overlayfs: { skip: 'no overlay here' }, native: { root: '/r/n' } });
  assert.equal(skipped[0]!.status, 'skip');
  assert.equal(skipped[0]!.reason, 'no overlay here');
});

test('overlay probing: a real mount with two lower dirs; a failing mount gives the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-probe-'));
  try {
    assert.equal(runningInUserNS(), false, 'tests run as the real root');
    assert.equal(needsUserXattr(dir), false, 'no userxattr outside a user namespace');
    if (overlayListed() && process.getuid?.() === 0) assert.equal(await overlayUnsupportedReason(join(dir, 'root')), undefined);
    const reason = await overlayUnsupportedReason(join(dir, 'root2'), async (file) => {
      if (file === 'mount') throw new Error('mount: permission denied');
    });
    if (overlayListed()) assert.match(reason!, /failed to mount overlay: mount: permission denied/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('process: main.ts reports its plugins and serves both backends; SIGTERM exits cleanly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-snapproc-'));
  const nats = await startNatsServer({ dir: join(dir, 'nats') });
  const creds = join(dir, 'credentials.json');
  writeCredentials(creds, nats.credentials);
  const cfg = defaultConfig();
  cfg.root = join(dir, 'root');
  cfg.state = join(dir, 'state');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'main.ts')], {
    env: { ...process.env, FLOTILLA_BUS_CREDENTIALS: creds, FLOTILLA_CONFIG_JSON: join(dir, 'config.json'), FLOTILLA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const c = nats.credentials;
  const bus = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'snap-proc-test', noWaitOnFirstConnect: true });
  try {
    let plugins: string[] = [];
    for (let i = 0; i < 100 && plugins.length === 0; i++) {
      const procs = (await bus.introspect(300, 100)).filter((p) => p.service === 'snapshotter');
      plugins = procs.flatMap((p) => p.plugins.map((x) => `${x.type} ${x.id} ${x.status}`));
      if (plugins.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const overlayOk = overlayListed() && process.getuid?.() === 0;
    assert.deepEqual(plugins, [
      `io.containerd.snapshotter.v1 overlayfs ${overlayOk ? 'ok' : 'skip'}`,
      'io.containerd.snapshotter.v1 native ok',
      'io.containerd.differ.v1 walking ok',
    ]);
    for (const name of overlayOk ? ['overlayfs', 'native'] : ['native']) {
      const sn = new SnapshotterClient(bus, name);
      const [m] = await sn.prepare('k');
      assert.ok(m!.source.startsWith(join(cfg.root, `io.containerd.snapshotter.v1.${name}`, 'snapshots')), m!.source);
      await sn.commit('c', 'k');
      assert.equal((await sn.stat('c')).kind, 'committed');
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await bus.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
