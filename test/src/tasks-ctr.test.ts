/**
 * Differential task tests: the same `ctr` (Debian's 1.6) command sequences against Debian's
 * containerd (the reference, with Debian's containerd-shim-runc-v2) and against `flotilla up`
 * (with Flotilla's shim, the default for io.containerd.runc.v2); exit codes, stdout and stderr
 * must be equal after normalising what must differ (namespaces, temporary directories, pids,
 * times, measured metric values, the padding of tables whose cells were normalised, the order of
 * `task ls` rows — containerd lists its tasks in Go map order).
 *
 * Covered: `ctr run -t` and `ctr task exec -t` in a real terminal (tmux: the screen is compared;
 * the window size reaches the container and follows resizes; exit codes pass through);
 * `ctr run -d` and `task ls | ps | pause | resume | kill | rm | exec | start | attach |
 * metrics` in each state with their error texts; a task in the CREATED state; `ctr c create` +
 * `ctr task start`; cgroup v1 metrics (table and JSON) and memory/pids limits set at run and by
 * Tasks.Update (ctr 1.6 has no `task update`, so that goes through the gRPC API); the runc
 * options: BinaryName (crun), Root, SystemdCgroup, and a runtime binary that does not exist.
 *
 * Each daemon gets a namespace of its own: ctr names cgroups `/<namespace>/<id>`, and runc state
 * is kept under /run/containerd/runc/<namespace> by containerd's shim (and, today, by Flotilla's:
 * the runtime gives its `runc_root` only to containerd-shim-runc-v2), so one namespace would make
 * the two daemons' containers share cgroups and runc state.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SNAPSHOTS_PROTO, TASKS_PROTO, loadGrpcPackage } from '@flotilla/protos';
import { buildBusyboxImage, processRuns, shimProcesses, startContainerd, startFlotilla, waitFor, writeOciArchive, type ContainerdDaemon, type FlotillaStack } from '@flotilla/testkit';

const IMAGE = 'flotilla.test/busybox:latest';
const HEX = randomBytes(4).toString('hex');
/** The namespace prefix of this file; each daemon gets `<prefix>-c` or `<prefix>-f`. */
const NS = `fl-ctr-${HEX}`;
const TASK_DIR = 'io.containerd.runtime.v2.task';
/** Debian's runc and containerd's runc shim keep state here when the options name no root. */
const RUNC_ROOT = '/run/containerd/runc';
const LINUX_RESOURCES = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

/** One daemon under test. */
interface Side {
  name: 'containerd' | 'flotilla';
  address: string;
  ns: string;
  /** The daemon's temporary directory (root and state are below it). */
  dir: string;
  api: ReturnType<typeof apiClient>;
}

/** What one ctr command did, normalised. */
interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** One step of a conversation with ctr's stdin: once `when` holds for what ctr printed, send `send`. */
interface Turn {
  when?: (stdout: string, stderr: string) => boolean;
  send?: string;
  /** End of file after `send`. */
  end?: boolean;
}

/** A {@link Turn} condition: stdout and stderr include these. */
const saw =
  (out: string, err = '') =>
  (stdout: string, stderr: string) =>
    stdout.includes(out) && stderr.includes(err);

/**
 * Runs `ctr -a address -n namespace ARGS`. stdin gets `input` and then end of file, or plays
 * `turns`; otherwise it stays open (no end of file) until ctr exited: ctr 1.6 turns an end of
 * file on its stdin into CloseIO only when it sees it after the task or exec exists, which makes
 * the container's stdin depend on timing otherwise.
 *
 * Processes whose output is compared wait on stdin until the test saw that output, then exit:
 * containerd 1.6 can lose the output of a process that exits right after printing (a known
 * race of its shim and cio; concourse/concourse#6775), which would make the reference flaky.
 */
