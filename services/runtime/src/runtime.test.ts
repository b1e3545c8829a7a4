/**
 * The runtime against Debian's real `containerd-shim-runc-v2` and runc: TaskManager + LocalTasks
 * (no bus) with fake container and snapshot sources, a bind-mounted busybox rootfs, and our ttrpc
 * events endpoint receiving the shim's events. Needs root, runc, the shim and busybox-static.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import type { EventPayload } from '@flotilla/bus';
import { createLogger, silentLogger } from '@flotilla/log';
import { listBundles } from './bundle.js';
import { DEFAULT_TIMEOUTS, type RuntimeConfig } from './config.js';
import { EventsEndpoint } from './events-endpoint.js';
import { runtimeRoot } from './protos.js';
import { TaskManager } from './task-manager.js';
import { LocalTasks, type ContainerRecord } from './tasks-service.js';
import { TaskStatus, type Mount } from './types.js';

const SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun = process.geteuid?.() === 0 && existsSync(SHIM) && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `pid` runs (a zombie waiting for PID 1 to reap it counts as gone). */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until<T>(what: string, ms: number, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('runtime with containerd-shim-runc-v2', { skip: canRun ? false : 'needs root, runc, containerd-shim-runc-v2 and busybox-static' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'fl-rt-'));
  const ns = 'rt-test';
  const rootfsDir = join(dir, 'rootfs');
  const root = runtimeRoot();
  const events: { topic: string; ns: string; event: EventPayload }[] = [];
  const config: RuntimeConfig = {
    stateDir: join(dir, 'state', 'io.containerd.runtime.v2.task'),
    rootDir: join(dir, 'root', 'io.containerd.runtime.v2.task'),
    grpcAddress: join(dir, 'containerd.sock'),
    ttrpcAddress: join(dir, 'containerd.sock.ttrpc'),
    ttrpcUid: 0,
    ttrpcGid: 0,
    runtimes: {},
    runcRoot: join(dir, 'runc'),
    publishBinary: '/bin/true',
    shimDebug: false,
    flotillaShim: '',
    warmShims: 0,
    timeouts: { ...DEFAULT_TIMEOUTS },
  };
  const publish = (topic: string, n: string, event: EventPayload) => void events.push({ topic, ns: n, event });
  const endpoint = new EventsEndpoint({ address: config.ttrpcAddress, root, log: silentLogger(), publish });
  const containers = new Map<string, ContainerRecord>();
  const managers: TaskManager[] = [];
  const shimPids = new Set<number>();

  const newManager = () => {
    const m = new TaskManager({ config, root, log: process.env.RT_DEBUG ? createLogger('rt-test', 'debug') : silentLogger(), publish, containerRuntime: async () => 'io.containerd.runc.v2' });
    managers.push(m);
    return m;
  };
  const service = (m: TaskManager) =>
    new LocalTasks({
      manager: m,
      log: silentLogger(),
      containers: {
        get: async (n, id) => {
          const c = containers.get(`${n}/${id}`);
          if (!c) throw Object.assign(new Error(`container "${id}" in namespace "${n}": not found`), { code: Code.NotFound });
          return c;
        },
      },
      snapshots: { mounts: async (): Promise<Mount[]> => [{ type: 'bind', source: rootfsDir, options: ['rbind', 'rw'] }] },
    });
  const container = (id: string, args: string[], runtime = 'io.containerd.runc.v2') => {
    const spec = {
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin'], cwd: '/' },
      root: { path: 'rootfs', readonly: false },
      hostname: id,
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
    };
    containers.set(`${ns}/${id}`, {
      id,
      runtime: { name: runtime },
      spec: { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from(JSON.stringify(spec)) },
      snapshotter: 'overlayfs',
      snapshot_key: id,
    });
  };
  const out = (id: string) => join(dir, `${id}.out`);
  const ctx = { namespace: ns };
  const topicsOf = (id: string) => events.filter((e) => (e.event.value as { container_id?: string }).container_id === id).map((e) => e.topic);
  const mountedUnder = (path: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1]?.startsWith(path));
  const rememberShim = async (m: TaskManager, id: string) => {
    const t = await m.get(ns, id);
    const pid = (await t.connectInfo()).shim_pid;
    shimPids.add(pid);
    return pid;
  };

  before(async () => {
    mkdirSync(join(rootfsDir, 'bin'), { recursive: true });
    mkdirSync(join(rootfsDir, 'proc'));
    mkdirSync(join(rootfsDir, 'dev'));
    copyFileSync('/bin/busybox', join(rootfsDir, 'bin', 'busybox'));
    for (const a of ['sh', 'echo', 'sleep', 'cat', 'true']) copyFileSync('/bin/busybox', join(rootfsDir, 'bin', a));
    endpoint.start();
    assert.equal(await endpoint.waitListening(2000), true);
  });

  after(async () => {
    for (const m of managers) m.close();
    for (const pid of shimPids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await endpoint.stop();
    for (const m of mountedUnder(dir).reverse()) spawnUmount(m.split(' ')[1]!);
    rmSync(dir, { recursive: true, force: true });
  });

  test('create, wait, start, delete: exit status, output, events in order, nothing left', async () => {
    const m = newManager();
    const svc = service(m);
    container('c1', ['/bin/sh', '-c', 'echo hi; exit 7']);
    const created = await svc.create({ container_id: 'c1', stdout: `file://${out('c1')}`, stderr: `file://${out('c1')}` }, ctx);
    assert.ok(created.pid > 0);
    const shim = await rememberShim(m, 'c1');
    const got = await svc.get({ container_id: 'c1' }, ctx);
    assert.equal(got.process.status, TaskStatus.CREATED);
    assert.equal(got.process.pid, created.pid);
    assert.deepEqual((await svc.list({}, ctx)).tasks.map((t) => t.id), ['c1']);
    const waiting = svc.wait({ container_id: 'c1' }, ctx);
    assert.equal((await svc.start({ container_id: 'c1' }, ctx)).pid, created.pid);
    assert.equal((await waiting).exit_status, 7);
    assert.equal((await svc.get({ container_id: 'c1' }, ctx)).process.status, TaskStatus.STOPPED);
    const del = await svc.delete({ container_id: 'c1' }, ctx);
    assert.equal(del.exit_status, 7);
    assert.equal(del.pid, created.pid);
    assert.equal(readFileSync(out('c1'), 'utf8'), 'hi\n');
    await assert.rejects(svc.get({ container_id: 'c1' }, ctx), (e: Error) => codeOf(e) === Code.NotFound && e.message === 'task c1 not found');
    await assert.rejects(svc.delete({ container_id: 'c1' }, ctx), (e) => codeOf(e) === Code.NotFound);
    await until('/tasks/delete of c1', 3000, () => topicsOf('c1').includes('/tasks/delete'));
    assert.deepEqual(topicsOf('c1'), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    await until('shim exit', 3000, () => !pidAlive(shim));
    assert.deepEqual(listBundles(config), []);
    assert.deepEqual(readdirSync(join(config.rootDir, ns)), []);
    assert.deepEqual(mountedUnder(config.stateDir), []);
  });

  test('exec, duplicate exec id, kill of a stopped task, second create: containerd error kinds', async () => {
    const m = newManager();
    const svc = service(m);
    container('c2', ['/bin/sleep', '1000']);
    await svc.create({ container_id: 'c2' }, ctx);
    await rememberShim(m, 'c2');
    await svc.start({ container_id: 'c2' }, ctx);
    await assert.rejects(svc.create({ container_id: 'c2' }, ctx), (e: Error) => codeOf(e) === Code.AlreadyExists && e.message === 'task c2: already exists');
    const proc = { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args: ['/bin/echo', 'ok'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } })) };
    await svc.exec({ container_id: 'c2', exec_id: 'e1', stdout: `file://${out('e1')}`, stderr: `file://${out('e1')}`, spec: proc }, ctx);
    await assert.rejects(svc.exec({ container_id: 'c2', exec_id: 'e1', spec: proc }, ctx), (e: Error) => codeOf(e) === Code.AlreadyExists && /id e1: already exists/.test(e.message));
    await assert.rejects(svc.exec({ container_id: 'c2', exec_id: '', spec: proc }, ctx), (e) => codeOf(e) === Code.InvalidArgument);
    await assert.rejects(svc.exec({ container_id: 'c2', exec_id: 'bad/id', spec: proc }, ctx), (e) => codeOf(e) === Code.InvalidArgument);
    const waiting = svc.wait({ container_id: 'c2', exec_id: 'e1' }, ctx);
    assert.ok((await svc.start({ container_id: 'c2', exec_id: 'e1' }, ctx)).pid > 0);
    assert.equal((await waiting).exit_status, 0);
    assert.equal(readFileSync(out('e1'), 'utf8'), 'ok\n');
    assert.equal((await svc.deleteProcess({ container_id: 'c2', exec_id: 'e1' }, ctx)).id, 'e1');
    await assert.rejects(svc.get({ container_id: 'c2', exec_id: 'e1' }, ctx), (e) => codeOf(e) === Code.NotFound);
    const pids = await svc.listPids({ container_id: 'c2' }, ctx);
    assert.ok(pids.processes.length >= 1);
    const metrics = await svc.metrics({ filters: ['id==c2'] }, ctx);
    assert.equal(metrics.metrics.length, 1);
    assert.ok(metrics.metrics[0]!.data?.type_url.includes('Metrics'));
    await svc.kill({ container_id: 'c2', signal: 9 }, ctx);
    assert.equal((await svc.wait({ container_id: 'c2' }, ctx)).exit_status, 137);
    await assert.rejects(svc.kill({ container_id: 'c2', signal: 15 }, ctx), (e: Error) => codeOf(e) === Code.NotFound && /process already finished/.test(e.message));
    await assert.rejects(svc.checkpoint({ container_id: 'c2' }, ctx), (e) => codeOf(e) === Code.Unimplemented);
    assert.equal((await svc.delete({ container_id: 'c2' }, ctx)).exit_status, 137);
    assert.deepEqual(listBundles(config), []);
  });

  test('a created task that never started: delete publishes /tasks/exit (137) then /tasks/delete', async () => {
    const m = newManager();
    const svc = service(m);
    container('c3', ['/bin/true']);
    await svc.create({ container_id: 'c3' }, ctx);
    await rememberShim(m, 'c3');
    await svc.delete({ container_id: 'c3' }, ctx);
    await until('/tasks/delete of c3', 3000, () => topicsOf('c3').includes('/tasks/delete'));
    assert.deepEqual(topicsOf('c3'), ['/tasks/create', '/tasks/exit', '/tasks/delete']);
    const exit = events.find((e) => e.topic === '/tasks/exit' && (e.event.value as { container_id: string }).container_id === 'c3')!;
    assert.equal((exit.event.value as { exit_status: number }).exit_status, 137);
  });

  test('unknown runtime and missing container: containerd codes, nothing left behind', async () => {
    const svc = service(newManager());
    container('u1', ['/bin/true'], 'io.containerd.nosuch.v1');
    await assert.rejects(svc.create({ container_id: 'u1' }, ctx), (e: Error) => {
      assert.equal(codeOf(e), Code.Unknown);
      assert.equal(e.message, 'failed to start shim: failed to resolve runtime path: runtime "io.containerd.nosuch.v1" binary not installed "containerd-shim-nosuch-v1": file does not exist');
      return true;
    });
    await assert.rejects(svc.create({ container_id: 'nope' }, ctx), (e) => codeOf(e) === Code.NotFound);
    await assert.rejects(svc.get({ container_id: 'u1' }, ctx), (e: Error) => codeOf(e) === Code.NotFound && e.message === 'task u1 not found');
    await assert.rejects(svc.list({}, { namespace: '' }), (e) => codeOf(e) === Code.FailedPrecondition);
    assert.deepEqual(listBundles(config), []);
  });

  test('recovery: a new runtime reconnects to a running task (same pid) and cleans up after a shim that died meanwhile', async () => {
    const m1 = newManager();
    const svc1 = service(m1);
    container('r1', ['/bin/sleep', '1000']);
    container('r2', ['/bin/sleep', '1000']);
    await svc1.create({ container_id: 'r1' }, ctx);
    await svc1.start({ container_id: 'r1' }, ctx);
    await svc1.create({ container_id: 'r2' }, ctx);
    await svc1.start({ container_id: 'r2' }, ctx);
    const pid1 = (await svc1.get({ container_id: 'r1' }, ctx)).process.pid;
    const pid2 = (await svc1.get({ container_id: 'r2' }, ctx)).process.pid;
    await rememberShim(m1, 'r1');
    const shim2 = await rememberShim(m1, 'r2');
    const r2Socket = readFileSync(join(config.stateDir, ns, 'r2', 'address'), 'utf8').trim().replace(/^unix:\/\//, '');
    assert.ok(existsSync(r2Socket));
    m1.close(); // the runtime goes away; shims and containers stay
    process.kill(shim2, 'SIGKILL');
    await until('shim of r2 gone', 3000, () => !pidAlive(shim2));

    const m2 = newManager();
    const svc2 = service(m2);
    await m2.load();
    const r1 = (await svc2.get({ container_id: 'r1' }, ctx)).process;
    assert.equal(r1.status, TaskStatus.RUNNING);
    assert.equal(r1.pid, pid1);
    await assert.rejects(svc2.get({ container_id: 'r2' }, ctx), (e) => codeOf(e) === Code.NotFound);
    assert.deepEqual(topicsOf('r2').slice(-2), ['/tasks/exit', '/tasks/delete']);
    await until('the container of r2 killed by shim delete', 3000, () => !pidAlive(pid2));
    assert.deepEqual(listBundles(config).map((b) => b.id), ['r1']);
    assert.equal(existsSync(r2Socket), false, 'the dead shim socket is removed');

    // A shim dying while connected: the waiter learns the exit, events go out, the bundle goes.
    const shim1 = await rememberShim(m2, 'r1');
    const r1Socket = (await m2.get(ns, 'r1')).address.replace(/^unix:\/\//, '');
    const waiting = svc2.wait({ container_id: 'r1' }, ctx);
    const before = topicsOf('r1').length;
    process.kill(shim1, 'SIGKILL');
    const w = await waiting;
    assert.equal(w.exit_status, 137, 'runc delete --force killed the container');
    await until('events of the dead shim', 3000, () => topicsOf('r1').length >= before + 2);
    assert.deepEqual(topicsOf('r1').slice(-2), ['/tasks/exit', '/tasks/delete']);
    await until('r1 cleaned up', 3000, () => listBundles(config).length === 0);
    assert.equal(existsSync(r1Socket), false, 'the dead shim socket is removed');
    await until('the container of r1 gone', 3000, () => !pidAlive(pid1));
    assert.deepEqual(mountedUnder(config.stateDir), []);
  });
});

function spawnUmount(target: string): void {
  spawnSync('umount', ['-l', target]);
}
