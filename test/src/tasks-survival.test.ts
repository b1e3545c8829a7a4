/**
 * Containers survive Flotilla (ARCHITECTURE §5: running containers belong to shims, not to
 * services), driven by Debian's real `ctr` against `flotilla up` on runc, once with Flotilla's own
 * shim (the default) and once with Debian's `containerd-shim-runc-v2`. With 20 containers running:
 * kill -9 of the runtime, then of the gateway, then of the whole Flotilla process tree except the
 * shims (supervisor, nats-server, every service) and a second `flotilla up` on the same root and
 * state → `ctr task ls` shows the 20 RUNNING with the same pids each time, served by the same shim
 * processes; a container that exited while everything was down reports its real exit status (5);
 * once everything is killed and removed no shim, shim socket, mount, FIFO (ours or ctr's), bundle
 * or container cgroup is left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TASK_DIR, buildBusyboxImage, bundlesLeft, commandWords, ctr, ctrOk, mountsUnder, parseTaskList, processRuns, type TaskRow, shimProcesses, startFlotilla, waitFor, writeOciArchive, type FlotillaStack } from '@flotilla/testkit';
import { tasksClient } from './tasks-client.js';

const IMAGE = 'flotilla.test/busybox:latest';

const COUNT = 20;
const IDS = Array.from({ length: COUNT }, (_, i) => `c${i}`);
/** Exits 5 on SIGTERM (a pid-namespace init only gets the signals it handles). */
const EXITER = 'x1';
const EXITER_CMD = ['sh', '-c', "trap 'exit 5' TERM; while :; do sleep 1; done"];

type Task = TaskRow;

/** Words of `pid`'s command line, or undefined once it is gone. */
const cmdline = (pid: number): string[] | undefined => {
  const w = commandWords(pid);
  return w.length ? w : undefined;
};
const running = processRuns;

const isShim = (cmd: string[]) => cmd.some((a) => /(containerd-shim-runc-v2|containerd-shim-flotilla-v2|shim\/dist\/main\.js)$/.test(a));

/**
 * Pids of the shims serving the daemon at `address` that serve a task; with `idle`, also
 * Flotilla's warm shims waiting for one (the runtime's pool; they exit with that runtime).
 */
const shimsOf = (address: string, opts: { idle?: boolean } = {}): number[] =>
  shimProcesses(address, { includeWarm: opts.idle })
    .map((s) => s.pid)
    .sort((x, y) => x - y);

/** `root` and every process below it (by parent pid), except shims and what runs below them. */
function treeExceptShims(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    const cmd = cmdline(pid);
    if (!cmd || isShim(cmd)) return;
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** FIFOs anywhere below `dir`. */
function fifosUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      try {
        const st = lstatSync(p);
        if (st.isFIFO()) out.push(p);
        else if (st.isDirectory()) walk(p);
      } catch {
        /* gone */
      }
    }
  };
  walk(dir);
  return out;
}

/** Kills what still runs in the cgroups /<ns>/<id> (containers a failed test left), then removes them and /<ns>. */
async function removeCgroups(ns: string): Promise<void> {
  const nsDirs = readdirSync('/sys/fs/cgroup')
    .map((h) => join('/sys/fs/cgroup', h, ns))
    .filter((d) => existsSync(d));
  const cgroups = nsDirs.flatMap((d) => readdirSync(d).map((e) => join(d, e)).filter((e) => lstatSync(e).isDirectory()));
  const procs = () => cgroups.flatMap((c) => (existsSync(c) ? readFileSync(join(c, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number) : []));
  for (const pid of new Set(procs())) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await waitFor(`the processes in cgroups /${ns}/* to exit`, 10_000, () => procs().length === 0).catch(() => undefined);
  for (const d of [...cgroups, ...nsDirs]) {
    try {
      rmdirSync(d);
    } catch {
      /* busy: reported by the test that left it */
    }
  }
}


/** Runs `fn` over `items`, `n` at a time. */
async function inBatches<T>(items: T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(fn));
}

