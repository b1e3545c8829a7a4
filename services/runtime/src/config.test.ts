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
  assert.equal(rc.runcRoot, '/run/flotilla/runc');
  // Flotilla's shim (this checkout's launcher) runs io.containerd.runc.v2 unless configured otherwise.
  const shim = rc.runtimes['io.containerd.runc.v2'];
  assert.ok(shim?.endsWith('/bin/containerd-shim-flotilla-v2'), shim);
  assert.equal(rc.runtimes['io.containerd.flotilla.v2'], shim);
  assert.deepEqual(rc.timeouts, { load: 5000, cleanup: 5000, shutdown: 3000, state: 2000 });
});

test('runtime config: plugin section is read and validated', () => {
  const cfg = defaultConfig();
  cfg.plugins[RUNTIME_PLUGIN] = { runtimes: { 'io.x.v1': '/opt/shim', 'io.containerd.runc.v2': '/usr/bin/containerd-shim-runc-v2' }, runc_root: '', shim_debug: true };
  const rc = runtimeConfig(cfg);
  assert.equal(rc.runtimes['io.x.v1'], '/opt/shim');
  assert.equal(rc.runtimes['io.containerd.runc.v2'], '/usr/bin/containerd-shim-runc-v2', 'config overrides the default');
  assert.equal(rc.runcRoot, '');
  assert.equal(rc.shimDebug, true);
  for (const bad of [{ runtimes: { a: 'relative' } }, { runtimes: [] }, { runc_root: 'rel' }, { shim_debug: 'yes' }, { publish_binary: 3 }]) {
    cfg.plugins[RUNTIME_PLUGIN] = bad;
    assert.throws(() => runtimeConfig(cfg), (e) => codeOf(e) === Code.InvalidArgument);
  }
});