function ctr(address: string, namespace: string, args: string[], opts: { input?: string; turns?: Turn[]; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', ['-a', address, '-n', namespace, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let exited = false;
    const waiting: (() => void)[] = [];
    const poke = () => {
      for (const w of waiting.splice(0)) w();
    };
    child.stdout.on('data', (d) => ((stdout += d), poke()));
    child.stderr.on('data', (d) => ((stderr += d), poke()));
    child.stdin.on('error', () => undefined); // ctr may exit without reading
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('exit', () => {
      exited = true;
      poke();
      child.stdin.destroy();
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else if (opts.turns) {
      void (async () => {
        for (const t of opts.turns!) {
          while (t.when && !t.when(stdout, stderr) && !exited) await new Promise<void>((r) => waiting.push(r));
          if (exited) return;
          if (t.send) child.stdin.write(t.send);
          if (t.end) child.stdin.end();
        }
      })();
    }
  });
}

/** Pids of the shims serving the daemon at `address` (idle warm shims belong to the runtime, not to a test). */
const shimsOf = (address: string): number[] => shimProcesses(address).map((p) => p.pid);

/** Pids in the container cgroups of namespace `ns` (the pids hierarchy, where ctr puts `/<ns>/<id>`). */
function cgroupProcs(ns: string): number[] {
  const base = join('/sys/fs/cgroup/pids', ns);
  const out: number[] = [];
  try {
    for (const id of readdirSync(base, { withFileTypes: true })) {
      if (!id.isDirectory()) continue;
      for (const l of readFileSync(join(base, id.name, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) out.push(Number(l));
    }
  } catch {
    /* no such namespace cgroup */
  }
  return out;
}

/** grpc-js clients of Tasks and Snapshots; calls resolve to `{code, details, value}`. */
function apiClient(address: string, namespace: string) {
  const pkg = grpc.loadPackageDefinition(loadGrpcPackage([TASKS_PROTO, SNAPSHOTS_PROTO])) as any;
  const tasks = new pkg.containerd.services.tasks.v1.Tasks(`unix:${address}`, grpc.credentials.createInsecure());
  const snapshots = new pkg.containerd.services.snapshots.v1.Snapshots(`unix:${address}`, grpc.credentials.createInsecure());
  const call = (client: any, method: string, req: object) =>
    new Promise<{ code: number; details: string; value?: any }>((resolve) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', namespace);
      client[method](req, md, { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, value: any) =>
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', value }),
      );
    });
  return {
    tasks: (method: string, req: object) => call(tasks, method, req),
    snapshots: (method: string, req: object) => call(snapshots, method, req),
    close: () => {
      tasks.close();
      snapshots.close();
    },
  };
}

/** Collapses the padding of space-aligned tables and drops trailing blanks. */
const collapse = (s: string) => s.replace(/[ \t]+/g, ' ').replace(/ +$/gm, '');

/** `task ls`: pids replaced, rows sorted (containerd lists tasks in Go map order). */
function taskLs(s: string): string {
  const [head, ...rows] = s.split('\n').filter((l) => l.trim());
  const body = rows.map((r) => r.trim().split(/\s+/)).map(([id, , status]) => `${id} <pid> ${status}`);
  return [collapse(head ?? ''), ...body.sort()].join('\n');
}

/** `task ps`: pids replaced, rows sorted by their info. */
function taskPs(s: string): string {
  const [head, ...rows] = s.split('\n').filter((l) => l.trim());
  const body = rows.map((r) => r.trim().replace(/^\d+\s+/, '<pid> '));
  return [collapse(head ?? ''), ...body.sort()].join('\n');
}

/** Metric table rows whose values are configuration, not measurement. */
const STABLE_METRICS = new Set(['memory.limit_in_bytes', 'pids.limit', 'pids.current']);

/** `task metrics` (table): the timestamp and measured values replaced. */
function metricsTable(s: string): string {
  return s
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const cells = l.trim().split(/\s{2,}|\t+/);
      if (cells[0] === 'ID' || cells[0] === 'METRIC') return cells.join(' ');
      if (cells.length === 2 && /^\d{4}-/.test(cells[1]!)) return `${cells[0]} <time>`;
      if (cells.length === 2 && !STABLE_METRICS.has(cells[0]!)) return `${cells[0]} <n>`;
      return cells.join(' ');
    })
    .join('\n');
}

/** The object paths and a few always-set leaves of `task metrics --format json`. */
function metricsJsonShape(s: string): { objects: string[]; leaves: Record<string, unknown> } {
  const m = JSON.parse(s);
  const objects: string[] = [];
  const walk = (o: unknown, p: string) => {
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      objects.push(p || '.');
      for (const [k, v] of Object.entries(o)) walk(v, `${p}.${k}`);
    }
  };
  walk(m, '');
  return {
    objects: objects.sort(),
    leaves: {
      'pids.current': m.pids?.current,
      'pids.limit': m.pids?.limit,
      'memory.usage.limit': m.memory?.usage?.limit,
      'memory.hierarchical_memory_limit': m.memory?.hierarchical_memory_limit,
      'cpu.usage.total > 0': m.cpu?.usage?.total > 0,
      'cpu.usage.per_cpu length': m.cpu?.usage?.per_cpu?.length,
      'memory.usage.usage > 0': m.memory?.usage?.usage > 0,
    },
  };
}

/** A private tmux server (`tmux -S <socket>`) for driving ctr in a terminal. */
class Tmux {
  constructor(readonly socket: string) {}

