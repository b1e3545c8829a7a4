import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defaultConfig } from './defaults.js';
import { runcRoot, ttrpcAddress } from './derived.js';
import { loadConfig, type LoadOptions } from './load.js';
import { renderDefaultToml, renderToml } from './render.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const noDefault = join(dir, 'absent-default.toml');
let n = 0;

/** Writes `toml` to a fresh file in the temp dir and returns its path. */
function file(toml: string): string {
  const path = join(dir, `config-${n++}.toml`);
  writeFileSync(path, toml);
  return path;
}

const load = (opts: LoadOptions) => loadConfig({ defaultFile: noDefault, ...opts });

/** Asserts that loading `toml` throws code 3 with a message naming `key` (and matching `extra`). */
function assertInvalid(toml: string, key: string, extra?: RegExp): void {
  assert.throws(
    () => load({ file: file(toml) }),
    (err: Error & { code?: number }) => {
      assert.equal(err.code, 3);
      assert.ok(err.message.startsWith(`invalid config: ${key} `), err.message);
      if (extra) assert.match(err.message, extra);
      return true;
    },
  );
}

test('no file: defaults, no warnings', () => {
  const r = load({});
  assert.deepEqual(r.config, defaultConfig());
  assert.deepEqual(r.warnings, []);
  assert.equal(r.file, undefined);
});

test('the default path is read when it exists', () => {
  const path = file('[debug]\nlevel = "debug"\n');
  const r = loadConfig({ defaultFile: path });
  assert.equal(r.config.debug.level, 'debug');
  assert.equal(r.file, path);
});

test('default TOML loads to exactly defaultConfig() without warnings', () => {
  const r = load({ file: file(renderDefaultToml()) });
  assert.deepEqual(r.config, defaultConfig());
  assert.deepEqual(r.warnings, []);
});

test('dump round-trips through loadConfig', () => {
  const src = [
    'version = 2',
    'root = "/srv/flotilla"',
    'required_plugins = ["io.containerd.metadata.v1.lmdb"]',
    '[grpc]',
    'address = "/tmp/f.sock"',
    '[bus]',
    'port = 4333',
    '[plugins."io.containerd.gc.v1.scheduler"]',
    'startup_delay = "1m"',
    '[plugins."io.containerd.runtime.v2.task"]',
    'runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2", "io.x.v1" = "/opt/x" }',
    'warm_shims = 4',
    '[plugins."io.containerd.grpc.v1.cri"]',
    'sandbox_image = "pause:3.10"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    'runtime_type = "io.containerd.runc.v2"',
    'options = { SystemdCgroup = true }',
  ].join('\n');
  const first = load({ file: file(src) });
  assert.deepEqual(first.warnings, []);
  const second = load({ file: file(renderToml(first.config)) });
  assert.deepEqual(second.config, first.config);
  assert.deepEqual(second.warnings, []);
  assert.equal(first.config.root, '/srv/flotilla');
  assert.deepEqual(first.config.plugins['io.containerd.runtime.v2.task'], {
    ...defaultConfig().plugins['io.containerd.runtime.v2.task'],
    runtimes: { 'io.containerd.runc.v2': '/usr/bin/containerd-shim-runc-v2', 'io.x.v1': '/opt/x' },
    warm_shims: 4,
  });
  assert.deepEqual(first.config.plugins['io.containerd.grpc.v1.cri'], {
    sandbox_image: 'pause:3.10',
    containerd: { runtimes: { runc: { runtime_type: 'io.containerd.runc.v2', options: { SystemdCgroup: true } } } },
  });
});

test('file values merge onto defaults; overrides win over the file', () => {
  const path = file('[grpc]\naddress = "/file.sock"\nuid = 7\n[debug]\nlevel = "warn"\n');
  const r = load({ file: path, overrides: { grpc: { address: '/flag.sock' }, bus: { url: 'nats://h:4222' } } });
  assert.equal(r.config.grpc.address, '/flag.sock');
  assert.equal(r.config.grpc.uid, 7);
  assert.equal(r.config.grpc.max_recv_message_size, 16777216);
  assert.equal(r.config.debug.level, 'warn');
  assert.equal(r.config.bus.url, 'nats://h:4222');
  assert.equal(r.config.bus.port, 0);
});

test('undefined overrides are ignored; arrays are replaced whole', () => {
  const path = file('disabled_plugins = ["a", "b"]\n[supervisor]\nservices = ["metadata"]\n');
  const r = load({ file: path, overrides: { debug: { level: undefined }, supervisor: { services: ['gateway'] } } });
  assert.equal(r.config.debug.level, 'info');
  assert.deepEqual(r.config.disabled_plugins, ['a', 'b']);
  assert.deepEqual(r.config.supervisor.services, ['gateway']);
});

