/**
 * The binary protocol without containerd: `start` (output, `address` file, socket, grouping, stale
 * sockets, speed), the long-lived shim it leaves behind (RSS, Connect, Shutdown), `delete`, and the
 * command-line errors. Sockets go to a private directory (`FLOTILLA_SHIM_SOCKET_DIR`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SHIM_PROTO, loadRoot } from '@flotilla/protos';
import { TtrpcClient, decodeMessage, ttrpcClient } from '@flotilla/ttrpc';
import { socketAddress } from './address.js';
import { GO_SHIM, LAUNCHER, canRunContainers, pidAlive, runShim, tempDir, until } from './test-fixtures.js';

const root = loadRoot([SHIM_PROTO]);

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
}

describe('shim binary protocol: start / serve / delete', { skip: canRunContainers() ? false : 'needs root and a built shim' }, () => {
  const tmp = tempDir('fl-shim-start-');
  const sockets = join(tmp.dir, 's');
  const env = { ...process.env, FLOTILLA_SHIM_SOCKET_DIR: sockets, TTRPC_ADDRESS: join(tmp.dir, 'nobody.ttrpc') };
  const grpc = join(tmp.dir, 'containerd.sock');
  const started: number[] = [];
  const bundle = (name: string, annotations: Record<string, string> = {}) => {
    const dir = join(tmp.dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations }));
    return dir;
  };
  const start = (id: string, cwd: string) => runShim(LAUNCHER, ['-namespace', 'ns1', '-address', grpc, '-publish-binary', '/usr/bin/containerd', '-id', id, 'start'], { cwd, env });

  async function connect(address: string) {
    const client = await TtrpcClient.connect(address);
    return { client, task: ttrpcClient(root, 'containerd.task.v2.Task', client) };
  }

  before(() => mkdirSync(sockets, { recursive: true }));
  after(() => {
    for (const pid of started) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  });

  test('start prints the bare address, writes <bundle>/address, leaves a serving shim; timing and RSS', async (t) => {
    const b = bundle('b1');
    const r = await start('c1', b);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing on stderr: containerd reads stdout+stderr combined');
    const address = r.stdout.toString();
    assert.equal(address, socketAddress(grpc, 'ns1', 'c1', sockets), 'bare address, no newline');
    assert.equal(readFileSync(join(b, 'address'), 'utf8'), address);
    const path = address.slice('unix://'.length);
    assert.ok(statSync(path).isSocket());
    assert.equal(statSync(path).mode & 0o777, 0o660);

    const t0 = performance.now();
    const { client, task } = await connect(address);
    const c = await task.call<{ shim_pid: number; task_pid: number }>('Connect', { id: 'c1' });
    const ready = performance.now() - t0;
    started.push(c.shim_pid);
    assert.equal(c.task_pid, 0);
    await new Promise((res) => setTimeout(res, 200));
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.shim_pid}/status`, 'utf8'))![1]);
    const cmdline = readFileSync(`/proc/${c.shim_pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(cmdline.slice(-6), ['-namespace', 'ns1', '-id', 'c1', '-address', grpc], 'no action, as the runc manager re-execs');
    // Its own session, stdin/stdout on /dev/null (containerd's read of start's output must end).
    assert.equal(readFileSync(`/proc/${c.shim_pid}/stat`, 'utf8').split(' ')[5], String(c.shim_pid), 'session leader');
    const msg = `start-to-address ${r.ms.toFixed(0)} ms; serving shim answered ${ready.toFixed(0)} ms later; serving RSS ${(rss / 1024).toFixed(1)} MiB`;
    t.diagnostic(msg);
    assert.ok(r.ms < 2000, `start took ${r.ms} ms`);
    if (existsSync(GO_SHIM)) {
      // The same measurement for Debian's runc shim, for comparison (its socket: /run/containerd/s).
      const gb = bundle('go');
      mkfifo(join(gb, 'log'));
      const logReader = openSync(join(gb, 'log'), constants.O_RDWR | constants.O_NONBLOCK);
      try {
        const g = await runShim(GO_SHIM, ['-namespace', 'ns1', '-address', grpc, '-publish-binary', '/usr/bin/containerd', '-id', 'go', 'start'], { cwd: gb, env });
        assert.equal(g.code, 0, g.stderr);
        const t1 = performance.now();
        const go = await connect(g.stdout.toString().trim());
        const gpid = (await go.task.call<{ shim_pid: number }>('Connect', { id: 'go' })).shim_pid;
        const gready = performance.now() - t1;
        started.push(gpid);
        await new Promise((res) => setTimeout(res, 200));
        const grss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gpid}/status`, 'utf8'))![1]);
        t.diagnostic(`containerd-shim-runc-v2: start-to-address ${g.ms.toFixed(0)} ms; answered ${gready.toFixed(0)} ms later; RSS ${(grss / 1024).toFixed(1)} MiB`);
        await go.task.call('Shutdown', { id: 'go' }).catch(() => undefined);
        await until('runc shim exit', 5000, () => !pidAlive(gpid));
        go.client.close();
      } finally {
        closeSync(logReader);
      }
    }

    // A second container of another group gets its own shim.
    const b2 = bundle('b2');
    const r2 = await start('c2', b2);
    assert.notEqual(r2.stdout.toString(), address);
    const second = await connect(r2.stdout.toString());
    const c2 = await second.task.call<{ shim_pid: number }>('Connect', { id: 'c2' });
    started.push(c2.shim_pid);
    assert.notEqual(c2.shim_pid, c.shim_pid);

    // Shutdown with no containers: the shim exits and removes its socket.
    for (const [conn, pid, p] of [
      [client, c.shim_pid, path],
      [second.client, c2.shim_pid, r2.stdout.toString().slice(7)],
    ] as const) {
      await ttrpcClient(root, 'containerd.task.v2.Task', conn)
        .call('Shutdown', { id: 'x' })
        .catch(() => undefined);
      await until('shim exit', 5000, () => !pidAlive(pid));
      assert.equal(existsSync(p), false, 'socket removed');
      conn.close();
    }
  });

  test('grouping: a container annotated into a running group reuses its shim', async () => {
    const a = bundle('g1', { 'io.kubernetes.cri.sandbox-id': 'pod-1' });
    const b = bundle('g2', { 'io.kubernetes.cri.sandbox-id': 'pod-1', unrelated: 'x' });
    const c = bundle('g3', { 'io.containerd.runc.v2.group': 'other', 'io.kubernetes.cri.sandbox-id': 'pod-1' });
    const r1 = await start('sandbox', a);
    assert.equal(r1.code, 0, r1.stderr);
    const address = r1.stdout.toString();
    assert.equal(address, socketAddress(grpc, 'ns1', 'pod-1', sockets));
    const { client, task } = await connect(address);
    const pid = (await task.call<{ shim_pid: number }>('Connect', { id: 'sandbox' })).shim_pid;
    started.push(pid);
    const r2 = await start('app', b);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.toString(), address, 'same socket');
    assert.equal(readFileSync(join(b, 'address'), 'utf8'), address);
    const again = await connect(address);
    assert.equal((await again.task.call<{ shim_pid: number }>('Connect', { id: 'app' })).shim_pid, pid, 'same process');
    again.client.close();
    const r3 = await start('other', c);
    assert.notEqual(r3.stdout.toString(), address, 'the runc.v2 group annotation wins over the sandbox id');
    const third = await connect(r3.stdout.toString());
    started.push((await third.task.call<{ shim_pid: number }>('Connect', { id: 'other' })).shim_pid);
    for (const conn of [client, third.client]) {
      await ttrpcClient(root, 'containerd.task.v2.Task', conn).call('Shutdown', {}).catch(() => undefined);
      await conn.waitClosed();
    }
  });

  test('a stale socket file nobody serves is replaced', async () => {
    const b = bundle('stale');
    const path = socketAddress(grpc, 'ns1', 'stale', sockets).slice(7);
    // A socket file left by a process that was killed while listening.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    assert.ok(existsSync(path));
    const r = await start('stale', b);
    assert.equal(r.code, 0, r.stderr);
    const { client, task } = await connect(r.stdout.toString());
    started.push((await task.call<{ shim_pid: number }>('Connect', { id: 'stale' })).shim_pid);
    await task.call('Shutdown', {}).catch(() => undefined);
    await client.waitClosed();
  });

  test('delete prints a DeleteResponse: init.pid, exit 137; problems are warnings', async () => {
    const b = bundle('gone');
    writeFileSync(join(b, 'init.pid'), '4242');
    const r = await runShim(LAUNCHER, ['-namespace', 'ns1', '-address', grpc, '-publish-binary', '/usr/bin/containerd', '-id', 'gone', '-bundle', b, 'delete'], { cwd: b, env });
    assert.equal(r.code, 0, r.stderr);
    const res = decodeMessage<{ pid: number; exit_status: number; exited_at: { seconds: string } }>(root.lookupType('containerd.task.v2.DeleteResponse'), r.stdout);
    assert.equal(res.pid, 4242);
    assert.equal(res.exit_status, 137);
    assert.ok(Math.abs(Number(res.exited_at.seconds) - Date.now() / 1000) < 60);
    const noPid = await runShim(LAUNCHER, ['-namespace', 'ns1', '-id', 'gone2', '-bundle', join(tmp.dir, 'nothing'), 'delete'], { cwd: tmp.dir, env });
    assert.equal(noPid.code, 0);
    assert.match(noPid.stderr, /failed to read init pid file/);
  });

  test('command-line errors and -v', async () => {
    const v = await runShim(LAUNCHER, ['-v'], { cwd: tmp.dir, env });
    assert.equal(v.code, 0);
    assert.match(v.stdout.toString(), /Version:/);
    const noNs = await runShim(LAUNCHER, ['-id', 'x', 'start'], { cwd: tmp.dir, env });
    assert.equal(noNs.code, 1);
    assert.equal(noNs.stderr, 'containerd-shim-flotilla-v2: shim namespace cannot be empty');
    const bad = await runShim(LAUNCHER, ['-nope'], { cwd: tmp.dir, env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /flag provided but not defined: -nope/);
    const noSpec = await runShim(LAUNCHER, ['-namespace', 'n', '-id', 'x', '-address', grpc, 'start'], { cwd: tmp.dir, env });
    assert.equal(noSpec.code, 1);
    assert.match(noSpec.stderr, /config\.json/);
  });
});
