import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { defaultConfig } from './defaults.js';
import { renderDefaultToml, renderToml } from './render.js';
import type { FlotillaConfig } from './types.js';

/** Parsed TOML with plain-object tables, so it can be compared strictly. */
const plain = (toml: string): unknown => JSON.parse(JSON.stringify(parse(toml)));

test('default TOML parses back to exactly defaultConfig()', () => {
  assert.deepEqual(plain(renderDefaultToml()), defaultConfig());
});

test('default TOML has a comment above every key', () => {
  const lines = renderDefaultToml().split('\n');
  lines.forEach((line, i) => {
    if (/^\s*[A-Za-z_"][^#]*=/.test(line)) {
      assert.match(lines[i - 1] ?? '', /^\s*#/, `no comment above line ${i + 1}: ${line}`);
    }
  });
});

test('renderToml round-trips a changed config with free-form plugin tables', () => {
  const cfg: FlotillaConfig = defaultConfig();
  cfg.root = '/data/flotilla';
  cfg.debug.level = 'trace';
  cfg.disabled_plugins = ['io.containerd.grpc.v1.cri'];
  cfg.bus.url = 'nats://10.0.0.1:4222';
  cfg.supervisor.services = ['metadata', 'gateway'];
  cfg.plugins['io.containerd.gc.v1.scheduler'].pause_threshold = 0.25;
  cfg.plugins['io.containerd.metadata.v1.lmdb'].no_sync = true;
  cfg.plugins['io.containerd.runtime.v2.task'] = {
    runtimes: { 'io.containerd.runc.v2': '/usr/bin/containerd-shim-runc-v2', runsc: '/opt/gvisor/runsc shim' },
    runc_root: '/run/containerd/runc',
    publish_binary: '/usr/local/bin/flotilla',
    shim_debug: true,
    warm_shims: 0,
  };
  cfg.plugins['io.containerd.grpc.v1.cri'] = {
    sandbox_image: 'registry.k8s.io/pause:3.10',
    enable_selinux: false,
    containerd: { default_runtime_name: 'runc', runtimes: { runc: { runtime_type: 'io.containerd.runc.v2' } } },
    registry: { mirrors: { 'docker.io': { endpoint: ['https://mirror.example'] } } },
  };
  cfg.plugins['io.containerd.snapshotter.v1.overlayfs'] = {};
  assert.deepEqual(plain(renderToml(cfg)), cfg);
});

test('renderToml of the defaults equals the default document without comments', () => {
  assert.deepEqual(plain(renderToml(defaultConfig())), plain(renderDefaultToml()));
  assert.doesNotMatch(renderToml(defaultConfig()), /#/);
});

test('runtimes renders as an inline table, quoting keys and values as TOML needs', () => {
  const cfg: FlotillaConfig = defaultConfig();
  assert.match(renderDefaultToml(), /^ {2}runtimes = \{\}$/m);
  assert.match(renderDefaultToml(), /^ {2}# runtimes = \{ "io\.containerd\.runc\.v2" = "\/usr\/bin\/containerd-shim-runc-v2" \}$/m);
  const runtimes: Record<string, string> = {
    'io.containerd.runc.v2': '/usr/bin/containerd-shim-runc-v2',
    bare_name: '/opt/shim',
    'with space': '/opt/a "quoted" \\ path',
    'ünïcode': '/opt/ü',
    '': '/opt/empty-name',
  };
  Object.defineProperty(runtimes, '__proto__', { value: '/opt/proto', enumerable: true, writable: true, configurable: true });
  cfg.plugins['io.containerd.runtime.v2.task'].runtimes = runtimes;
  const text = renderToml(cfg);
  assert.match(text, /^ {2}runtimes = \{ "io\.containerd\.runc\.v2" = "\/usr\/bin\/containerd-shim-runc-v2", bare_name = "\/opt\/shim", /m);
  assert.deepEqual(plain(text), cfg);
  assert.deepEqual(Object.keys((plain(text) as FlotillaConfig).plugins['io.containerd.runtime.v2.task'].runtimes), Object.keys(runtimes));
});
