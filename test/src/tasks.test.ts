/**
 * System tests of tasks under `flotilla up`, driven by Debian's real `ctr`, once with Flotilla's
 * own shim (the default for io.containerd.runc.v2) and once with Debian's `containerd-shim-runc-v2`
 * (selected in the config file), both on runc: run/exec/ps/pause/resume/kill/rm, exit codes, stdin,
 * the task events in order, containerd's error codes, and kill -9 of the runtime process
 * (containers survive, exits that happened meanwhile are reported, `ctr run` keeps waiting).
 * After each test no shim, mount or bundle of the stack is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { TASK_DIR, buildBusyboxImage, bundlesLeft, ctr, ctrOk, mountsUnder, parseTaskList, processRuns, shimProcesses, startFlotilla, waitFor, writeOciArchive, type FlotillaStack } from '@flotilla/testkit';
import { startCtrEvents } from './ctr-events.js';
import { tasksClient } from './tasks-client.js';

const IMAGE = 'flotilla.test/busybox:latest';
/** A namespace of our own: ctr puts containers in cgroup /<namespace>/<id>, shared by every daemon on the machine. */
const NS = `fl-tasks-${randomBytes(4).toString('hex')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of the shims serving the daemon at `address` (idle warm shims of its runtime aside). */
const shimsOf = (address: string): number[] => shimProcesses(address).map((s) => s.pid);

/** `ctr task ls` as rows. */
const taskList = async (address: string) => parseTaskList(await ctrOk(address, ['task', 'ls'], { namespace: NS }));


const SHIMS = [
  { name: "Flotilla's shim", config: '' },
  { name: "Debian's containerd-shim-runc-v2", config: 'version = 2\n[plugins."io.containerd.runtime.v2.task"]\n  runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }\n' },
];

for (const shim of SHIMS)
describe(`tasks under flotilla up (ctr, ${shim.name}, runc)`, () => {
  let stack: FlotillaStack | undefined;
  let A: string;
  let dir: string;
  let api: ReturnType<typeof tasksClient>;

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-tasks-'));
      const image = await buildBusyboxImage();
      const archive = join(dir, 'busybox.tar');
      await writeOciArchive(image, archive);
      const args: string[] = [];
      if (shim.config) {
        writeFileSync(join(dir, 'config.toml'), shim.config);
        args.push('-c', join(dir, 'config.toml'));
      }
      stack = await startFlotilla({ args });
      A = stack.address;
      await ctrOk(A, ['images', 'import', archive], { namespace: NS });
      api = tasksClient(A, NS);
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      try {
        api?.close();
        // Whatever a failed test left: kill its shims so nothing outlives the stack.
        for (const pid of stack ? shimsOf(stack.address) : []) process.kill(pid, 'SIGKILL');
        await stack?.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
        // runc removes /<ns>/<id> cgroups; the /<ns> parents are ours to remove.
        for (const h of readdirSync('/sys/fs/cgroup')) {
          try {
            rmdirSync(join('/sys/fs/cgroup', h, NS));
          } catch {
            /* not there, or not a hierarchy */
          }
        }
      }
    },
    { timeout: 30_000 },
  );

  afterEach(async () => {
    if (!stack) return;
    // No shim, bundle or mount of this stack is left once a test cleaned up after itself.
    await waitFor('shims of the stack to exit', 5_000, () => shimsOf(stack!.address).length === 0);
    assert.deepEqual(bundlesLeft(stack.state, stack.root), [], 'bundles left');
    const mounts = mountsUnder(join(stack.state, TASK_DIR));
    assert.deepEqual(mounts, [], 'rootfs mounts left');
  });

  it('ctr run --rm prints the output; the exit code passes through; events come in order', { timeout: 30_000 }, async () => {
    const events = startCtrEvents(A, [`namespace==${NS},topic~=|^/tasks/|`]);
    try {
      await sleep(300);
      const r = await ctr(A, ['run', '--rm', IMAGE, 't1', 'echo', 'hi'], { namespace: NS });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hi\n');
      const seven = await ctr(A, ['run', '--rm', IMAGE, 't2', 'sh', '-c', 'exit 7'], { namespace: NS });
      assert.equal(seven.code, 7, seven.stderr);
      await events.waitLine((l) => l.includes('/tasks/delete') && l.includes('"container_id":"t2"'), 5_000);
      const topics = (id: string) => events.lines.filter((l) => l.text.includes(`"container_id":"${id}"`)).map((l) => /\s(\/tasks\/\S+)\s/.exec(l.text)?.[1]);
      assert.deepEqual(topics('t1'), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
      assert.deepEqual(topics('t2'), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
      const exit = events.lines.find((l) => l.text.includes('/tasks/exit') && l.text.includes('"container_id":"t2"'))!.text;
      assert.match(exit, /"exit_status":7/);
      assert.deepEqual(await taskList(A), []);
      assert.equal((await ctrOk(A, ['containers', 'ls', '-q'], { namespace: NS })).trim(), '');
    } finally {
      await events.stop();
    }
  });

  it('stdin reaches the container (echo x | ctr run --rm … cat)', { timeout: 30_000 }, async () => {
    // ctr 1.6 calls CloseIO on stdin EOF only once its task exists (an EOF before that is lost,
    // against containerd too), so the EOF comes after cat echoed the first line.
    const child = spawn('ctr', ['-a', A, '-n', NS, 'run', '--rm', IMAGE, 'stdin1', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = new Promise<number | null>((r) => child.once('close', r));
    child.stdin.write('x\n');
    await waitFor('cat to echo x', 15_000, () => stdout.includes('x\n'));
    child.stdin.end();
    assert.equal(await code, 0, stderr);
    assert.equal(stdout, 'x\n');
  });

  it('ctr run -d, task ls/ps/pause/resume/exec/kill/rm, c rm', { timeout: 30_000 }, async () => {
    await ctrOk(A, ['run', '-d', IMAGE, 'd1', 'sleep', '1000'], { namespace: NS });
    const [t] = await taskList(A);
    assert.deepEqual({ id: t!.id, status: t!.status }, { id: 'd1', status: 'RUNNING' });
    assert.ok(processRuns(t!.pid));
    const ps = (await ctrOk(A, ['task', 'ps', 'd1'], { namespace: NS })).trim().split('\n');
    assert.match(ps[0]!, /^PID\s+INFO$/);
    assert.ok(ps.slice(1).some((l) => l.trim().split(/\s+/)[0] === String(t!.pid)), ps.join('\n'));

    await ctrOk(A, ['task', 'pause', 'd1'], { namespace: NS });
    assert.equal((await taskList(A))[0]!.status, 'PAUSED');
    await ctrOk(A, ['task', 'resume', 'd1'], { namespace: NS });
    assert.equal((await taskList(A))[0]!.status, 'RUNNING');

    assert.equal(await ctrOk(A, ['task', 'exec', '--exec-id', 'e1', 'd1', 'echo', 'ok'], { namespace: NS }), 'ok\n');
    const metrics = await ctrOk(A, ['task', 'metrics', 'd1'], { namespace: NS });
    assert.match(metrics, /memory\.usage_in_bytes/);

    await ctrOk(A, ['task', 'kill', '-s', 'SIGKILL', 'd1'], { namespace: NS });
    await waitFor('d1 stopped', 5_000, async () => (await taskList(A))[0]?.status === 'STOPPED');
    const rm = await ctr(A, ['task', 'rm', 'd1'], { namespace: NS });
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, /task d1 exit with non-zero exit code 137/);
    assert.deepEqual(await taskList(A), []);
    await ctrOk(A, ['containers', 'rm', 'd1'], { namespace: NS });
  });

  it('containerd error codes: unknown runtime, duplicate exec id, kill of a finished task, Get after delete', { timeout: 30_000 }, async () => {
    const bad = await ctr(A, ['run', '--rm', '--runtime', 'io.containerd.nosuch.v1', IMAGE, 'u1', 'true'], { namespace: NS });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ctr: failed to start shim: failed to resolve runtime path: runtime "io.containerd.nosuch.v1" binary not installed "containerd-shim-nosuch-v1": file does not exist: unknown/);

    await ctrOk(A, ['run', '-d', IMAGE, 'x1', 'sleep', '1000'], { namespace: NS });
    await ctrOk(A, ['task', 'exec', '-d', '--exec-id', 'e1', 'x1', 'sleep', '1000'], { namespace: NS });
    const dup = await ctr(A, ['task', 'exec', '--exec-id', 'e1', 'x1', 'echo', 'again'], { namespace: NS });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /ctr: id e1: already exists/);
    const spec = { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args: ['true'], cwd: '/' })) };
    const exec = await api.call('Exec', { container_id: 'x1', exec_id: 'e1', spec });
    assert.equal(exec.code, grpc.status.ALREADY_EXISTS, exec.details);

    await ctrOk(A, ['task', 'kill', '-s', 'SIGKILL', 'x1'], { namespace: NS });
    await waitFor('x1 stopped', 5_000, async () => (await taskList(A))[0]?.status === 'STOPPED');
    const kill = await api.call('Kill', { container_id: 'x1', signal: 15 });
    assert.equal(kill.code, grpc.status.NOT_FOUND, kill.details);
    assert.match(kill.details, /process already finished/);
    const create = await api.call('Create', { container_id: 'x1' });
    assert.equal(create.code, grpc.status.ALREADY_EXISTS, create.details);

    const del = await api.call('Delete', { container_id: 'x1' });
    assert.equal(del.code, 0, del.details);
    assert.equal(del.value.exit_status, 137);
    const get = await api.call('Get', { container_id: 'x1' });
    assert.equal(get.code, grpc.status.NOT_FOUND);
    assert.equal(get.details, 'task x1 not found');
    await ctrOk(A, ['containers', 'rm', 'x1'], { namespace: NS });
    const noContainer = await api.call('Get', { container_id: 'x1' });
    assert.equal(noContainer.code, grpc.status.NOT_FOUND);
  });

  /** Kills the runtime process and waits for its successor to serve Tasks. */
  const restartRuntime = async (before?: (pid: number) => Promise<void> | void) => {
    const old = stack!.pidOf('runtime');
    if (before) {
      process.kill(old, 'SIGSTOP');
      await before(old);
    }
    process.kill(old, 'SIGKILL');
    await waitFor('a new runtime process', 15_000, async () => {
      try {
        const p = stack!.pidOf('runtime');
        if (!p || p === old) return false;
      } catch {
        return false;
      }
      return (await api.call('List', {})).code === 0;
    });
  };

  it('kill -9 of the runtime: a running container keeps running with the same pid; ctr run keeps waiting', { timeout: 45_000 }, async () => {
    await ctrOk(A, ['run', '-d', IMAGE, 'k1', 'sleep', '1000'], { namespace: NS });
    const [t] = await taskList(A);
    // A `ctr run` in progress while the runtime dies: its Wait is retried and still gets the exit.
    const attached = ctr(A, ['run', '--rm', IMAGE, 'k2', 'sh', '-c', 'sleep 2; exit 5'], { timeoutMs: 30_000, namespace: NS });
    await waitFor('k2 running', 10_000, async () => (await taskList(A)).some((x) => x.id === 'k2' && x.status === 'RUNNING'));
    await restartRuntime();
    const after = await taskList(A);
    assert.deepEqual(after.find((x) => x.id === 'k1'), { id: 'k1', pid: t!.pid, status: 'RUNNING' });
    assert.ok(processRuns(t!.pid));
    const r = await attached;
    assert.equal(r.code, 5, r.stderr);

    await ctrOk(A, ['task', 'kill', '-s', 'SIGKILL', 'k1'], { namespace: NS });
    await waitFor('k1 stopped', 5_000, async () => (await taskList(A))[0]?.status === 'STOPPED');
    await ctrOk(A, ['task', 'rm', 'k1'], { namespace: NS });
    await ctrOk(A, ['containers', 'rm', 'k1'], { namespace: NS });
  });

  it('a container that exits while the runtime is down reports its exit status afterwards', { timeout: 45_000 }, async () => {
    await ctrOk(A, ['run', '-d', IMAGE, 'k3', 'sleep', '1000'], { namespace: NS });
    const [t] = await taskList(A);
    await restartRuntime(async () => {
      process.kill(t!.pid, 'SIGKILL');
      await waitFor('k3 gone', 5_000, () => !processRuns(t!.pid));
    });
    assert.deepEqual(await taskList(A), [{ id: 'k3', pid: t!.pid, status: 'STOPPED' }]);
    const get = await api.call('Get', { container_id: 'k3' });
    assert.equal(get.code, 0, get.details);
    assert.equal(get.value.process.exit_status, 137);
    const rm = await ctr(A, ['task', 'rm', 'k3'], { namespace: NS });
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, /task k3 exit with non-zero exit code 137/);
    await ctrOk(A, ['containers', 'rm', 'k3'], { namespace: NS });
  });
});