const SHIMS = [
  { name: "Flotilla's shim", config: '' },
  { name: "Debian's containerd-shim-runc-v2", config: 'version = 2\n[plugins."io.containerd.runtime.v2.task"]\n  runtimes = { "io.containerd.runc.v2" = "/usr/bin/containerd-shim-runc-v2" }\n' },
];

for (const shim of SHIMS)
describe(`20 containers survive kill -9 of runtime, gateway, and the whole Flotilla tree (ctr, ${shim.name}, runc)`, () => {
  /** A namespace of our own: ctr puts containers in cgroup /<namespace>/<id>, shared by every daemon on the machine. */
  const NS = `fl-surv-${randomBytes(4).toString('hex')}`;
  let stack: FlotillaStack | undefined;
  let A: string;
  let work: string;
  let fifoDir: string;
  let args: string[];
  /** The shims' ttrpc sockets (`<bundle>/address`), which live outside the stack's directories. */
  const shimSockets = new Set<string>();
  /** Every process of Flotilla (not shims) we ever saw, with its argv: killed in after() if still there. */
  const seen = new Map<number, string>();
  /** Pids of c0…c19 when they started. */
  const pids = new Map<string, number>();

  const ctrNs = (args: string[], timeoutMs = 30_000) => ctrOk(A, args, { namespace: NS, timeoutMs });

  /** `ctr task ls` as rows, sorted by id. */
  const taskList = async (): Promise<Task[]> => parseTaskList(await ctrNs(['task', 'ls'])).sort((a, b) => a.id.localeCompare(b.id));

  /** All 20 RUNNING with the pids they started with, and those pids still run. */
  const assertSurvivors = async (what: string) => {
    const ls = await taskList();
    const got = ls.filter((t) => IDS.includes(t.id));
    const want = IDS.map((id) => ({ id, pid: pids.get(id)!, status: 'RUNNING' })).sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(got, want, `after ${what}`);
    for (const t of want) assert.ok(running(t.pid), `${t.id} (pid ${t.pid}) is not running after ${what}`);
  };

  const remember = () => {
    try {
      const st = stack!.status();
      for (const pid of new Set([st.pid, ...st.processes.map((p) => p.pid), ...treeExceptShims(st.pid)])) {
        const cmd = pid ? cmdline(pid) : undefined;
        if (cmd) seen.set(pid, cmd.join(' '));
      }
    } catch {
      /* no status yet */
    }
  };

  const recordShimSockets = () => {
    const base = join(stack!.state, TASK_DIR, NS);
    for (const id of readdirSync(base)) {
      const address = readFileSync(join(base, id, 'address'), 'utf8').trim();
      assert.match(address, /^unix:\/\//);
      shimSockets.add(address.slice('unix://'.length));
    }
  };

  /** kill -9 of one service; resolves once the supervisor runs a new one and ctr task ls answers. */
  const killService = async (service: string) => {
    const old = stack!.pidOf(service);
    const shimsBefore = shimsOf(A);
    process.kill(old, 'SIGKILL');
    await waitFor(`a new ${service} process`, 20_000, () => {
      try {
        const p = stack!.pidOf(service);
        return p && p !== old && running(p);
      } catch {
        return false;
      }
    });
    remember();
    await waitFor('ctr task ls to answer', 20_000, async () => (await ctr(A, ['task', 'ls'], { namespace: NS, timeoutMs: 10_000 })).code === 0);
    assert.equal(running(old), false);
    assert.deepEqual(shimsOf(A), shimsBefore, 'the shims are the same processes');
  };

  before(
    async () => {
      work = mkdtempSync(join(tmpdir(), 'flotilla-surv-'));
      fifoDir = join(work, 'fifo');
      const image = await buildBusyboxImage();
      const archive = join(work, 'busybox.tar');
      await writeOciArchive(image, archive);
      args = [];
      if (shim.config) {
        writeFileSync(join(work, 'config.toml'), shim.config);
        args.push('-c', join(work, 'config.toml'));
      }
      stack = await startFlotilla({ args });
      A = stack.address;
      remember();
      await ctrNs(['images', 'import', archive], 60_000);
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      try {
        // Whatever a failed test left: kill its shims and every Flotilla process we saw.
        for (const pid of stack ? shimsOf(stack.address, { idle: true }) : []) process.kill(pid, 'SIGKILL');
        remember();
        await stack?.stop({ keep: true });
        for (const [pid, cmd] of seen) if (running(pid) && cmdline(pid)?.join(' ') === cmd) process.kill(pid, 'SIGKILL');
        if (stack) {
          // Rootfs mounts a failed test left behind.
          const mounts = readFileSync('/proc/self/mounts', 'utf8')
            .split('\n')
            .map((l) => l.split(' ')[1] ?? '')
            .filter((m) => m.startsWith(stack!.dir + '/'))
            .sort((a, b) => b.length - a.length);
          for (const m of mounts) spawnSync('umount', ['-l', m]);
          rmSync(stack.dir, { recursive: true, force: true });
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
        await removeCgroups(NS);
      }
    },
    { timeout: 60_000 },
  );

  it('start 20 containers (ctr run -d … sleep 1000)', { timeout: 90_000 }, async () => {
    await inBatches(IDS, 4, (id) => ctrNs(['run', '-d', '--fifo-dir', fifoDir, IMAGE, id, 'sleep', '1000'], 60_000));
    const ls = await taskList();
    assert.deepEqual(
      ls.map((t) => `${t.id} ${t.status}`),
      IDS.map((id) => `${id} RUNNING`).sort(),
    );
    for (const t of ls) {
      assert.ok(t.pid > 0 && running(t.pid), `${t.id}: pid ${t.pid}`);
      pids.set(t.id, t.pid);
    }
    assert.equal(new Set(pids.values()).size, COUNT);
    assert.equal(shimsOf(A).length, COUNT, 'one shim per container');
    recordShimSockets();
  });

  it('kill -9 of the runtime: all 20 RUNNING with the same pids', { timeout: 60_000 }, async () => {
    assert.equal(pids.size, COUNT);
    await killService('runtime');
    await assertSurvivors('kill -9 of the runtime');
  });

  it('kill -9 of the gateway: all 20 RUNNING with the same pids', { timeout: 60_000 }, async () => {
    assert.equal(pids.size, COUNT);
    await killService('gateway');
    await assertSurvivors('kill -9 of the gateway');
  });

  it(
    'kill -9 of the whole Flotilla tree except shims, exit of a container meanwhile, flotilla up again: 20 RUNNING, the exit status is real',
    { timeout: 90_000 },
    async () => {
      assert.equal(pids.size, COUNT);
      await ctrNs(['run', '-d', '--fifo-dir', fifoDir, IMAGE, EXITER, ...EXITER_CMD], 60_000);
      const exiter = (await taskList()).find((t) => t.id === EXITER)!;
      assert.equal(exiter.status, 'RUNNING');
      const shims = shimsOf(A);
      assert.equal(shims.length, COUNT + 1);
      recordShimSockets();

      // Freeze the supervisor first so it restarts nothing, then kill it and everything below it.
      const old = stack!;
      const supervisor = old.status().pid;
      assert.equal(supervisor, old.process.pid);
      process.kill(supervisor, 'SIGSTOP');
      remember();
      const tree = treeExceptShims(supervisor);
      const names = tree.map((p) => (cmdline(p) ?? []).join(' '));
      assert.ok(names.some((c) => c.includes('nats-server')), `nats-server in the tree:\n${names.join('\n')}`);
      for (const s of old.status().processes) assert.ok(tree.includes(s.pid), `${s.service} (${s.pid}) in the tree`);
      for (const pid of tree) process.kill(pid, 'SIGKILL');
      await waitFor('the Flotilla tree to be gone', 20_000, () => tree.every((p) => !running(p)));
      await waitFor('flotilla up (the test child) to be reaped', 10_000, () => old.process.exitCode !== null || old.process.signalCode !== null);

      // While nothing of Flotilla runs: the containers and their shims do; one container exits 5.
      assert.deepEqual(shimsOf(A), shims, 'every shim survived');
      for (const [id, pid] of pids) assert.ok(running(pid), `${id} survived`);
      process.kill(exiter.pid, 'SIGTERM');
      await waitFor(`${EXITER} (pid ${exiter.pid}) to exit`, 15_000, () => !running(exiter.pid));

      // A second `flotilla up` on the same root and state (the old socket is stale).
      stack = await startFlotilla({ dir: old.dir, args });
      assert.equal(stack.address, A);
      remember();
      await waitFor('ctr task ls to answer', 20_000, async () => (await ctr(A, ['task', 'ls'], { namespace: NS, timeoutMs: 10_000 })).code === 0);
      await assertSurvivors('kill -9 of the whole tree and flotilla up');
      const ls = await taskList();
      assert.deepEqual(
        ls.find((t) => t.id === EXITER),
        { id: EXITER, pid: exiter.pid, status: 'STOPPED' },
      );
      assert.deepEqual(shimsOf(A), shims, 'the same shims serve the new stack');

      const api = tasksClient(A, NS);
      try {
        const get = await api.call('Get', { container_id: EXITER });
        assert.equal(get.code, 0, get.details);
        assert.equal(get.value.process.pid, exiter.pid);
        assert.equal(get.value.process.exit_status, 5);
      } finally {
        api.close();
      }
      const rm = await ctr(A, ['task', 'rm', EXITER], { namespace: NS });
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stderr, new RegExp(`task ${EXITER} exit with non-zero exit code 5\\b`));
      await ctrNs(['containers', 'rm', EXITER]);
      await assertSurvivors('deleting the exited task');
      // The new stack drives the old shims: exec into one survivor.
      assert.equal(await ctrNs(['task', 'exec', '--fifo-dir', fifoDir, '--exec-id', 'e1', 'c7', 'echo', 'still here']), 'still here\n');
    },
  );

  it('kill and remove all: no shim, mount, FIFO or bundle of the stack is left', { timeout: 60_000 }, async () => {
    assert.equal(pids.size, COUNT);
    await inBatches(IDS, 5, (id) => ctrNs(['task', 'kill', '-s', 'SIGKILL', id]));
    await waitFor('all 20 STOPPED', 20_000, async () => (await taskList()).every((t) => t.status === 'STOPPED'));
    await inBatches(IDS, 5, async (id) => {
      const rm = await ctr(A, ['task', 'rm', id], { namespace: NS });
      assert.equal(rm.code, 0, rm.stderr);
      assert.match(rm.stderr, new RegExp(`task ${id} exit with non-zero exit code 137`));
      await ctrNs(['containers', 'rm', id]);
    });
    assert.deepEqual(await taskList(), []);
    assert.equal((await ctrNs(['containers', 'ls', '-q'])).trim(), '');

    await waitFor('the shims to exit', 15_000, () => shimsOf(A).length === 0);
    for (const pid of pids.values()) assert.equal(running(pid), false);
    assert.deepEqual(bundlesLeft(stack!.state, stack!.root), [], 'bundles left');
    const mounts = mountsUnder(stack!.dir);
    assert.deepEqual(mounts, [], 'mounts left');
    assert.deepEqual(fifosUnder(stack!.dir), [], 'FIFOs left under root/state');
    // ctr's own stdio FIFOs: `ctr task rm` removes them with the paths the (restarted) runtime reports.
    assert.deepEqual(fifosUnder(fifoDir), [], "ctr's FIFOs left");
    assert.equal(shimSockets.size, COUNT + 1);
    assert.deepEqual([...shimSockets].filter((p) => existsSync(p)), [], 'shim sockets left');
    for (const h of readdirSync('/sys/fs/cgroup')) {
      let left: string[] = [];
      try {
        left = readdirSync(join('/sys/fs/cgroup', h, NS)).filter((e) => lstatSync(join('/sys/fs/cgroup', h, NS, e)).isDirectory());
      } catch {
        /* none */
      }
      assert.deepEqual(left, [], `container cgroups left under /sys/fs/cgroup/${h}/${NS}`);
    }
  });
});
