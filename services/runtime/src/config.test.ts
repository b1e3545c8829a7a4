import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { defaultConfig } from '@flotilla/config';
import { RUNTIME_PLUGIN, runtimeConfig } from './config.js';

test('runtime config: containerd layout under root and state, ttrpc address derived from grpc', () => {
  const cfg = defaultConfig();
  const rc = runtimeConfig(cfg);
  assert.equal(rc.stateDir, '/run/flotilla/io.containerd.runtime.v2.task');
  assert.equal(rc.rootDir, '/var/lib/flotilla/io.containerd.runtime.v2.task');
  assert.equal(rc.grpcAddress, '/run/flotilla/containerd.sock');
  assert.equal(rc.ttrpcAddress, '/run/flotilla/containerd.sock.ttrpc');
  assert.equal(rc.runcRoot, '/run/flotilla/runc', 'runc_root "" means <state>/runc');
  assert.equal(rc.shimDebug, false);
  assert.equal(rc.warmShims, 1);
  assert.ok(rc.publishBinary.startsWith('/'), rc.publishBinary);
  // Flotilla's shim (this checkout's launcher) runs io.containerd.runc.v2 unless configured otherwise.
  const shim = rc.runtimes['io.containerd.runc.v2'];
  assert.ok(shim?.endsWith('/bin/containerd-shim-flotilla-v2'), shim);
  assert.equal(rc.runtimes['io.containerd.flotilla.v2'], shim);
  assert.deepEqual(rc.timeouts, { load: 5000, cleanup: 5000, shutdown: 3000, state: 2000 });
});

test('runtime config: the typed plugin section is read', () => {
  const cfg = defaultConfig();
  cfg.state = '/srv/state';
  cfg.plugins[RUNTIME_PLUGIN] = {
    runtimes: { 'io.x.v1': '/opt/shim', 'io.containerd.runc.v2': '/usr/bin/containerd-shim-runc-v2' },
    runc_root: '',
    publish_binary: '/usr/local/bin/flotilla',
    shim_debug: true,
    warm_shims: 0,
  };
  const rc = runtimeConfig(cfg);
  assert.equal(rc.runtimes['io.x.v1'], '/opt/shim');
  assert.equal(rc.runtimes['io.containerd.runc.v2'], '/usr/bin/containerd-shim-runc-v2', 'config overrides the default');
  assert.ok(rc.runtimes['io.containerd.flotilla.v2']?.endsWith('/bin/containerd-shim-flotilla-v2'), 'the other default stays');
  assert.equal(rc.runcRoot, '/srv/state/runc');
  assert.equal(rc.publishBinary, '/usr/local/bin/flotilla');
  assert.equal(rc.shimDebug, true);
  assert.equal(rc.warmShims, 0);
  cfg.plugins[RUNTIME_PLUGIN].runc_root = '/run/containerd/runc';
  assert.equal(runtimeConfig(cfg).runcRoot, '/run/containerd/runc', "runc's own default root, written out");
});

test('runtime config: a missing section or missing keys take the defaults', () => {
  const cfg = defaultConfig();
  delete (cfg.plugins as Record<string, unknown>)[RUNTIME_PLUGIN];
  const rc = runtimeConfig(cfg);
  assert.equal(rc.runcRoot, '/run/flotilla/runc');
  assert.equal(rc.warmShims, 1);
  (cfg.plugins as Record<string, unknown>)[RUNTIME_PLUGIN] = { shim_debug: true };
  const partial = runtimeConfig(cfg);
  assert.equal(partial.shimDebug, true);
  assert.equal(partial.warmShims, 1);
  assert.deepEqual(partial.runtimes, rc.runtimes);
});

test('runtime config: values of the wrong type (a config not from loadConfig) are refused naming the key', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ runtimes: [] }, 'runtimes'],
    [{ runtimes: { a: 1 } }, 'runtimes."a"'],
    [{ shim_debug: 'yes' }, 'shim_debug'],
    [{ publish_binary: 3 }, 'publish_binary'],
    [{ warm_shims: '2' }, 'warm_shims'],
  ];
  for (const [section, key] of cases) {
    const cfg = defaultConfig();
    (cfg.plugins as Record<string, unknown>)[RUNTIME_PLUGIN] = section;
    assert.throws(
      () => runtimeConfig(cfg),
      (e: Error) => codeOf(e) === Code.InvalidArgument && e.message.includes(`plugins."io.containerd.runtime.v2.task".${key} `),
    );
  }
});