test('overrides are validated too', () => {
  assert.throws(
    () => load({ overrides: { debug: { level: 'loud' as never } } }),
    (err: Error & { code?: number }) => err.code === 3 && /debug\.level/.test(err.message),
  );
});

test('unknown keys warn with their dotted path; unknown plugin tables are kept silently', () => {
  const toml = [
    'version = 2',
    'oom_score = 0',
    '[grpc]',
    'adress = "/x.sock"',
    '[metrics]',
    'address = "127.0.0.1:1338"',
    '[plugins."io.containerd.gc.v1.scheduler"]',
    'pause_treshold = 0.1',
    '[plugins."io.containerd.grpc.v1.cri"]',
    'whatever = 1',
  ].join('\n');
  const r = load({ file: file(toml) });
  assert.deepEqual(r.warnings.sort(), [
    'unknown config key "grpc.adress" ignored',
    'unknown config key "metrics" ignored',
    'unknown config key "oom_score" ignored',
    'unknown config key "plugins."io.containerd.gc.v1.scheduler".pause_treshold" ignored',
  ]);
  assert.equal(r.config.grpc.address, defaultConfig().grpc.address);
  assert.deepEqual(r.config.plugins['io.containerd.grpc.v1.cri'], { whatever: 1 });
  assert.equal('pause_treshold' in r.config.plugins['io.containerd.gc.v1.scheduler'], false);
});

