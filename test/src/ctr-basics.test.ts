/**
 * System tests of `flotilla up` driven by Debian's real `ctr` and by the `flotilla` CLI:
 * version and server UUID (kept across restarts), plugin listing, namespaces, `flotilla status`,
 * the socket claim (live daemon refused, stale socket replaced) and config handling.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { ctr, pidAlive, socketAccepts, startFlotilla, waitFor, type FlotillaStack } from '@flotilla/testkit';
import { runFlotilla, statusJson } from './flotilla-cli.js';

const SERVICES = ['metadata', 'content', 'snapshotter', 'runtime', 'cri', 'gateway'];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The Server section of `ctr version`. */
function serverSection(out: string): { version: string; revision: string; uuid: string } {
  const m = /^Server:\n\s+Version:\s+(\S+)\n\s+Revision:\s+(\S+)\n\s+UUID:\s+(\S+)\s*$/m.exec(out);
  assert.ok(m, `no Server section in ctr version output:\n${out}`);
  return { version: m[1], revision: m[2], uuid: m[3] };
}

/** One plugin as `ctr plugins ls -d` prints it. */
interface DetailedPlugin {
  type: string;
  id: string;
  exports: Record<string, string>;
  sections: Record<string, string[]>;
}

/**
 * Parses `ctr plugins ls -d`: blocks start with `Type:`; `Name:   value` headers at column 0;
 * indented lines belong to the last header (under `Exports:` they are `key  value`).
 */
function parseDetailed(out: string): DetailedPlugin[] {
  const plugins: DetailedPlugin[] = [];
  let cur: DetailedPlugin | undefined;
  let section = '';
  for (const line of out.split('\n')) {
    const header = /^([A-Za-z][A-Za-z ]*):\s*(.*?)\s*$/.exec(line);
    if (header) {
      section = header[1];
      if (section === 'Type') {
        cur = { type: header[2], id: '', exports: {}, sections: {} };
        plugins.push(cur);
      } else if (section === 'ID' && cur) cur.id = header[2];
      continue;
    }
    const body = line.trim();
    if (!cur || body === '') continue;
    (cur.sections[section] ??= []).push(body);
    if (section === 'Exports') {
      const kv = /^(\S+)\s+(.*)$/.exec(body);
      if (kv) cur.exports[kv[1]] = kv[2];
    }
  }
  return plugins;
}

