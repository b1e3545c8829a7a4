import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Code, codeOf } from '@flotilla/api';
import { createConsoleSocket } from './console-socket.js';
import { FakeSys } from './fake.js';
import { defaultSys, nativeLoadError } from './native.js';
import { consoleStreams, getWinsize, setWinsize } from './pty.js';
import { startReaper } from './reaper.js';
import { setChildSubreaper } from './subreaper.js';

const execFileP = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
const noNative = nativeLoadError() !== undefined;

describe('ConsoleSocket over FakeSys', () => {
  test('receives the descriptor a peer sends, and leaks nothing', async () => {
    const sys = new FakeSys();
    const { master } = sys.openPty();
    const cs = createConsoleSocket(undefined, { sys });
    const pending = cs.receiveMaster();
    sys.connectAndSend(cs.path, master);
    const fd = await pending;
    assert.notEqual(fd, master);
    cs.close();
    assert.deepEqual(sys.openFds().sort(), [master, fd].sort());
  });

  test('times out, is cancelled by close() and by an AbortSignal, and reports a silent peer', async () => {
    const sys = new FakeSys();
    const cs = createConsoleSocket(undefined, { sys });
    await assert.rejects(cs.receiveMaster({ timeoutMs: 20 }), (e) => codeOf(e) === Code.DeadlineExceeded);
    const ac = new AbortController();
    const aborted = cs.receiveMaster({ signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, (e) => codeOf(e) === Code.Canceled);
    sys.connectAndClose(cs.path);
    await assert.rejects(cs.receiveMaster(), (e) => codeOf(e) === Code.Unavailable);
    const closed = cs.receiveMaster();
    cs.close();
    await assert.rejects(closed, (e) => codeOf(e) === Code.Canceled);
    assert.deepEqual(sys.openFds(), []);
  });
});

describe('ConsoleSocket on the real system', { skip: noNative }, () => {
  test('receives a pty master sent over SCM_RIGHTS by another process', { timeout: 20_000 }, async () => {
    const cs = createConsoleSocket();
    const dir = join(cs.path, '..');
    try {
      const pending = cs.receiveMaster({ timeoutMs: 10_000 });
      // The child opens a pty pair, sends the master, closes its copy and exits.
      const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', join(here, 'fixtures/send-pty-master.ts'), cs.path], {
        cwd: join(here, '..'),
      });
      const fd = await pending;
      const slavePath = stdout.trim();
      assert.match(slavePath, /^\/dev\/pts\/\d+$/);
      setWinsize(fd, 33, 111);
      const slave = openSync(slavePath, constants.O_RDWR | constants.O_NOCTTY);
      assert.deepEqual(getWinsize(slave), { rows: 33, cols: 111, xpixel: 0, ypixel: 0 });
      const { readable } = consoleStreams(fd);
      let text = '';
      readable.on('data', (d) => (text += d));
      const ended = new Promise((r) => readable.once('end', r));
      writeSync(slave, 'through the received master\n');
      setTimeout(() => closeSync(slave), 50);
      await ended; // the slave closed: EIO on the master, turned into end of stream
      assert.equal(text, 'through the received master\r\n');
    } finally {
      cs.close();
    }
    assert.equal(existsSync(dir), false, 'the temporary directory is removed');
  });

  test('a real wait times out and close() cuts a wait short', { timeout: 20_000 }, async () => {
    const cs = createConsoleSocket();
    try {
      const t0 = Date.now();
      await assert.rejects(cs.receiveMaster({ timeoutMs: 100 }), (e) => codeOf(e) === Code.DeadlineExceeded);
      assert.ok(Date.now() - t0 >= 95);
      const t1 = Date.now();
      const waiting = cs.receiveMaster({ timeoutMs: 30_000 });
      setTimeout(() => cs.close(), 20);
      await assert.rejects(waiting, (e) => codeOf(e) === Code.Canceled);
      assert.ok(Date.now() - t1 < 5_000);
    } finally {
      cs.close();
    }
  });
});

const haveRunc = spawnSync('runc', ['--version']).status === 0;
const isRoot = process.getuid?.() === 0;

describe('runc --console-socket', { skip: noNative || !haveRunc || !isRoot || !existsSync('/bin/busybox') }, () => {
  test('receives the container pty from runc create, reads its output, reaps its init', { timeout: 30_000 }, async () => {
    const base = mkdtempSync(join(tmpdir(), 'sys-runc-'));
    const id = `flotilla-sys-${process.pid}`;
    const state = join(base, 'state');
    const bundle = join(base, 'bundle');
    const runc = (...args: string[]) => execFileP('runc', ['--root', state, ...args]);
    setChildSubreaper(); // the init's parent, runc create, exits: the init comes to us
    const reaper = startReaper();
    const cs = createConsoleSocket(base);
    try {
      mkdirSync(join(bundle, 'rootfs/bin'), { recursive: true });
      copyFileSync('/bin/busybox', join(bundle, 'rootfs/bin/busybox'));
      symlinkSync('busybox', join(bundle, 'rootfs/bin/sh'));
      await execFileP('runc', ['spec'], { cwd: bundle });
      const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
      spec.process.terminal = true;
      spec.process.args = ['/bin/sh', '-c', 'echo hello-tty; sleep 0.3; exit 5'];
      spec.root = { path: 'rootfs', readonly: true };
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));

      const sub = reaper.subscribe();
      const pidFile = join(bundle, 'init.pid');
      await runc('create', '--bundle', bundle, '--pid-file', pidFile, '--console-socket', cs.path, id);
      const master = await cs.receiveMaster({ timeoutMs: 5_000 });
      const initPid = Number(readFileSync(pidFile, 'utf8'));
      setWinsize(master, 24, 80);
      const { readable, close } = consoleStreams(master);
      let text = '';
      readable.on('data', (d) => (text += d));
      const ended = new Promise((r) => readable.once('end', r));
      await runc('start', id);
      const exit = await sub.wait(initPid);
      sub.close();
      await ended;
      close();
      console.error(`# runc: master fd ${master} from runc create, init ${initPid} exit ${exit.exitStatus}, read ${JSON.stringify(text)}`);
      assert.match(text, /hello-tty\r\n/);
      assert.equal(exit.exitStatus, 5);
      const { stdout } = await runc('state', id);
      assert.equal(JSON.parse(stdout).status, 'stopped');
      await runc('delete', id);
    } finally {
      cs.close();
      await runc('delete', '-f', id).catch(() => undefined);
      reaper.stop();
      rmSync(base, { recursive: true, force: true });
    }
    assert.deepEqual(defaultSys().listChildren().filter((p) => readFileSync(`/proc/${p}/stat`, 'latin1').includes(') Z')), []);
  });
});