test('invalid values throw code 3 naming the key', () => {
  assertInvalid('[grpc]\nmax_recv_message_size = "abc"', 'grpc.max_recv_message_size', /must be a positive integer, got "abc"$/);
  assertInvalid('[grpc]\nmax_send_message_size = 0', 'grpc.max_send_message_size');
  assertInvalid('[grpc]\nuid = -1', 'grpc.uid');
  assertInvalid('[grpc]\naddress = ""', 'grpc.address');
  assertInvalid('[ttrpc]\ngid = 1.5', 'ttrpc.gid');
  assertInvalid('version = 3', 'version', /version 3 configs are not supported yet/);
  assertInvalid('version = 1', 'version');
  assertInvalid('version = "2"', 'version');
  assertInvalid('root = "var/lib/flotilla"', 'root', /absolute path/);
  assertInvalid('state = "run"', 'state', /absolute path/);
  assertInvalid('disabled_plugins = "cri"', 'disabled_plugins');
  assertInvalid('required_plugins = [1]', 'required_plugins');
  assertInvalid('[debug]\nlevel = "verbose"', 'debug.level', /one of trace, debug, info, warn, error, fatal/);
  assertInvalid('[bus]\nurl = "http://localhost:4222"', 'bus.url', /nats:\/\//);
  assertInvalid('[bus]\nport = 70000', 'bus.port');
  assertInvalid('[bus]\nrequest_timeout_ms = 0', 'bus.request_timeout_ms');
  assertInvalid('[bus]\nheartbeat_ms = "500"', 'bus.heartbeat_ms');
  assertInvalid('[bus]\nlisten_host = ""', 'bus.listen_host');
  assertInvalid('[supervisor]\nservices = ["a", "a"]', 'supervisor.services');
  assertInvalid('[supervisor]\nstop_timeout_ms = -5', 'supervisor.stop_timeout_ms');
  assertInvalid('[supervisor]\nrestart_backoff_initial_ms = 9000', 'supervisor.restart_backoff_max_ms');
  assertInvalid('grpc = "x"', 'grpc', /must be a table/);
  assertInvalid('plugins = 1', 'plugins', /must be a table/);
  assertInvalid('[plugins]\n"io.containerd.grpc.v1.cri" = 5', 'plugins."io.containerd.grpc.v1.cri"', /table/);
  const gc = '[plugins."io.containerd.gc.v1.scheduler"]\n';
  assertInvalid(gc + 'schedule_delay = "soon"', 'plugins."io.containerd.gc.v1.scheduler".schedule_delay', /duration/);
  assertInvalid(gc + 'startup_delay = 100', 'plugins."io.containerd.gc.v1.scheduler".startup_delay');
  assertInvalid(gc + 'expire_check_interval = "30"', 'plugins."io.containerd.gc.v1.scheduler".expire_check_interval');
  assertInvalid(gc + 'pause_threshold = 2', 'plugins."io.containerd.gc.v1.scheduler".pause_threshold');
  assertInvalid(gc + 'mutation_threshold = -1', 'plugins."io.containerd.gc.v1.scheduler".mutation_threshold');
  const lmdb = '[plugins."io.containerd.metadata.v1.lmdb"]\n';
  assertInvalid(lmdb + 'map_size_mb = 0', 'plugins."io.containerd.metadata.v1.lmdb".map_size_mb');
  assertInvalid(lmdb + 'no_sync = "yes"', 'plugins."io.containerd.metadata.v1.lmdb".no_sync');
  const rt = '[plugins."io.containerd.runtime.v2.task"]\n';
  const rtKey = (k: string) => `plugins."io.containerd.runtime.v2.task".${k}`;
  assertInvalid(rt + 'runtimes = "/usr/bin/shim"', rtKey('runtimes'), /must be a table of runtime name = absolute shim path/);
  assertInvalid(rt + 'runtimes = ["/usr/bin/shim"]', rtKey('runtimes'));
  assertInvalid(rt + 'runtimes = { "io.containerd.runc.v2" = "shim" }', rtKey('runtimes."io.containerd.runc.v2"'), /absolute path, got "shim"$/);
  assertInvalid(rt + 'runtimes = { runc = 1 }', rtKey('runtimes.runc'), /absolute path/);
  assertInvalid(rt + 'runtimes = { runc = { path = "/x" } }', rtKey('runtimes.runc'));
  assertInvalid(rt + 'runc_root = "run/runc"', rtKey('runc_root'), /empty or an absolute path/);
  assertInvalid(rt + 'runc_root = false', rtKey('runc_root'));
  assertInvalid(rt + 'publish_binary = "flotilla"', rtKey('publish_binary'), /empty or an absolute path/);
  assertInvalid(rt + 'shim_debug = 1', rtKey('shim_debug'), /true or false/);
  assertInvalid(rt + 'warm_shims = -1', rtKey('warm_shims'), /an integer from 0 to 64, got -1$/);
  assertInvalid(rt + 'warm_shims = 65', rtKey('warm_shims'));
  assertInvalid(rt + 'warm_shims = 1.5', rtKey('warm_shims'));
  assertInvalid(rt + 'warm_shims = "1"', rtKey('warm_shims'));
  assertInvalid('[plugins]\n"io.containerd.runtime.v2.task" = 1', 'plugins."io.containerd.runtime.v2.task"', /table/);
});

test('runtime section: edge values are accepted, unknown keys warn, runtimes is replaced whole', () => {
  const rt = '[plugins."io.containerd.runtime.v2.task"]\n';
  const r = load({ file: file(rt + 'warm_shims = 64\nrunc_root = "/run/containerd/runc"\nruntime = "io.containerd.runc.v2"\n') });
  const s = r.config.plugins['io.containerd.runtime.v2.task'];
  assert.equal(s.warm_shims, 64);
  assert.equal(s.runc_root, '/run/containerd/runc');
  assert.deepEqual(s.runtimes, {});
  assert.deepEqual(r.warnings, ['unknown config key "plugins."io.containerd.runtime.v2.task".runtime" ignored']);
  assert.equal(load({ file: file(rt + 'warm_shims = 0') }).config.plugins['io.containerd.runtime.v2.task'].warm_shims, 0);
  const layered = load({
    file: file(rt + 'runtimes = { a = "/a", b = "/b" }'),
    overrides: { plugins: { 'io.containerd.runtime.v2.task': { runtimes: { c: '/c' } } } },
  });
  assert.deepEqual(layered.config.plugins['io.containerd.runtime.v2.task'].runtimes, { c: '/c' });
  const proto = load({ file: file(rt + 'runtimes = { "__proto__" = "/p" }') }).config.plugins['io.containerd.runtime.v2.task'].runtimes;
  assert.deepEqual(Object.keys(proto), ['__proto__']);
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
});


test('TOML syntax errors throw code 3', () => {
  assert.throws(() => load({ file: file('[grpc\naddress = 1') }), (err: Error & { code?: number }) => err.code === 3);
});

test('a missing explicit file is an error', () => {
  const path = join(dir, 'nope.toml');
  assert.throws(
    () => load({ file: path }),
    (err: Error & { code?: number }) => err.code === 5 && err.message.includes(path),
  );
});

test('runcRoot derives from state unless runc_root is set', () => {
  const cfg = defaultConfig();
  assert.equal(runcRoot(cfg), '/run/flotilla/runc');
  cfg.state = '/tmp/s';
  assert.equal(runcRoot(cfg), '/tmp/s/runc');
  cfg.plugins['io.containerd.runtime.v2.task'].runc_root = '/run/containerd/runc';
  assert.equal(runcRoot(cfg), '/run/containerd/runc');
});

test('ttrpcAddress derives from grpc.address unless set', () => {
  const cfg = defaultConfig();
  assert.equal(ttrpcAddress(cfg), '/run/flotilla/containerd.sock.ttrpc');
  cfg.ttrpc.address = '/run/t.sock';
  assert.equal(ttrpcAddress(cfg), '/run/t.sock');
});

test('a __proto__ key in a free-form plugin table stays data', () => {
  const r = load({ file: file('[plugins.x]\n"__proto__" = { polluted = true }\n') });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(r.config.plugins.x!), ['__proto__']);
});
