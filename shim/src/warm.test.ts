/**
 * The `warm` action (warm.ts) as the runtime drives it: ready line, a task refused without change,
 * a task whose group another shim serves (stays warm), adoption (address file, socket, Connect,
 * process title, its own session), and exit at end of stdin while idle.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SHIM_PROTO, loadRoot } from '@flotilla/protos';
import { TtrpcClient, ttrpcClient } from '@flotilla/ttrpc';
import { socketAddress } from './address.js';
import { LAUNCHER, canRunContainers, pidAlive, tempDir, until } from './test-fixtures.js';

const root = loadRoot([SHIM_PROTO]);

describe('shim warm action', { skip: canRunContainers() ? false : 'needs root and a built shim' }, () => {
  const tmp = tempDir('fl-shim-warm-');
  const sockets = join(tmp.dir, 's');
  const grpc = join(tmp.dir, 'containerd.sock');
  const env = { ...process.env, FLOTILLA_SHIM_SOCKET_DIR: sockets, TTRPC_ADDRESS: join(tmp.dir, 'nobody.ttrpc') };
  const spawned: number[] = [];
  const bundle = (name: string, annotations: Record<string, string> = {}) => {
    const dir = join(tmp.dir, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations }));
    return dir;
  };

  /** A warm shim and a reader of its reply lines. */
  function warmShim() {
    const child = spawn(LAUNCHER, ['-address', grpc, 'warm', ' '.repeat(320)], { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] }) as ChildProcessWithoutNullStreams;
    spawned.push(child.pid!);
    const lines: string[] = [];
    const waiting: ((l: string) => void)[] = [];
    createInterface({ input: child.stdout }).on('line', (l) => (waiting.length ? waiting.shift()!(l) : lines.push(l)));
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const next = () => new Promise<any>((resolve) => (lines.length ? resolve(JSON.parse(lines.shift()!)) : waiting.push((l) => resolve(JSON.parse(l)))));
    const ask = (task: object) => {
      child.stdin.write(`${JSON.stringify(task)}\n`);
      return next();
    };
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, next, ask, exited, stderr: () => stderr };
  }

  before(() => mkdirSync(sockets, { recursive: true }));
  after(() => {
    for (const pid of spawned) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    tmp.cleanup();
  });

  test('ready, refuses a bad task and stays warm, then becomes the shim of a good one', async () => {
    const w = warmShim();
    const ready = await w.next();
    assert.deepEqual(ready, { ready: true, pid: w.child.pid });

    // No config.json: refused; nothing claimed, still warm.
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    const bad = await w.ask({ namespace: 'ns1', id: 'x', bundle: empty });
    assert.match(bad.error, /config\.json/);
    assert.deepEqual((() => { try { return readFileSync(join(empty, 'address'), 'utf8'); } catch { return 'none'; } })(), 'none');
    const missing = await w.ask({ namespace: 'ns1', bundle: empty });
    assert.match(missing.error, /id missing/);

    const b = bundle('w1');
    // Its log goes to the bundle's FIFO, read (as the runtime does) until the task is deleted.
    const r0 = spawnSync('mkfifo', [join(b, 'log')]);
    assert.equal(r0.status, 0);
    const logReader = openSync(join(b, 'log'), constants.O_RDWR | constants.O_NONBLOCK);
    const r = await w.ask({ namespace: 'ns1', id: 'w1', bundle: b, publishBinary: '/usr/bin/containerd', debug: true, options: '' });
    const address = socketAddress(grpc, 'ns1', 'w1', sockets);
    assert.deepEqual(r, { address, grouped: false, pid: w.child.pid });
    assert.equal(readFileSync(join(b, 'address'), 'utf8'), address);
    const path = address.slice('unix://'.length);
    assert.equal(statSync(path).mode & 0o777, 0o660);

    const client = await TtrpcClient.connect(address);
    const task = ttrpcClient(root, 'containerd.task.v2.Task', client);
    const c = await task.call<{ shim_pid: number; task_pid: number }>('Connect', { id: 'w1' });
    assert.equal(c.shim_pid, w.child.pid);
    // `ps` shows which task it serves; it leads its own session; it works in the bundle.
    const title = readFileSync(`/proc/${c.shim_pid}/cmdline`, 'utf8').replace(/\0+$/, '');
    assert.match(title, new RegExp(`shim/dist/main\\.js -namespace ns1 -id w1 -address ${grpc.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
    assert.equal(readFileSync(`/proc/${c.shim_pid}/stat`, 'utf8').split(' ')[5], String(c.shim_pid));

    // Adopted, it no longer depends on our pipes: closing them leaves it serving.
    w.child.stdin.end();
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(pidAlive(c.shim_pid), 'an adopted shim survives the end of its stdin');
    // Debug lines went to the FIFO; then the reader goes away, and Shutdown still ends the shim
    // (its logger must not spin on a FIFO nobody reads).
    const logged = Buffer.alloc(65536);
    assert.match(logged.subarray(0, readSync(logReader, logged)).toString(), /"msg":"call"/);
    closeSync(logReader);
    await task.call('Shutdown', { id: 'w1' });
    client.close();
    const gone = await Promise.race([w.exited, new Promise((r) => setTimeout(() => r('still running 5 s after Shutdown'), 5000))]);
    assert.equal(gone, 0);
  });

  test('a task whose group another shim serves gets that address; the warm shim stays warm', async () => {
    const first = warmShim();
    await first.next();
    const group = { 'io.containerd.runc.v2.group': 'g1' };
    const a = await first.ask({ namespace: 'ns1', id: 'ga', bundle: bundle('ga', group) });
    assert.equal(a.grouped, false);

    const second = warmShim();
    await second.next();
    const b = await second.ask({ namespace: 'ns1', id: 'gb', bundle: bundle('gb', group) });
    assert.deepEqual(b, { address: a.address, grouped: true });
    assert.equal(readFileSync(join(tmp.dir, 'gb', 'address'), 'utf8'), a.address);
    const c = await second.ask({ namespace: 'ns1', id: 'gc', bundle: bundle('gc') });
    assert.equal(c.grouped, false, 'still warm: takes the next task');
    assert.notEqual(c.address, a.address);

    for (const w of [first, second]) {
      const client = await TtrpcClient.connect(w === first ? a.address : c.address);
      await ttrpcClient(root, 'containerd.task.v2.Task', client).call('Shutdown', { id: '' });
      client.close();
      assert.equal(await w.exited, 0);
    }
  });

  test('an idle warm shim exits when its stdin ends (its runtime is gone)', async () => {
    const w = warmShim();
    await w.next();
    w.child.stdin.end();
    assert.equal(await w.exited, 0);
    await until('warm shim gone', 2000, () => !pidAlive(w.child.pid!));
  });
});