  private tmux(args: string[]): string {
    const r = spawnSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts `command` (a shell line) in an 80x24 window; its exit code is printed, then the pane waits. */
  start(session: string, command: string): void {
    this.tmux(['new-session', '-d', '-s', session, '-x', '80', '-y', '24', `${command}; echo "EXIT=$?"; read x`]);
  }

  /** The visible screen, trailing blanks removed. */
  screen(session: string): string {
    return this.tmux(['capture-pane', '-p', '-t', session])
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n')
      .replace(/\n+$/, '');
  }

  /** Types `text` and Enter. */
  type(session: string, text: string): void {
    this.tmux(['send-keys', '-t', session, '-l', text]);
    this.tmux(['send-keys', '-t', session, 'Enter']);
  }

  resize(session: string, cols: number, rows: number): void {
    this.tmux(['resize-window', '-t', session, '-x', String(cols), '-y', String(rows)]);
  }

  kill(session: string): void {
    spawnSync('tmux', ['-S', this.socket, 'kill-session', '-t', session]);
  }

  killServer(): void {
    spawnSync('tmux', ['-S', this.socket, 'kill-server']);
  }
}

describe('tasks: containerd vs Flotilla, ctr outputs compared', () => {
  let containerd: ContainerdDaemon | undefined;
  let flotilla: FlotillaStack | undefined;
  let ref: Side;
  let flo: Side;
  let dir: string;
  let archive: string;
  let tmux: Tmux;
  let execs = 0;

  /** Normalises what must differ between the two daemons. */
  function norm(s: string, side: Side): string {
    let t = s.split(side.dir).join('<daemon>').split(dir).join('<tmp>').split(side.ns).join('<ns>');
    t = t.replace(/time="[^"]*"/g, 'time="<time>"');
    // ctr's temporary mount of the image (for --user lookups).
    t = t.replace(/\/tmp\/containerd-mount\d+/g, '<mount>');
    return t;
  }

  /** Runs ctr on one side, normalised (`post` normalises stdout further). */
  async function run(side: Side, args: string[], opts: { input?: string; turns?: Turn[]; post?: (s: string) => string; timeoutMs?: number } = {}): Promise<Outcome> {
    const r = await ctr(side.address, side.ns, args, { input: opts.input, turns: opts.turns, timeoutMs: opts.timeoutMs });
    const out = norm(r.stdout, side);
    return { code: r.code, stdout: opts.post ? opts.post(out) : out, stderr: norm(r.stderr, side) };
  }

  /** Runs ctr and fails unless it exits 0; resolves to its (raw) stdout. */
  async function ok(side: Side, args: string[]): Promise<string> {
    const r = await ctr(side.address, side.ns, args);
    assert.equal(r.code, 0, `${side.name}: ctr ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** A scenario's record: labelled outcomes, compared between the sides. */
  type Transcript = { step: string; outcome: unknown }[];

  /**
   * Runs `scenario` against containerd, then against Flotilla, and asserts both transcripts are
   * equal; returns containerd's for checks of what the reference did.
   */
  async function same(scenario: (side: Side, t: Recorder) => Promise<void>): Promise<Transcript> {
    const record = async (side: Side) => {
      const t = new Recorder(side);
      await scenario(side, t);
      return t.steps;
    };
    const want = await record(ref);
    const got = await record(flo);
    assert.deepEqual(got, want);
    return want;
  }

  class Recorder {
    readonly steps: Transcript = [];
    constructor(readonly side: Side) {}
    /** Runs a ctr command and records its outcome. */
    async ctr(args: string[], opts: { input?: string; turns?: Turn[]; post?: (s: string) => string; label?: string } = {}): Promise<Outcome> {
      const o = await run(this.side, args, opts);
      this.steps.push({ step: opts.label ?? norm(`ctr ${args.join(' ')}`, this.side), outcome: o });
      return o;
    }
    note(step: string, outcome: unknown): void {
      this.steps.push({ step, outcome });
    }
  }

  const find = (t: Transcript, step: string) => t.find((s) => s.step === step)?.outcome as Outcome | undefined;

  /** Waits until `task ls` shows `id` in `status`. */
  const waitStatus = (side: Side, id: string, status: string) =>
    waitFor(`${side.name}: ${id} ${status}`, 10_000, async () => taskLs(norm(await ok(side, ['task', 'ls']), side)).includes(`${id} <pid> ${status}`));

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-tasks-ctr-'));
      archive = join(dir, 'busybox.tar');
      tmux = new Tmux(join(dir, 'tmux.sock'));
      await writeOciArchive(await buildBusyboxImage(), archive);
      // Each daemon is kept as soon as it runs, so after() stops it even when the other failed.
      const started = await Promise.allSettled([startContainerd().then((d) => (containerd = d)), startFlotilla().then((f) => (flotilla = f))]);
      for (const r of started) if (r.status === 'rejected') throw r.reason;
      if (!containerd || !flotilla) throw new Error('a daemon did not start');
      ref = { name: 'containerd', address: containerd.address, ns: `${NS}-c`, dir: containerd.dir, api: apiClient(containerd.address, `${NS}-c`) };
      flo = { name: 'flotilla', address: flotilla.address, ns: `${NS}-f`, dir: flotilla.dir, api: apiClient(flotilla.address, `${NS}-f`) };
      await Promise.all([ref, flo].map((s) => ok(s, ['images', 'import', archive])));
    },
    { timeout: 90_000 },
  );

  after(
    async () => {
      tmux?.killServer();
      const namespaces = [`${NS}-c`, `${NS}-f`];
      try {
        ref?.api.close();
        flo?.api.close();
        // Whatever a failed test left: its shims, its containers' processes, its rootfs mounts.
        for (const a of [containerd?.address, flotilla?.address]) for (const pid of a ? shimsOf(a) : []) process.kill(pid, 'SIGKILL');
        for (const ns of namespaces) for (const pid of cgroupProcs(ns)) process.kill(pid, 'SIGKILL');
        for (const d of [containerd?.dir, flotilla?.dir]) {
          if (!d) continue;
          const mounts = readFileSync('/proc/self/mounts', 'utf8')
            .split('\n')
            .map((l) => l.split(' ')[1] ?? '')
            .filter((m) => m.startsWith(d + '/'));
          for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
        }
        await Promise.all([containerd?.stop(), flotilla?.stop()]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        // runc removes /<ns>/<id> cgroups and its state; the /<ns> parents are ours to remove.
        for (const ns of namespaces) {
          for (const h of readdirSync('/sys/fs/cgroup')) {
            const base = join('/sys/fs/cgroup', h, ns);
            try {
              for (const child of readdirSync(base, { withFileTypes: true })) if (child.isDirectory()) rmdirSync(join(base, child.name));
              rmdirSync(base);
            } catch {
              /* not there, not a hierarchy, or still busy */
            }
          }
          rmSync(join(RUNC_ROOT, ns), { recursive: true, force: true });
        }
      }
    },
    { timeout: 40_000 },
  );

  afterEach(async () => {
    // No shim, bundle or rootfs mount is left by a test that cleaned up after itself.
    for (const [name, address, state] of [
      ['containerd', containerd?.address, containerd && join(containerd.dir, 'state')],
      ['flotilla', flotilla?.address, flotilla?.state],
    ] as const) {
      if (!address || !state) continue;
      await waitFor(`shims of ${name} to exit`, 10_000, () => shimsOf(address).length === 0);
      let left: string[] = [];
      try {
        left = readdirSync(join(state, TASK_DIR)).flatMap((ns) => readdirSync(join(state, TASK_DIR, ns)).map((id) => `${ns}/${id}`));
      } catch {
        /* never created */
      }
      assert.deepEqual(left, [], `${name}: bundles left`);
      const mounts = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.split(' ')[1]?.startsWith(join(state, TASK_DIR)));
      assert.deepEqual(mounts, [], `${name}: rootfs mounts left`);
    }
  });

  /**
   * Waits until the pids cgroup of `id` counts `n` tasks: right after a start it still holds runc's
   * (multi-threaded) init for a moment.
   */
  const waitPids = (side: Side, id: string, n: number) =>
    waitFor(`${side.name}: ${n} tasks in ${id}'s cgroup`, 10_000, async () => metricsTable(await ok(side, ['task', 'metrics', id])).includes(`\npids.current ${n}\n`));

  /** `ctr task exec` of `stty -F /dev/pts/0 size` in `id`: the terminal's size as the container sees it. */
  const ptySize = async (side: Side, id: string) => (await ok(side, ['task', 'exec', '--exec-id', `size${++execs}`, id, 'stty', '-F', '/dev/pts/0', 'size'])).trim();

  /** Waits until the screen of `session` matches `re`. */
  const waitScreen = (session: string, what: string, re: RegExp) =>
    waitFor(`${session}: ${what}`, 15_000, () => re.test(tmux.screen(session))).catch((err: Error) => {
      throw new Error(`${err.message}; screen:\n${tmux.screen(session)}`);
    });

  it('ctr run -t: a terminal of the window size that follows resizes; the exit code passes through', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      const session = `run-${side.name}`;
      tmux.start(session, `ctr -a ${side.address} -n ${side.ns} run -t --rm ${IMAGE} tty1 sh`);
      try {
        await waitScreen(session, 'the prompt', /^\/ #$/m);
        await waitFor(`${side.name}: the pty at 80x24`, 10_000, async () => (await ptySize(side, 'tty1')) === '24 80');
        tmux.type(session, 'stty size; tty');
        await waitScreen(session, 'stty size', /\/dev\/pts\/0\n\/ #$/);
        tmux.resize(session, 100, 30);
        await waitFor(`${side.name}: the pty at 100x30`, 10_000, async () => (await ptySize(side, 'tty1')) === '30 100');
        tmux.type(session, 'stty size');
        await waitScreen(session, 'the new size', /^30 100\n\/ #$/m);
        tmux.type(session, 'exit 3');
        await waitScreen(session, 'the exit code', /^EXIT=\d+$/m);
        rec.note('screen', tmux.screen(session));
      } finally {
        tmux.kill(session);
      }
      await rec.ctr(['task', 'ls'], { post: taskLs });
      await rec.ctr(['containers', 'ls', '-q']);
    });
    const screen = find(t, 'screen') as unknown as string;
    assert.match(screen, /stty size; tty\n24 80\n\/dev\/pts\/0\n/);
    assert.match(screen, /stty size\n30 100\n/);
    assert.match(screen, /exit 3\nEXIT=3$/);
  });

  it('ctr run -t of a command that does not exist: the runtime error, exit 1', { timeout: 30_000 }, async () => {
    const t = await same(async (side, rec) => {
      const session = `bad-${side.name}`;
      tmux.start(session, `ctr -a ${side.address} -n ${side.ns} run -t --rm ${IMAGE} tty2 nosuchcommand`);
      try {
        await waitScreen(session, 'the exit code', /^EXIT=\d+$/m);
        rec.note('screen', norm(tmux.screen(session), side));
      } finally {
        tmux.kill(session);
      }
    });
    assert.match(find(t, 'screen') as unknown as string, /"nosuchcommand": executable file not fo[\s\S]*EXIT=1$/);
  });

  it('ctr task exec -t: a terminal of the window size that follows resizes; the exit code passes through', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      await rec.ctr(['run', '-d', IMAGE, 'x1', 'sleep', '1000']);
      const session = `exec-${side.name}`;
      tmux.start(session, `ctr -a ${side.address} -n ${side.ns} task exec -t --exec-id sh1 x1 sh`);
      try {
        await waitScreen(session, 'the prompt', /^\/ #$/m);
        await waitFor(`${side.name}: the pty at 80x24`, 10_000, async () => (await ptySize(side, 'x1')) === '24 80');
        tmux.type(session, 'tty; stty size');
        await waitScreen(session, 'stty size', /^24 80\n\/ #$/m);
        tmux.resize(session, 90, 20);
        await waitFor(`${side.name}: the pty at 90x20`, 10_000, async () => (await ptySize(side, 'x1')) === '20 90');
        tmux.type(session, 'stty size');
        await waitScreen(session, 'the new size', /^20 90\n\/ #$/m);
        tmux.type(session, 'exit 5');
        await waitScreen(session, 'the exit code', /^EXIT=\d+$/m);
        rec.note('screen', tmux.screen(session));
      } finally {
        tmux.kill(session);
      }
      await rec.ctr(['task', 'ps', 'x1'], { post: taskPs });
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'x1']);
      await waitStatus(side, 'x1', 'STOPPED');
      await rec.ctr(['task', 'rm', 'x1']);
      await rec.ctr(['containers', 'rm', 'x1']);
    });
    const screen = find(t, 'screen') as unknown as string;
    assert.match(screen, /tty; stty size\n\/dev\/pts\/0\n24 80\n/);
    assert.match(screen, /stty size\n20 90\n\/ # exit 5\nEXIT=5$/);
  });

  it('ctr run -d; task ls/ps/pause/resume/exec/kill/start/rm in each state, with their errors', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      await rec.ctr(['run', '-d', IMAGE, 'd1', 'sleep', '1000']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls running' });
      await rec.ctr(['task', 'ps', 'd1'], { post: taskPs });
      await rec.ctr(['task', 'start', 'd1']);
      // paused
      await rec.ctr(['task', 'pause', 'd1']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls paused' });
      await rec.ctr(['task', 'pause', 'd1']);
      await rec.ctr(['task', 'exec', '--exec-id', 'p1', 'd1', 'true']);
      await rec.ctr(['task', 'rm', 'd1']);
      await rec.ctr(['task', 'ps', 'd1'], { post: taskPs });
      await rec.ctr(['task', 'resume', 'd1']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls resumed' });
      await rec.ctr(['task', 'resume', 'd1']);
      // running, with execs
      await rec.ctr(['task', 'exec', '--exec-id', 'e0', 'd1', 'sh', '-c', 'echo out; echo err >&2; read x; exit 3'], { turns: [{ when: saw('out\n', 'err\n'), send: '\n' }], label: 'exec e0' });
      await rec.ctr(['task', 'exec', '--exec-id', 'e0', 'd1', 'sh', '-c', 'echo the id is free again; read x'], { turns: [{ when: saw('again\n'), send: '\n' }] });
      await rec.ctr(['task', 'exec', '--exec-id', 'e1', '--cwd', '/tmp', '--user', '65534', 'd1', 'sh', '-c', 'pwd; id -u; read x'], { turns: [{ when: saw('65534\n'), send: '\n' }] });
      await rec.ctr(['task', 'exec', '--exec-id', 'e2', 'd1', 'nosuchcommand']);
      await rec.ctr(['task', 'exec', '--exec-id', 'e2', '--cwd', '/nonexistent', 'd1', 'true']);
      await rec.ctr(['task', 'exec', '--exec-id', 'e3', '--user', 'nosuchuser', 'd1', 'true']);
      await rec.ctr(['task', 'exec', '--exec-id', 'in', 'd1', 'cat'], { turns: [{ send: 'to stdin\n' }, { when: saw('to stdin\n'), end: true }] });
      await rec.ctr(['task', 'exec', '-d', '--exec-id', 'bg', 'd1', 'sleep', '1000']);
      await rec.ctr(['task', 'exec', '--exec-id', 'bg', 'd1', 'true']);
      await rec.ctr(['task', 'ps', 'd1'], { post: taskPs, label: 'ps with an exec' });
      await rec.ctr(['task', 'kill', '--exec-id', 'nosuch', 'd1']);
      await rec.ctr(['task', 'kill', '--exec-id', 'bg', 'd1']);
      await waitFor(`${side.name}: exec bg gone`, 10_000, async () => !(await ok(side, ['task', 'ps', 'd1'])).includes('ExecID:bg'));
      await rec.ctr(['task', 'kill', '--exec-id', 'bg', 'd1']);
      await rec.ctr(['task', 'rm', 'd1']);
      // SIGTERM: ignored by a pid 1 without a handler
      await rec.ctr(['task', 'kill', 'd1']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after SIGTERM' });
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'd1']);
      await waitStatus(side, 'd1', 'STOPPED');
      // stopped
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls stopped' });
      await rec.ctr(['task', 'ps', 'd1'], { post: taskPs });
      await rec.ctr(['task', 'pause', 'd1']);
      await rec.ctr(['task', 'resume', 'd1']);
      await rec.ctr(['task', 'exec', '--exec-id', 's1', 'd1', 'true']);
      await rec.ctr(['task', 'kill', 'd1']);
      await rec.ctr(['task', 'kill', '-a', '-s', 'SIGKILL', 'd1']);
      await rec.ctr(['task', 'start', 'd1']);
      await rec.ctr(['task', 'rm', 'd1']);
      // gone
      await rec.ctr(['task', 'rm', 'd1']);
      for (const cmd of ['ps', 'pause', 'resume', 'kill', 'metrics', 'attach']) await rec.ctr(['task', cmd, 'd1']);
      await rec.ctr(['task', 'exec', '--exec-id', 'g1', 'd1', 'true']);
      await rec.ctr(['containers', 'rm', 'd1']);
      for (const cmd of ['ps', 'pause', 'kill', 'start', 'metrics']) await rec.ctr(['task', cmd, 'nosuch']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls at the end' });
    });
    // What the reference did, so the comparison is about the intended states.
    assert.equal(find(t, 'ls running')!.stdout, 'TASK PID STATUS\nd1 <pid> RUNNING');
    assert.equal(find(t, 'ls paused')!.stdout, 'TASK PID STATUS\nd1 <pid> PAUSED');
    assert.equal(find(t, 'ls resumed')!.stdout, 'TASK PID STATUS\nd1 <pid> RUNNING');
    assert.equal(find(t, 'ls stopped')!.stdout, 'TASK PID STATUS\nd1 <pid> STOPPED');
    assert.match(find(t, 'ps with an exec')!.stdout, /ExecID:bg/);
    assert.deepEqual(find(t, 'exec e0'), { code: 3, stdout: 'out\n', stderr: 'err\n' });
    assert.match(find(t, 'ctr task rm d1')!.stderr, /task must be stopped before deletion: paused/);
  });

  it('a CREATED task (Tasks.Create without Start): ls, ps, pause, resume, start, exec, kill, rm', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      /** Tasks.Create with the container's snapshot mounts and no stdio, as a client that starts later would. */
      const create = async (id: string, label: string) => {
        const mounts = await side.api.snapshots('Mounts', { snapshotter: 'overlayfs', key: id });
        assert.equal(mounts.code, 0, `${side.name}: ${mounts.details}`);
        const r = await side.api.tasks('Create', { container_id: id, rootfs: mounts.value.mounts });
        rec.note(label, { code: r.code, details: norm(r.details, side) });
      };
      await rec.ctr(['containers', 'create', IMAGE, 'c1', 'sleep', '1000']);
      await create('c1', 'Tasks.Create');
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls created' });
      await rec.ctr(['task', 'ps', 'c1'], { post: taskPs });
      await rec.ctr(['task', 'pause', 'c1']);
      await rec.ctr(['task', 'resume', 'c1']);
      await rec.ctr(['task', 'start', 'c1']);
      await create('c1', 'Tasks.Create again');
      await rec.ctr(['task', 'exec', '--exec-id', 'e1', 'c1', 'sh', '-c', 'echo exec in a created container; read x'], { turns: [{ when: saw('container\n'), send: '\n' }] });
      await rec.ctr(['task', 'rm', 'c1']);
      await rec.ctr(['task', 'rm', '-f', 'c1']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after rm -f' });
      await rec.ctr(['containers', 'rm', 'c1']);

      await rec.ctr(['containers', 'create', IMAGE, 'c2', 'sleep', '1000']);
      await create('c2', 'Tasks.Create c2');
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'c2']);
      await waitStatus(side, 'c2', 'STOPPED');
      const get = await side.api.tasks('Get', { container_id: 'c2' });
      rec.note('Tasks.Get of the killed task', { code: get.code, status: get.value?.process?.status, exit_status: get.value?.process?.exit_status });
      await rec.ctr(['task', 'start', 'c2']);
      await rec.ctr(['task', 'rm', 'c2']);
      await rec.ctr(['containers', 'rm', 'c2']);
    });
    assert.equal(find(t, 'ls created')!.stdout, 'TASK PID STATUS\nc1 <pid> CREATED');
    assert.deepEqual(t.find((s) => s.step === 'Tasks.Create')!.outcome, { code: 0, details: '' });
    assert.match(find(t, 'ctr task rm c1')!.stderr, /task must be stopped before deletion: created/);
    assert.deepEqual(t.find((s) => s.step === 'Tasks.Get of the killed task')!.outcome, { code: 0, status: 3, exit_status: 137 });
  });

  it('ctr c create + ctr task start (attached stdio, exit code), task start -d, task attach', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      await rec.ctr(['containers', 'create', IMAGE, 's1', '--', 'sh', '-c', 'read x; echo "got $x"; echo err >&2; read y; exit 2']);
      await rec.ctr(['task', 'start', 's1'], { turns: [{ send: 'line\n' }, { when: saw('got line\n', 'err\n'), send: '\n' }], label: 'start s1' });
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after start' });
      await rec.ctr(['containers', 'rm', 's1']);

      await rec.ctr(['containers', 'create', IMAGE, 's2', 'sleep', '1000']);
      await rec.ctr(['task', 'start', '-d', 's2']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after start -d' });
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 's2']);
      await waitStatus(side, 's2', 'STOPPED');
      await rec.ctr(['task', 'rm', 's2']);
      await rec.ctr(['containers', 'rm', 's2']);

      // The container waits for input, so all its output goes to the attached ctr.
      await rec.ctr(['run', '-d', IMAGE, 'a1', 'sh', '-c', 'read x; echo "got $x"; read y; echo "err $y" >&2; read z; exit 4']);
      await rec.ctr(['task', 'attach', 'a1'], { turns: [{ send: 'hello\nworld\n' }, { when: saw('got hello\n', 'err world\n'), send: '\n' }], label: 'attach a1' });
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after attach' });
      await rec.ctr(['containers', 'rm', 'a1']);
    });
    assert.deepEqual(find(t, 'start s1'), { code: 2, stdout: 'got line\n', stderr: 'err\n' });
    assert.deepEqual(find(t, 'attach a1'), { code: 4, stdout: 'got hello\n', stderr: 'err world\n' });
    assert.equal(find(t, 'ls after start -d')!.stdout, 'TASK PID STATUS\ns2 <pid> RUNNING');
  });

  it('task metrics on cgroup v1 (table and JSON); memory and pids limits from ctr run and Tasks.Update', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      await rec.ctr(['run', '-d', '--memory-limit', '33554432', IMAGE, 'm1', 'sleep', '1000']);
      await waitPids(side, 'm1', 1);
      await rec.ctr(['task', 'metrics', 'm1'], { post: metricsTable, label: 'metrics at run' });
      const json = await run(side, ['task', 'metrics', '--format', 'json', 'm1']);
      rec.note('metrics json', { code: json.code, stderr: json.stderr, shape: metricsJsonShape(json.stdout) });
      const resources = (r: object) => ({ type_url: LINUX_RESOURCES, value: Buffer.from(JSON.stringify(r)) });
      const upd = await side.api.tasks('Update', { container_id: 'm1', resources: resources({ memory: { limit: 67108864 }, pids: { limit: 100 } }) });
      rec.note('Tasks.Update', { code: upd.code, details: upd.details });
      await rec.ctr(['task', 'metrics', 'm1'], { post: metricsTable, label: 'metrics after update' });
      const missing = await side.api.tasks('Update', { container_id: 'nosuch', resources: resources({ pids: { limit: 10 } }) });
      rec.note('Tasks.Update of a missing task', { code: missing.code, details: norm(missing.details, side) });
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'm1']);
      await waitStatus(side, 'm1', 'STOPPED');
      await rec.ctr(['task', 'metrics', 'm1'], { post: metricsTable, label: 'metrics stopped' });
      const stopped = await side.api.tasks('Update', { container_id: 'm1', resources: resources({ pids: { limit: 10 } }) });
      rec.note('Tasks.Update of a stopped task', { code: stopped.code, details: stopped.details });
      await rec.ctr(['task', 'rm', 'm1']);
      await rec.ctr(['containers', 'rm', 'm1']);
    });
    assert.match(find(t, 'metrics at run')!.stdout, /^memory\.limit_in_bytes 33554432$/m);
    assert.match(find(t, 'metrics after update')!.stdout, /^memory\.limit_in_bytes 67108864$/m);
    assert.match(find(t, 'metrics after update')!.stdout, /^pids\.limit 100$/m);
    assert.match(find(t, 'metrics at run')!.stdout, /^cpuacct\.usage_percpu <n>$/m);
  });

  it('runc options: Root and SystemdCgroup reach runc; a runtime binary that does not exist', { timeout: 60_000 }, async () => {
    const t = await same(async (side, rec) => {
      const root = join(dir, 'runc-root', side.ns);
      await rec.ctr(['run', '-d', '--runc-root', root, IMAGE, 'r1', 'sleep', '1000']);
      rec.note('runc state in --runc-root', existsSync(join(root, side.ns, 'r1', 'state.json')));
      await rec.ctr(['task', 'exec', '--exec-id', 'e1', 'r1', 'sh', '-c', 'echo hi; read x'], { turns: [{ when: saw('hi\n'), send: '\n' }] });
      await rec.ctr(['task', 'pause', 'r1']);
      await rec.ctr(['task', 'resume', 'r1']);
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'r1']);
      await waitStatus(side, 'r1', 'STOPPED');
      await rec.ctr(['task', 'rm', 'r1']);
      await rec.ctr(['containers', 'rm', 'r1']);
      rec.note('runc state removed', !existsSync(join(root, side.ns, 'r1')));

      // Without systemd on the host runc refuses (with it, the container runs): either way the flag got through.
      await rec.ctr(['run', '--rm', '--runc-systemd-cgroup', '--cgroup', `system.slice:fl-ctr-${HEX}:sd1`, IMAGE, 'sd1', 'true']);
      await rec.ctr(['containers', 'ls', '-q'], { label: 'containers after systemd' });
      for (const binary of ['nosuch-runtime', '/nonexistent/runtime']) {
        await rec.ctr(['run', '--rm', '--runc-binary', binary, IMAGE, 'b1', 'true']);
      }
      await rec.ctr(['containers', 'ls', '-q'], { label: 'containers at the end' });
    });
    assert.equal(t.find((s) => s.step === 'runc state in --runc-root')!.outcome, true);
    assert.match(find(t, 'ctr run --rm --runc-binary nosuch-runtime flotilla.test/busybox:latest b1 true')!.stderr, /exec: "nosuch-runtime": executable file not found in \$PATH/);
  });

  it('ctr run --runc-binary crun: crun runs the container through its life', { timeout: 60_000 }, async () => {
    // Debian's crun refuses hybrid cgroups while the unified hierarchy has controllers (here: hugetlb).
    // A wrapper hides that hierarchy from crun alone (a private mount namespace) so crun can run here.
    const wrapper = join(dir, 'crun-hybrid');
    writeFileSync(wrapper, "#!/bin/sh\nexec unshare -m sh -c 'mount -t tmpfs -o size=4k,mode=755 fl-hide /sys/fs/cgroup/unified && exec crun \"$@\"' crun \"$@\"\n");
    chmodSync(wrapper, 0o755);
    const needsWrapper = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
    const t = await same(async (side, rec) => {
      // Plain crun: it runs, or it refuses this host the same way under both daemons.
      await rec.ctr(['run', '--rm', '--runc-binary', 'crun', IMAGE, 'cr0', 'sh', '-c', 'echo hi; read x; exit 6'], { turns: [{ when: saw('hi\n'), send: '\n' }], label: 'plain crun' });
      await run(side, ['containers', 'rm', 'cr0']);

      const root = join(dir, 'crun-root', side.ns);
      const binary = needsWrapper ? wrapper : 'crun';
      await rec.ctr(['run', '-d', '--runc-binary', binary, '--runc-root', root, IMAGE, 'cr1', 'sleep', '1000'], { label: 'run -d crun' });
      // crun's state is `status` (runc's would be state.json): crun created the container.
      rec.note('crun state', readdirSync(join(root, side.ns, 'cr1')).sort());
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls' });
      await rec.ctr(['task', 'exec', '--exec-id', 'e1', 'cr1', 'sh', '-c', 'echo hi; read x; exit 2'], { turns: [{ when: saw('hi\n'), send: '\n' }] });
      await rec.ctr(['task', 'exec', '-d', '--exec-id', 'bg', 'cr1', 'sleep', '1000']);
      await rec.ctr(['task', 'ps', 'cr1'], { post: taskPs });
      await rec.ctr(['task', 'pause', 'cr1']);
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls paused' });
      await rec.ctr(['task', 'resume', 'cr1']);
      await waitPids(side, 'cr1', 2);
      await rec.ctr(['task', 'metrics', 'cr1'], { post: metricsTable });
      await rec.ctr(['task', 'kill', '-s', 'SIGKILL', 'cr1']);
      await waitStatus(side, 'cr1', 'STOPPED');
      await rec.ctr(['task', 'rm', 'cr1']);
      await rec.ctr(['containers', 'rm', 'cr1']);
      rec.note('crun state removed', !existsSync(join(root, side.ns, 'cr1')));

      // A shim killed under a crun container: the daemon's cleanup (`<shim> delete`) must use the
      // BinaryName and Root the container was created with, or the container outlives its task.
      await rec.ctr(['run', '-d', '--runc-binary', binary, '--runc-root', root, IMAGE, 'cr2', 'sleep', '1000']);
      const pid = Number(/^cr2\s+(\d+)/m.exec(await ok(side, ['task', 'ls']))?.[1]);
      const shims = shimProcesses(side.address).filter((p) => p.id === 'cr2');
      assert.equal(shims.length, 1, `${side.name}: the shim of cr2`);
      process.kill(shims[0]!.pid, 'SIGKILL');
      await waitFor(`${side.name}: cr2's task gone`, 15_000, async () => !/^cr2\s/m.test(await ok(side, ['task', 'ls'])));
      // `task ls` may stop listing the task before the cleanup finished: wait for its effects.
      const state = join(root, side.ns, 'cr2');
      const bundle = join(side.dir, 'state', TASK_DIR, side.ns, 'cr2');
      const left = () => ({ containerRuns: processRuns(pid), crunState: existsSync(state), bundle: existsSync(bundle) });
      await waitFor(`${side.name}: cr2 cleaned up`, 15_000, () => Object.values(left()).every((v) => !v)).catch(() => undefined);
      rec.note('after its shim was killed', left());
      await rec.ctr(['task', 'ls'], { post: taskLs, label: 'ls after the shim was killed' });
      await rec.ctr(['containers', 'rm', 'cr2']);
    });
    const plain = find(t, 'plain crun')!;
    if (needsWrapper) assert.match(plain.stderr, /cgroups in hybrid mode not supported/);
    else assert.deepEqual(plain, { code: 6, stdout: 'hi\n', stderr: '' });
    assert.deepEqual(t.find((s) => s.step === 'crun state')!.outcome, ['config.json', 'status']);
    assert.equal(find(t, 'ls paused')!.stdout, 'TASK PID STATUS\ncr1 <pid> PAUSED');
    assert.deepEqual(t.find((s) => s.step === 'after its shim was killed')!.outcome, { containerRuns: false, crunState: false, bundle: false });
  });
});