describe('ctr and the flotilla CLI against flotilla up', () => {
  let dir: string;
  let stack: FlotillaStack | undefined;
  /** The UUID seen by the first test, before anything else could disturb the stack. */
  let firstUuid: string | undefined;

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-basics-'));
      stack = await startFlotilla({ dir });
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      await stack?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 30_000 },
  );

  it('ctr version shows Flotilla 0.1.0 and a server UUID', { timeout: 30_000 }, async () => {
    const r = await ctr(stack!.address, ['version']);
    assert.equal(r.code, 0, r.stderr);
    const server = serverSection(r.stdout);
    assert.equal(server.version, '0.1.0');
    assert.match(server.uuid, UUID_RE);
    firstUuid = server.uuid;
  });

  it('ctr plugins ls lists the plugins of every process with their status', { timeout: 30_000 }, async () => {
    const r = await ctr(stack!.address, ['plugins', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^TYPE\s+ID\s+PLATFORMS\s+STATUS\s*$/);
    const rows = new Set(lines.slice(1).map((l) => { const [type, id, , status] = l.trim().split(/\s+/); return `${type} ${id} ${status}`; }));
    for (const want of [
      'io.containerd.metadata.v1 lmdb ok',
      'io.containerd.grpc.v1 namespaces ok',
      'io.containerd.grpc.v1 version ok',
      'io.containerd.content.v1 content ok',
      'io.containerd.runtime.v2 task ok',
      'io.containerd.grpc.v1 cri skip',
      'io.containerd.snapshotter.v1 overlayfs ok',
    ]) {
      assert.ok(rows.has(want), `missing "${want}" in:\n${r.stdout}`);
    }
  });

  it('ctr plugins ls -d shows each plugin with flotilla.process and flotilla.pid exports', { timeout: 30_000 }, async () => {
    const r = await ctr(stack!.address, ['plugins', 'ls', '-d']);
    assert.equal(r.code, 0, r.stderr);
    const plugins = parseDetailed(r.stdout);
    const table = await ctr(stack!.address, ['plugins', 'ls']);
    assert.equal(plugins.length, table.stdout.trimEnd().split('\n').length - 1, 'ls -d and ls list the same number of plugins');
    const find = (type: string, id: string) => {
      const p = plugins.find((x) => x.type === type && x.id === id);
      assert.ok(p, `plugin ${type}.${id} not in ctr plugins ls -d:\n${r.stdout}`);
      return p;
    };
    assert.equal(find('io.containerd.metadata.v1', 'lmdb').exports['flotilla.process'], 'metadata');
    assert.equal(find('io.containerd.grpc.v1', 'namespaces').exports['flotilla.process'], 'metadata');
    assert.equal(find('io.containerd.grpc.v1', 'version').exports['flotilla.process'], 'gateway');
    assert.equal(find('io.containerd.grpc.v1', 'introspection').exports['flotilla.process'], 'gateway');
    assert.equal(find('io.containerd.content.v1', 'content').exports['flotilla.process'], 'content');
    // Every plugin names its process, with that process's pid; every service shows up.
    for (const p of plugins) {
      const svc = p.exports['flotilla.process'];
      assert.ok(SERVICES.includes(svc), `${p.type}.${p.id}: flotilla.process=${svc}`);
      assert.equal(Number(p.exports['flotilla.pid']), stack!.pidOf(svc), `${p.type}.${p.id}: flotilla.pid`);
    }
    assert.deepEqual([...new Set(plugins.map((p) => p.exports['flotilla.process']))].sort(), [...SERVICES].sort());
    // A skipped plugin carries containerd's skip error.
    assert.ok(find('io.containerd.grpc.v1', 'cri').sections['Error']?.some((l) => /skip plugin/.test(l)));
  });

  it('ctr ns create, label, ls, rm', { timeout: 30_000 }, async () => {
    const a = stack!.address;
    assert.deepEqual(await ctr(a, ['ns', 'create', 'a']), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await ctr(a, ['ns', 'label', 'a', 'k=v']), { code: 0, stdout: '', stderr: '' });
    const ls = await ctr(a, ['ns', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.split('\n');
    assert.match(lines[0], /^NAME\s+LABELS\s*$/);
    assert.ok(lines.some((l) => /^a\s+k=v\s*$/.test(l)), `no "a k=v" row in:\n${ls.stdout}`);
    assert.deepEqual(await ctr(a, ['ns', 'rm', 'a']), { code: 0, stdout: 'a\n', stderr: '' });
    const q = await ctr(a, ['ns', 'ls', '-q']);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout.split('\n').includes('a'), false, `a still listed:\n${q.stdout}`);
  });

  it('flotilla status --json lists the six services, alive and serving', { timeout: 30_000 }, async () => {
    const st = await statusJson(stack!.state);
    assert.equal(st.code, 0);
    assert.equal(st.supervisor.pid, stack!.process.pid);
    assert.equal(st.supervisor.address, stack!.address);
    assert.deepEqual(st.processes.map((p) => p.service), SERVICES);
    for (const p of st.processes) {
      assert.ok(p.pid > 0 && pidAlive(p.pid), `${p.service}: pid ${p.pid} not alive`);
      assert.equal(p.pid, stack!.pidOf(p.service));
      assert.equal(p.health, 'serving', `${p.service}: ${p.health}`);
      assert.equal(p.state, 'running');
    }
  });

  it('flotilla status prints a table with a header line', { timeout: 30_000 }, async () => {
    const r = await runFlotilla(['status', '--state', stack!.state]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^SERVICE\s+PID\s+UPTIME\s+RESTARTS\s+HEALTH$/);
    assert.equal(lines.length, 1 + SERVICES.length);
    for (const [i, svc] of SERVICES.entries()) {
      assert.match(lines[i + 1], new RegExp(`^${svc}\\s+${stack!.pidOf(svc)}\\s+\\d+s\\s+0\\s+serving$`));
    }
  });

  it('flotilla up refuses an address served by a live daemon, and the live one keeps working', { timeout: 40_000 }, async () => {
    const other = mkdtempSync(join(tmpdir(), 'flotilla-second-'));
    try {
      const r = await runFlotilla(['up', '--root', join(other, 'root'), '--state', join(other, 'state'), '--address', stack!.address], { timeoutMs: 30_000 });
      assert.notEqual(r.code, 0, 'second flotilla up must fail');
      assert.match(r.stdout + r.stderr, /live daemon/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    // The refused start must leave the first daemon's socket alone.
    assert.ok(existsSync(stack!.address), 'the live daemon socket was removed by the refused start');
    const v = await ctr(stack!.address, ['version'], { timeoutMs: 10_000 });
    assert.equal(v.code, 0, v.stderr);
    assert.equal(serverSection(v.stdout).version, '0.1.0');
    assert.equal((await statusJson(stack!.state)).code, 0);
  });

  // Last in this suite: restarts the shared stack on the same root.
  it('the server UUID is the same after a restart on the same root', { timeout: 60_000 }, async () => {
    const first = firstUuid ?? serverSection((await ctr(stack!.address, ['version'])).stdout).uuid;
    await stack!.stop({ keep: true });
    stack = undefined;
    stack = await startFlotilla({ dir });
    const r = await ctr(stack.address, ['version']);
    assert.equal(r.code, 0, r.stderr);
    const second = serverSection(r.stdout).uuid;
    assert.match(second, UUID_RE);
    assert.equal(second, first);
  });
});

describe('flotilla up with a stale socket file at the address', () => {
  let dir: string;
  let stack: FlotillaStack | undefined;
  after(
    async () => {
      await stack?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 30_000 },
  );

  it('removes the stale socket and starts', { timeout: 60_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-stale-'));
    const sock = join(dir, 'state', 'containerd.sock');
    mkdirSync(join(dir, 'state'), { recursive: true });
    // A socket file with no listener: bind it in a child, then SIGKILL the child (no unlink on close).
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('listening'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
        child.once('exit', (code) => reject(new Error(`socket child exited ${code}`)));
      });
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    }
    assert.ok(statSync(sock).isSocket(), 'the stale socket file exists');
    assert.equal(await socketAccepts(sock), false, 'nothing listens on the stale socket');

    stack = await startFlotilla({ dir });
    assert.equal(stack.address, sock);
    const r = await ctr(stack.address, ['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(serverSection(r.stdout).version, '0.1.0');
  });
});

describe('flotilla config', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
  let stack: FlotillaStack | undefined;
  after(
    async () => {
      await stack?.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
    { timeout: 30_000 },
  );

  it('config default parses to the same TOML as config dump without flags', { timeout: 30_000, skip: existsSync('/etc/flotilla/config.toml') && '/etc/flotilla/config.toml exists' }, async () => {
    const def = await runFlotilla(['config', 'default']);
    const dump = await runFlotilla(['config', 'dump']);
    assert.equal(def.code, 0, def.stderr);
    assert.equal(dump.code, 0, dump.stderr);
    assert.equal(dump.stderr, '', 'no warnings from the defaults');
    const d = parse(def.stdout);
    assert.deepEqual(parse(dump.stdout), d);
    assert.equal(d.version, 2);
    assert.equal((d.grpc as Record<string, unknown>).max_recv_message_size, 16 * 1024 * 1024);
  });

  it('flotilla up -c with an invalid value exits non-zero naming the key', { timeout: 60_000 }, async () => {
    const cases: [string, string, RegExp][] = [
      ['bad', '[grpc]\n max_recv_message_size = "abc"\n', /grpc\.max_recv_message_size/],
      // A plugin section's value is checked at startup too, not only by the runtime process.
      ['bad-runtime', '[plugins."io.containerd.runtime.v2.task"]\n warm_shims = -1\n', /plugins\."io\.containerd\.runtime\.v2\.task"\.warm_shims/],
    ];
    for (const [name, toml, key] of cases) {
      const file = join(tmp, `${name}.toml`);
      writeFileSync(file, toml);
      const d = join(tmp, name);
      const r = await runFlotilla(['up', '-c', file, '--root', join(d, 'root'), '--state', join(d, 'state'), '--address', join(d, 'state', 'containerd.sock')]);
      assert.notEqual(r.code, 0, name);
      assert.notEqual(r.code, 137, `${name}: flotilla up did not exit by itself`);
      assert.match(r.stdout + r.stderr, key);
      assert.equal(existsSync(join(d, 'state', 'containerd.sock')), false, `${name}: nothing was started`);
    }
  });

  it('flotilla up -c with an unknown key warns in the log and starts', { timeout: 60_000 }, async () => {
    const file = join(tmp, 'unknown.toml');
    writeFileSync(file, '[grpc]\n bogus_key = 1\n');
    stack = await startFlotilla({ args: ['-c', file] });
    const warning = stack
      .log()
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { level: number; msg: string }];
        } catch {
          return [];
        }
      })
      .find((l) => l.msg?.includes('grpc.bogus_key'));
    assert.ok(warning, `no warning about grpc.bogus_key in the log:\n${stack.log()}`);
    assert.equal(warning.level, 40, 'logged at warn level');
    const r = await ctr(stack.address, ['version']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('status file', 5_000, () => stack!.status().processes.length === SERVICES.length);
  });
});
