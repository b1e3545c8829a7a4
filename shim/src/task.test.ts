/**
 * The Task service, differentially: the same scenarios driven over ttrpc against our shim and
 * against Debian's `containerd-shim-runc-v2` (1.6.20), with our own `$TTRPC_ADDRESS` endpoint
 * collecting the events. Each scenario records a transcript (responses, error codes and texts,
 * statuses, event topics, container output; pids and times normalised) and the two must match.
 *
 * Needs root, runc and Debian's containerd package.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Code, codeOf, messageOf } from '@flotilla/api';
import { protosDir } from '@flotilla/protos';
import { NAMESPACE_METADATA_KEY, TtrpcClient, decodeMessage, encodeMessage, ttrpcClient, type TypedClient } from '@flotilla/ttrpc';
import { CGROUPS_V1_METRICS_PROTO } from './service.js';
import {
  EventsSink,
  GO_SHIM,
  LAUNCHER,
  busyboxRootfs,
  canRunContainers,
  forceCleanup,
  makeBundle,
  makeStdio,
  mountsUnder,
  pidAlive,
  runShim,
  tempDir,
  testRoot,
  until,
} from './test-fixtures.js';

const root = testRoot();
const canRun = canRunContainers() && existsSync(GO_SHIM);

type Kind = 'flotilla' | 'runc';
const BINARY: Record<Kind, string> = { flotilla: LAUNCHER, runc: GO_SHIM };

describe('Task service: our shim vs containerd-shim-runc-v2', { skip: canRun ? false : 'needs root, runc and containerd' }, () => {
  const tmp = tempDir('fl-shim-task-');
  const ns = `fl-shim-${randomBytes(3).toString('hex')}`;
  const rootfs = join(tmp.dir, 'rootfs-src');
  const grpc = join(tmp.dir, 'containerd.sock');
  /** Our shims' logs (the runc shim logs an error for the checkpoint it cannot make). */
  const logs: (() => string)[] = [];
  const closers: (() => void)[] = [];
  const clients: TtrpcClient[] = [];
  const shimPids: number[] = [];
  const sockets = new Set<string>();
  let sink: EventsSink;

  before(async () => {
    busyboxRootfs(rootfs);
    sink = await EventsSink.listen(join(tmp.dir, 'events.ttrpc'), root);
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const pid of shimPids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    forceCleanup(ns, tmp.dir);
    // Sockets of shims that did not exit by themselves (the runc shim killed above).
    for (const path of sockets) rmSync(path, { force: true });
    for (const c of closers) c();
    await sink?.close();
    // runc leaves the namespace's parent cgroups behind (as under containerd).
    for (const h of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, ns));
      } catch {
        // not there
      }
    }
    tmp.cleanup();
  });

  const md = () => ({ timeoutMs: 10_000, metadata: { [NAMESPACE_METADATA_KEY]: ns } });

  /** Starts `kind`'s shim for container `id` (cwd = bundle) and connects. */
  async function startShim(kind: Kind, bundle: string, id: string): Promise<{ task: TypedClient; address: string; pid: number }> {
    const r = await runShim(BINARY[kind], ['-namespace', ns, '-address', grpc, '-publish-binary', '/usr/bin/containerd', '-id', id, 'start'], {
      cwd: bundle,
      env: { ...process.env, TTRPC_ADDRESS: sink.path, GOMAXPROCS: '2' },
    });
    assert.equal(r.code, 0, `${kind} start: ${r.stderr}`);
    const address = r.stdout.toString().trim();
    sockets.add(address.slice('unix://'.length));
    const client = await TtrpcClient.connect(address);
    clients.push(client);
    const task = ttrpcClient(root, 'containerd.task.v2.Task', client);
    const pid = (await task.call<{ shim_pid: number }>('Connect', { id }, md())).shim_pid;
    shimPids.push(pid);
    return { task, address, pid };
  }

  function bundleFor(id: string, args: string[], annotations?: Record<string, string>) {
    const b = makeBundle(tmp.dir, id, { args, namespace: ns, annotations });
    if (id.includes('flotilla')) logs.push(b.log);
    closers.push(b.close);
    return b.bundle;
  }

  function stdioFor(name: string) {
    const s = makeStdio(tmp.dir, name);
    closers.push(s.close);
    return s;
  }

  const mounts = () => [{ type: 'bind', source: rootfs, options: ['rbind', 'ro'] }];

  /** A call's outcome for the transcript: the response (normalised) or `code: message`. */
  async function outcome(p: Promise<unknown>, pick?: (r: Record<string, unknown>) => unknown): Promise<unknown> {
    try {
      const r = (await p) as Record<string, unknown>;
      return pick ? pick(r) : 'ok';
    } catch (err) {
      return `${Code[codeOf(err)]}: ${messageOf(err)}`;
    }
  }

  async function lifecycle(kind: Kind): Promise<unknown[]> {
    const id = `life-${kind}`;
    const bundle = bundleFor(id, ['sh', '-c', 'echo hi; echo err >&2; exit 3']);
    const io = stdioFor(id);
    const { task } = await startShim(kind, bundle, id);
    const t: unknown[] = [];
    const created = await task.call<{ pid: number }>('Create', { id, bundle, rootfs: mounts(), stdout: io.stdout, stderr: io.stderr }, md());
    t.push(created.pid > 0);
    t.push(await outcome(task.call('State', { id }, md()), (s) => [s.id === id, s.status, s.pid === created.pid, s.bundle === bundle, s.stdout === io.stdout]));
    const wait = task.call<{ exit_status: number; exited_at: { seconds: string } }>('Wait', { id }, md());
    t.push(await outcome(task.call('Start', { id }, md()), (s) => s.pid === created.pid));
    const w = await wait;
    t.push(['wait', w.exit_status, Number(w.exited_at.seconds) > 0]);
    t.push(await outcome(task.call('State', { id }, md()), (s) => [s.status, s.exit_status]));
    t.push(await outcome(task.call('Kill', { id, signal: 9 }, md())));
    t.push(await outcome(task.call('Pause', { id }, md())));
    t.push(await outcome(task.call('Exec', { id, exec_id: 'late', spec: { type_url: 'x', value: Buffer.from('{"args":["true"]}') } }, md())));
    t.push(await outcome(task.call('Delete', { id }, md()), (d) => [d.pid === created.pid, d.exit_status]));
    t.push(await outcome(task.call('State', { id }, md())));
    t.push(await outcome(task.call('Delete', { id }, md())));
    t.push(['output', io.out(), io.err()]);
    await task.call('Shutdown', { id }, md()).catch(() => undefined);
    t.push(['events', sink.topics(id)]);
    return t;
  }

  async function createdThenDeleted(kind: Kind): Promise<unknown[]> {
    const id = `cdel-${kind}`;
    const bundle = bundleFor(id, ['sleep', '30']);
    const { task, pid: shimPid } = await startShim(kind, bundle, id);
    const t: unknown[] = [];
    const created = await task.call<{ pid: number }>('Create', { id, bundle, rootfs: mounts() }, md());
    // Deviation, on purpose: the runc shim never answers this Wait (its deleted state ignores the
    // exit), so a client hangs until the shim goes away; ours answers with the exit (137).
    const wait = task.call<{ exit_status: number }>('Wait', { id }, { ...md(), timeoutMs: kind === 'flotilla' ? 5000 : 500 });
    // Also on purpose: our DeleteResponse (and /tasks/delete) carry that 137; the runc shim's say 0
    // (its exit bookkeeping loses the race with its own delete).
    const deleted = await task.call<{ pid: number; exit_status: number }>('Delete', { id }, md());
    t.push(['delete', deleted.pid === created.pid]);
    assert.equal(deleted.exit_status, kind === 'flotilla' ? 137 : 0);
    const waited = await outcome(wait, (w) => w.exit_status);
    assert.equal(waited, kind === 'flotilla' ? 137 : 'DeadlineExceeded: context deadline exceeded');
    await sink.waitFor(id, '/tasks/delete');
    await task.call('Shutdown', { id }, md()).catch(() => undefined);
    if (kind === 'runc') {
      // Its Wait handler is still blocked, which keeps that shim from exiting: not ours to wait for.
      await new Promise((r) => setTimeout(r, 500));
      if (pidAlive(shimPid)) process.kill(shimPid, 'SIGKILL');
    }
    t.push(['events', sink.topics(id)]);
    t.push(['exit event status', sink.of(id).find((e) => e.topic === '/tasks/exit')?.event.exit_status]);
    return t;
  }

  async function execAndControls(kind: Kind): Promise<unknown[]> {
    const id = `exec-${kind}`;
    const bundle = bundleFor(id, ['sleep', '30']);
    const { task, pid: shimPid } = await startShim(kind, bundle, id);
    const t: unknown[] = [];
    const { pid } = await task.call<{ pid: number }>('Create', { id, bundle, rootfs: mounts() }, md());
    await task.call('Start', { id }, md());
    const io = stdioFor(`${id}-e1`);
    const spec = (args: string[]) => ({ type_url: 'types.containerd.io/opencontainers/runtime-spec/1/Process', value: Buffer.from(JSON.stringify({ args, cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } })) });
    t.push(await outcome(task.call('Exec', { id, exec_id: 'e1', stdout: io.stdout, stderr: io.stderr, spec: spec(['sh', '-c', 'echo exec; exit 5']) }, md())));
    t.push(await outcome(task.call('State', { id, exec_id: 'e1' }, md()), (s) => [s.id, s.status, s.pid]));
    const w1 = task.call<{ exit_status: number }>('Wait', { id, exec_id: 'e1' }, md());
    const started = await task.call<{ pid: number }>('Start', { id, exec_id: 'e1' }, md());
    t.push(['exec started', started.pid > 0 && started.pid !== pid]);
    t.push(['exec wait', (await w1).exit_status]);
    t.push(await outcome(task.call('State', { id, exec_id: 'e1' }, md()), (s) => [s.id, s.status, s.exit_status]));
    t.push(await outcome(task.call('Kill', { id, exec_id: 'e1', signal: 9 }, md())));
    t.push(await outcome(task.call('Delete', { id, exec_id: 'e1' }, md()), (d) => [d.exit_status]));
    t.push(await outcome(task.call('State', { id, exec_id: 'e1' }, md())));
    t.push(['exec output', io.out()]);
    t.push(await outcome(task.call('Exec', { id, exec_id: 'e2', spec: spec(['true']) }, md())));
    t.push(await outcome(task.call('Exec', { id, exec_id: 'e2', spec: spec(['true']) }, md())));
    t.push(await outcome(task.call('Kill', { id, exec_id: 'e2', signal: 9 }, md())));
    t.push(await outcome(task.call('Delete', { id, exec_id: 'e2' }, md()), (d) => [d.pid, d.exit_status]));
    t.push(await outcome(task.call('Pids', { id }, md()), (r) => (r.processes as { pid: number }[]).map((p) => p.pid === pid)));
    t.push(await outcome(task.call('Resume', { id }, md())));
    t.push(await outcome(task.call('Pause', { id }, md())));
    t.push(await outcome(task.call('State', { id }, md()), (s) => s.status));
    t.push(await outcome(task.call('Exec', { id, exec_id: 'e3', spec: spec(['true']) }, md())));
    t.push(await outcome(task.call('Pause', { id }, md())));
    t.push(await outcome(task.call('Resume', { id }, md())));
    t.push(await outcome(task.call('State', { id }, md()), (s) => s.status));
    const resources = { type_url: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', value: Buffer.from(JSON.stringify({ pids: { limit: 77 } })) };
    t.push(await outcome(task.call('Update', { id, resources }, md())));
    t.push(['pids.max', readFileSync(`/sys/fs/cgroup/pids/${ns}/${id}/pids.max`, 'utf8').trim()]);
    const stats = await outcome(task.call('Stats', { id }, md()), (r) => (r.stats as { type_url: string }).type_url);
    if (kind === 'runc' || existsSync(join(protosDir(), CGROUPS_V1_METRICS_PROTO))) assert.equal(stats, 'io.containerd.cgroups.v1.Metrics');
    else assert.match(String(stats), /^Unimplemented: stats: the github.com\/containerd\/cgroups\/stats\/v1\/metrics.proto proto is not in the .protos tree/);
    t.push(await outcome(task.call('ResizePty', { id, width: 80, height: 24 }, md())));
    t.push(await outcome(task.call('CloseIO', { id, stdin: true }, md())));
    t.push(await outcome(task.call('Connect', { id }, md()), (c) => [c.shim_pid === shimPid, c.task_pid === pid]));
    // Not implemented by us; the runc shim fails too here (no criu): only "it fails" is compared.
    t.push(['checkpoint fails', (await outcome(task.call('Checkpoint', { id, path: join(tmp.dir, 'cp') }, md()))) !== 'ok']);
    const w = task.call<{ exit_status: number }>('Wait', { id }, md());
    t.push(await outcome(task.call('Kill', { id, signal: 9 }, md())));
    t.push(['wait', (await w).exit_status]);
    t.push(await outcome(task.call('Delete', { id }, md()), (d) => [d.pid === pid, d.exit_status]));
    t.push(await outcome(task.call('Connect', { id }, md()), (c) => c.task_pid));
    await task.call('Shutdown', { id }, md()).catch(() => undefined);
    await until(`${kind} shim exit`, 5000, () => !pidAlive(shimPid));
    t.push(['events', sink.topics(id)]);
    return t;
  }

  async function podGroup(kind: Kind): Promise<unknown[]> {
    const group = { 'io.kubernetes.cri.sandbox-id': `pod-${kind}` };
    const a = `pa-${kind}`;
    const b = `pb-${kind}`;
    const ba = bundleFor(a, ['sleep', '30'], group);
    const bb = bundleFor(b, ['sleep', '30'], group);
    const t: unknown[] = [];
    const first = await startShim(kind, ba, a);
    await first.task.call('Create', { id: a, bundle: ba, rootfs: mounts() }, md());
    const second = await startShim(kind, bb, b);
    t.push(['same socket', second.address === first.address, 'same process', second.pid === first.pid]);
    await second.task.call('Create', { id: b, bundle: bb, rootfs: mounts() }, md());
    await first.task.call('Start', { id: a }, md());
    await second.task.call('Start', { id: b }, md());
    t.push(await outcome(first.task.call('State', { id: b }, md()), (s) => s.status));
    for (const id of [a, b]) {
      const w = first.task.call('Wait', { id }, md());
      await first.task.call('Kill', { id, signal: 9 }, md());
      await w;
      await first.task.call('Delete', { id }, md());
      t.push(await outcome(first.task.call('Shutdown', { id }, md())));
      await new Promise((r) => setTimeout(r, 300));
      t.push([`alive after deleting ${id === a ? 'a' : 'b'}`, pidAlive(first.pid)]);
    }
    await until(`${kind} shim exit`, 5000, () => !pidAlive(first.pid));
    t.push(['socket removed', !existsSync(first.address.slice('unix://'.length))]);
    return t;
  }

  async function runcOptionsAndDelete(kind: Kind): Promise<unknown[]> {
    const id = `opt-${kind}`;
    const bundle = bundleFor(id, ['sleep', '30']);
    const wrapper = join(tmp.dir, 'wrapped-oci');
    const calls = join(tmp.dir, `wrapped-oci.${kind}.log`);
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> "$(dirname "$0")/wrapped-oci.$MY_RUNC_KIND.log"\nexec runc "$@"\n`, { mode: 0o755 });
    const runcRoot = join(tmp.dir, `state-root.${kind}`);
    process.env.MY_RUNC_KIND = kind; // inherited by the shim, and by runc through it
    const { task, pid: shimPid } = await startShim(kind, bundle, id);
    delete process.env.MY_RUNC_KIND;
    const t: unknown[] = [];
    const opts = root.lookupType('containerd.runc.v1.Options');
    const options = { type_url: 'containerd.runc.v1.Options', value: encodeMessage(opts, { binary_name: wrapper, root: runcRoot, no_new_keyring: true }) };
    const { pid } = await task.call<{ pid: number }>('Create', { id, bundle, rootfs: mounts(), options }, md());
    await task.call('Start', { id }, md());
    t.push(['options.json', JSON.parse(readFileSync(join(bundle, 'options.json'), 'utf8'))]);
    t.push(['runtime', readFileSync(join(bundle, 'runtime'), 'utf8')]);
    t.push(['runc state dir', existsSync(join(runcRoot, ns, id))]);
    // The shim dies; containerd then runs `<shim> delete` in the bundle.
    process.kill(shimPid, 'SIGKILL');
    await until('shim killed', 5000, () => !pidAlive(shimPid));
    const r = await runShim(BINARY[kind], ['-namespace', ns, '-address', grpc, '-publish-binary', '/usr/bin/containerd', '-id', id, '-bundle', bundle, 'delete'], {
      cwd: bundle,
      env: { ...process.env, MY_RUNC_KIND: kind },
    });
    t.push(['delete exit', r.code]);
    const res = decodeMessage<{ pid: number; exit_status: number }>(root.lookupType('containerd.task.v2.DeleteResponse'), r.stdout);
    t.push(['delete response', res.pid === pid, res.exit_status]);
    await until('container gone', 5000, () => !pidAlive(pid));
    t.push(['rootfs unmounted', mountsUnder(join(bundle, 'rootfs')).length === 0]);
    t.push(['runc state removed', existsSync(join(runcRoot, ns, id))]);
    const norm = (line: string) => line.split(bundle).join('BUNDLE').split(runcRoot).join('ROOT');
    t.push(['runc calls', readFileSync(calls, 'utf8').trim().split('\n').map(norm)]);
    return JSON.parse(JSON.stringify(t).split(`-${kind}`).join('-KIND').split(`.${kind}`).join('.KIND')) as unknown[];
  }

  for (const [name, scenario] of [
    ['lifecycle: create, wait before start, output, exit 3, delete', lifecycle],
    ['a created task deleted without start exits 137 before /tasks/delete', createdThenDeleted],
    ['exec, pause/resume, update, kill and the errors of each state', execAndControls],
    ['pod grouping: two containers in one shim, shutdown when the last is gone', podGroup],
    ['runc options (binary_name, root, no_new_keyring) and `delete` after the shim died', runcOptionsAndDelete],
  ] as const) {
    test(name, async (t) => {
      const ours = await scenario('flotilla');
      const theirs = await scenario('runc');
      t.diagnostic(JSON.stringify(ours));
      assert.deepEqual(ours, theirs, `flotilla vs runc shim\nours:   ${JSON.stringify(ours)}\ntheirs: ${JSON.stringify(theirs)}`);
    });
  }

  test('every shim is gone, nothing is mounted, and the logs have no errors', async () => {
    for (const pid of shimPids) {
      const what = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') : '';
      await until(`shim ${pid} exit (${what})`, 5000, () => !pidAlive(pid));
    }
    assert.deepEqual(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(tmp.dir)),
      [],
    );
    for (const log of logs) assert.doesNotMatch(log(), /"level":(50|60)/);
  });
});
