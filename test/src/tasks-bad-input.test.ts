/**
 * Bad input to the Tasks API, differential against Debian's containerd 1.6: the same raw gRPC
 * calls (grpc-js) and the same `ctr` commands go to both daemons, run side by side, and must get
 * the same status code (and, where the text is not Go's or JavaScript's own wording, the same
 * message; for ctr the same exit code and stderr). A failing call changes nothing: containers,
 * tasks and their processes, snapshots, mounts, bundle folders and shim processes are as before.
 *
 * Then the task events of one run under `flotilla up`, compared with containerd's for the same
 * commands: create/start/oom/exit/delete of a container killed by the OOM killer (memory limit,
 * cgroup v1 notification), and paused/resumed/exec-added/exec-started/exit of a long-running one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CONTAINERS_PROTO, SNAPSHOTS_PROTO, TASKS_PROTO, loadGrpcPackage } from '@flotilla/protos';
import {
  buildBusyboxImage,
  ctr,
  ctrOk,
  shimProcesses,
  startContainerd,
  startFlotilla,
  waitFor,
  writeOciArchive,
  type ContainerdDaemon,
  type CtrResult,
  type FlotillaStack,
} from '@flotilla/testkit';
import { ApiClient, nameMessage } from './api-client.js';
import { startCtrEvents, type CtrEvents } from './ctr-events.js';

const IMAGE = 'flotilla.test/busybox:latest';
/** Our own namespace: ctr puts containers in cgroup /<namespace>/<id>, shared by every daemon on the machine. */
const NS = `fl-bad-${randomBytes(4).toString('hex')}`;
/**
 * Each daemon works in a namespace of its own: ctr puts a container in cgroup /<namespace>/<id>
 * on every daemon, so the same names on both would share cgroups (and a kill --all on one would
 * reach the other's processes). Outputs are compared with the namespace replaced by `<ns>`.
 */
const NSS = { containerd: `${NS}-c`, flotilla: `${NS}-f` } as const;
/** `s` with either daemon's namespace written `<ns>`. */
const norm = (s: string) => s.replaceAll(NSS.containerd, '<ns>').replaceAll(NSS.flotilla, '<ns>');
const TASK_DIR = 'io.containerd.runtime.v2.task';
const SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const PROCESS_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
const NOPE = 'io.containerd.nope.v9';
const PROBE_TOPIC = '/flotilla-test/probe';

/** The outcome of one unary call. */
interface Rpc {
  code: number;
  details: string;
  value?: any;
}

type Service = 'tasks' | 'containers' | 'snapshots';

let pkg: any;
function services(): any {
  pkg ??= grpc.loadPackageDefinition(loadGrpcPackage([TASKS_PROTO, CONTAINERS_PROTO, SNAPSHOTS_PROTO]));
  return pkg;
}

/** One daemon under test, with raw gRPC clients of Tasks, Containers and Snapshots. */
class Daemon {
  private readonly clients: Record<Service, any>;
  readonly api: ApiClient;

  constructor(
    readonly name: 'containerd' | 'flotilla',
    readonly address: string,
    /** The folder holding its root and state. */
    readonly dir: string,
    readonly root: string,
    readonly state: string,
  ) {
    const s = services().containerd.services;
    const make = (C: any) => new C(`unix:${address}`, grpc.credentials.createInsecure());
    this.clients = { tasks: make(s.tasks.v1.Tasks), containers: make(s.containers.v1.Containers), snapshots: make(s.snapshots.v1.Snapshots) };
    this.api = new ApiClient(address);
  }

  /** This daemon's namespace. */
  get ns(): string {
    return NSS[this.name];
  }

  /** One unary call in our namespace; never throws. */
  call(service: Service, method: string, req: object): Promise<Rpc> {
    return new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', this.ns);
      this.clients[service][method](req, md, { deadline: Date.now() + 20_000 }, (err: grpc.ServiceError | null, value: any) =>
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', value }),
      );
    });
  }

  /** Like {@link call}, failing on an error status; resolves to the response. */
  async ok(service: Service, method: string, req: object): Promise<any> {
    const r = await this.call(service, method, req);
    assert.equal(r.code, 0, `${this.name}: ${service}.${method}: ${r.details}`);
    return r.value;
  }

  ctr(args: string[]): Promise<CtrResult> {
    return ctr(this.address, args, { namespace: this.ns });
  }

  ctrOk(args: string[]): Promise<string> {
    return ctrOk(this.address, args, { namespace: this.ns });
  }

  /** Snapshots.List of the overlayfs snapshotter (a server stream), as `key parent kind` lines. */
  snapshots(): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', this.ns);
      const out: string[] = [];
      const stream = this.clients.snapshots.List({ snapshotter: 'overlayfs' }, md, { deadline: Date.now() + 20_000 });
      stream.on('data', (r: { info: { name: string; parent: string; kind: number }[] }) => {
        for (const i of r.info) out.push(`${i.name} ${i.parent} ${i.kind}`);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve(out.sort()));
    });
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
    this.api.close();
  }
}

/** Pids of the shims serving the daemon at `address` (idle warm shims of its runtime aside). */
const shimsOf = (address: string): number[] =>
  shimProcesses(address)
    .map((s) => s.pid)
    .sort((x, y) => x - y);

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

/** Everything a failing call must leave as it was. */
interface Observed {
  containers: string[];
  tasks: string[];
  snapshots: string[];
  mounts: string[];
  bundles: string[];
  shims: number[];
}

async function observe(d: Daemon): Promise<Observed> {
  const containers = (await d.ok('containers', 'List', {})).containers
    .map((c: any) => `${c.id} ${c.runtime?.name} ${c.snapshotter}/${c.snapshot_key} ${c.spec?.value?.length ?? 0}`)
    .sort();
  const tasks: string[] = [];
  for (const t of (await d.ok('tasks', 'List', {})).tasks.sort((a: any, b: any) => a.id.localeCompare(b.id))) {
    // The processes of a running task too (an exec that was added or removed shows here).
    const pids = t.status === 2 ? (await d.ok('tasks', 'ListPids', { container_id: t.id })).processes.map((p: any) => p.pid).sort() : [];
    tasks.push(`${t.id} pid=${t.pid} status=${t.status} exit=${t.exit_status} procs=${pids.join(',')}`);
  }
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(d.dir + '/'))
    .sort();
  const bundles = [join(d.state, TASK_DIR, d.ns), join(d.root, TASK_DIR, d.ns)].flatMap((p) => listDir(p).map((id) => `${p}/${id}`));
  return { containers, tasks, snapshots: await d.snapshots(), mounts, bundles, shims: shimsOf(d.address) };
}

/**
 * Waits (≤ 5 s: a failed task's shim exits just after the reply) until `d` looks as `before`
 * again, then asserts it. `skip` leaves fields out (what containerd itself leaks).
 */
async function unchanged(d: Daemon, before: Observed, what: string, skip: (keyof Observed)[] = []): Promise<void> {
  const strip = (o: Observed) => Object.fromEntries(Object.entries(o).filter(([k]) => !skip.includes(k as keyof Observed)));
  let now = before;
  try {
    await waitFor(`${d.name} unchanged after ${what}`, 5_000, async () => {
      now = await observe(d);
      return JSON.stringify(strip(now)) === JSON.stringify(strip(before));
    });
  } catch {
    /* the assertion shows the difference */
  }
  assert.deepEqual(strip(now), strip(before), `${d.name}: ${what} changed something`);
}

/** Both daemons' results of one step, run side by side. */
interface Pair<T> {
  containerd: T;
  flotilla: T;
}

/** Asserts that both got the same code (`code`, when given) and, with `exact`, the same details. */
function same(pair: Pair<Rpc>, what: string, expect: { code?: number; exact?: boolean; details?: string | RegExp } = {}): void {
  const r = { containerd: { ...pair.containerd, details: norm(pair.containerd.details) }, flotilla: { ...pair.flotilla, details: norm(pair.flotilla.details) } };
  const show = `${what}: containerd ${r.containerd.code} ${JSON.stringify(r.containerd.details)}, flotilla ${r.flotilla.code} ${JSON.stringify(r.flotilla.details)}`;
  assert.equal(r.flotilla.code, r.containerd.code, show);
  if (expect.code !== undefined) assert.equal(r.containerd.code, expect.code, show);
  if (expect.exact) assert.equal(r.flotilla.details, r.containerd.details, show);
  if (typeof expect.details === 'string') assert.equal(r.containerd.details, expect.details, show);
  else if (expect.details) {
    assert.match(r.containerd.details, expect.details, show);
    assert.match(r.flotilla.details, expect.details, show);
  }
}

/** Asserts that ctr exited alike and printed the same stderr on both. */
function sameCtr(pair: Pair<CtrResult>, what: string, expect?: { code: number; stderr: string }): void {
  // ctr logs some errors through logrus too, with the time of day.
  const plain = (c: CtrResult) => ({ ...c, stdout: norm(c.stdout), stderr: norm(c.stderr.replace(/^time="[^"]*" /gm, '')) });
  const r = { containerd: plain(pair.containerd), flotilla: plain(pair.flotilla) };
  const show = `${what}: containerd ${r.containerd.code} ${JSON.stringify(r.containerd.stderr)}, flotilla ${r.flotilla.code} ${JSON.stringify(r.flotilla.stderr)}`;
  assert.equal(r.flotilla.code, r.containerd.code, show);
  assert.equal(r.flotilla.stderr, r.containerd.stderr, show);
  assert.equal(r.flotilla.stdout, r.containerd.stdout, show);
  if (expect) assert.deepEqual({ code: r.containerd.code, stderr: r.containerd.stderr }, expect, show);
}

/** Removes the cgroups left under /<ns> in every v1 hierarchy (directories only, deepest first). */
function removeCgroups(ns: string): void {
  const prune = (dir: string) => {
    for (const e of listDir(dir)) {
      try {
        if (statSync(join(dir, e)).isDirectory()) prune(join(dir, e));
      } catch {
        /* gone */
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      /* busy or gone */
    }
  };
  for (const h of listDir('/sys/fs/cgroup')) {
    try {
      if (statSync(join('/sys/fs/cgroup', h, ns)).isDirectory()) prune(join('/sys/fs/cgroup', h, ns));
    } catch {
      /* not there */
    }
  }
}

describe('tasks: bad input and task events, differential against containerd 1.6', () => {
  let dir: string;
  let stack: FlotillaStack | undefined;
  let reference: ContainerdDaemon | undefined;
  let cd: Daemon;
  let fl: Daemon;
  /** The spec ctr made for the busybox image (`sh`), to build containers with by hand. */
  const spec: Partial<Record<Daemon['name'], { type_url: string; value: Buffer }>> = {};

  /** Runs `fn` on both daemons side by side. */
  async function both<T>(fn: (d: Daemon) => Promise<T>): Promise<Pair<T>> {
    const [containerd, flotilla] = await Promise.all([fn(cd), fn(fl)]);
    return { containerd, flotilla };
  }

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'flotilla-tasks-bad-'));
      const archive = join(dir, 'busybox.tar');
      await writeOciArchive(await buildBusyboxImage(), archive);
      const [s, c] = await Promise.allSettled([startFlotilla(), startContainerd()]);
      if (s.status === 'fulfilled') stack = s.value;
      if (c.status === 'fulfilled') reference = c.value;
      if (s.status === 'rejected') throw s.reason;
      if (c.status === 'rejected') throw c.reason;
      fl = new Daemon('flotilla', stack!.address, stack!.dir, stack!.root, stack!.state);
      const cdState = join(reference!.dir, 'state');
      cd = new Daemon('containerd', reference!.address, reference!.dir, join(reference!.dir, 'root'), cdState);
      await both(async (d) => {
        await d.ctrOk(['images', 'import', archive]);
        // A template container: its spec serves the containers made by hand below.
        await d.ctrOk(['containers', 'create', IMAGE, 'tmpl', 'true']);
        spec[d.name] = (await d.ok('containers', 'Get', { id: 'tmpl' })).container.spec;
      });
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      try {
        for (const d of [cd, fl]) d?.close();
        // Whatever a failed test left: kill its shims so nothing outlives the daemons.
        for (const address of [stack?.address, reference?.address]) for (const pid of address ? shimsOf(address) : []) process.kill(pid, 'SIGKILL');
        await Promise.all([stack?.stop(), reference?.stop()]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        for (const ns of Object.values(NSS)) removeCgroups(ns);
      }
    },
    { timeout: 30_000 },
  );

  afterEach(async () => {
    if (!stack) return;
    // Each test removes its tasks: then Flotilla has no shim, bundle or rootfs mount left.
    await waitFor('shims of the stack to exit', 5_000, () => shimsOf(stack!.address).length === 0);
    const o = await observe(fl);
    assert.deepEqual({ tasks: o.tasks, bundles: o.bundles, mounts: o.mounts }, { tasks: [], bundles: [], mounts: [] });
  });

  it('Create with an unknown runtime (or shim path): Unknown, containerd text; nothing changes; ctr run --runtime likewise', { timeout: 30_000 }, async () => {
    await both(async (d) => {
      await d.ctrOk(['containers', 'create', '--runtime', NOPE, IMAGE, 'rt1', 'true']);
      const c = (await d.ok('containers', 'Get', { id: 'rt1' })).container;
      const rootfs = (await d.ok('snapshots', 'Mounts', { snapshotter: c.snapshotter, key: c.snapshot_key })).mounts;
      const before = await observe(d);
      const r = await d.call('tasks', 'Create', { container_id: 'rt1', rootfs });
      // (The runtime_path of the request names the shim binary instead; it must exist.)
      const path = await d.call('tasks', 'Create', { container_id: 'tmpl', runtime_path: '/nonexistent/containerd-shim-x-v1' });
      await unchanged(d, before, 'Create with an unknown runtime');
      const run = await d.ctr(['run', '--rm', '--runtime', NOPE, IMAGE, 'rt2', 'true']);
      await unchanged(d, before, 'ctr run --runtime');
      await d.ctrOk(['containers', 'rm', 'rt1']);
      return { r, path, run };
    }).then((p) => {
      same({ containerd: p.containerd.r, flotilla: p.flotilla.r }, 'Create rt1', {
        code: grpc.status.UNKNOWN,
        exact: true,
        details: `failed to start shim: failed to resolve runtime path: runtime "${NOPE}" binary not installed "containerd-shim-nope-v9": file does not exist`,
      });
      same({ containerd: p.containerd.path, flotilla: p.flotilla.path }, 'Create with runtime_path', {
        code: grpc.status.UNKNOWN,
        exact: true,
        details: 'failed to start shim: failed to resolve runtime path: invalid custom binary path: stat /nonexistent/containerd-shim-x-v1: no such file or directory',
      });
      sameCtr({ containerd: p.containerd.run, flotilla: p.flotilla.run }, 'ctr run --runtime', {
        code: 1,
        stderr: `ctr: failed to start shim: failed to resolve runtime path: runtime "${NOPE}" binary not installed "containerd-shim-nope-v9": file does not exist: unknown\n`,
      });
    });
  });

  it('Create without a rootfs (snapshot missing, or none) or with one that cannot be mounted: runc fails as with containerd; nothing changes', { timeout: 30_000 }, async () => {
    const r = await both(async (d) => {
      const make = (id: string, extra: object = {}) => d.ok('containers', 'Create', { container: { id, runtime: { name: 'io.containerd.runc.v2' }, spec: spec[d.name], ...extra } });
      await make('nr1', { snapshotter: 'overlayfs', snapshot_key: 'nosuch' });
      await make('nr2');
      await make('nr3');
      const before = await observe(d);
      // containerd 1.6 leaks the bundle of these two: runc made mount points in the unmounted
      // bundle rootfs, and containerd's bundle removal refuses a rootfs that is not empty.
      const leaks: (keyof Observed)[] = d.name === 'containerd' ? ['bundles'] : [];
      const missing = await d.call('tasks', 'Create', { container_id: 'nr1' });
      await unchanged(d, before, 'Create with a missing snapshot', leaks);
      const none = await d.call('tasks', 'Create', { container_id: 'nr2' });
      await unchanged(d, before, 'Create with no snapshot and no rootfs', leaks);
      const badMount = await d.call('tasks', 'Create', { container_id: 'nr3', rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/nonexistent/lower'] }] });
      await unchanged(d, before, 'Create with a rootfs that cannot be mounted', leaks);
      // Nothing left behind by Flotilla: a second try fails the same way (containerd, whose
      // bundle is still there, says "mkdir …: file exists").
      const again = d.name === 'flotilla' ? await d.call('tasks', 'Create', { container_id: 'nr2' }) : undefined;
      await unchanged(d, before, 'the second Create', leaks);
      for (const id of ['nr1', 'nr2', 'nr3']) await d.ok('containers', 'Delete', { id });
      return { missing, none, badMount, again };
    });
    const runcFails = 'failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "true": executable file not found in $PATH: unknown';
    same({ containerd: r.containerd.missing, flotilla: r.flotilla.missing }, 'Create nr1', { code: grpc.status.UNKNOWN, exact: true, details: runcFails });
    same({ containerd: r.containerd.none, flotilla: r.flotilla.none }, 'Create nr2', { code: grpc.status.UNKNOWN, exact: true, details: runcFails });
    same({ containerd: r.containerd.badMount, flotilla: r.flotilla.badMount }, 'Create nr3', { code: grpc.status.UNKNOWN, details: /^failed to create shim task: failed to mount rootfs component.*: unknown$/ });
    assert.deepEqual({ code: r.flotilla.again!.code, details: r.flotilla.again!.details }, { code: grpc.status.UNKNOWN, details: runcFails });
  });

  it('Create with a spec that is not JSON (or not an object): Unknown "failed to start shim: …", before the runtime is resolved; nothing changes', { timeout: 30_000 }, async () => {
    const r = await both(async (d) => {
      const make = (id: string, value: string, runtime = 'io.containerd.runc.v2') =>
        d.ok('containers', 'Create', { container: { id, runtime: { name: runtime }, spec: { type_url: SPEC_TYPE, value: Buffer.from(value) } } });
      await make('bs1', '{not json');
      await make('bs2', '[]');
      await make('bs3', '"x"', NOPE);
      const before = await observe(d);
      const notJson = await d.call('tasks', 'Create', { container_id: 'bs1' });
      const array = await d.call('tasks', 'Create', { container_id: 'bs2' });
      const withNope = await d.call('tasks', 'Create', { container_id: 'bs3' });
      // containerd 1.6 leaks these bundles (NewBundle returns the spec's error without removing
      // the folder it made); a second Create then fails with "mkdir …: file exists".
      await unchanged(d, before, 'Create with a bad spec', d.name === 'containerd' ? ['bundles'] : []);
      for (const id of ['bs1', 'bs2', 'bs3']) await d.ok('containers', 'Delete', { id });
      return { notJson, array, withNope };
    });
    // (The syntax error itself is worded by each side's JSON parser.)
    same({ containerd: r.containerd.notJson, flotilla: r.flotilla.notJson }, 'Create bs1', { code: grpc.status.UNKNOWN, details: /^failed to start shim: \S/ });
    same({ containerd: r.containerd.array, flotilla: r.flotilla.array }, 'Create bs2', {
      code: grpc.status.UNKNOWN,
      exact: true,
      details: 'failed to start shim: json: cannot unmarshal array into Go value of type v2.ociSpecUserNS',
    });
    same({ containerd: r.containerd.withNope, flotilla: r.flotilla.withNope }, 'Create bs3', {
      code: grpc.status.UNKNOWN,
      exact: true,
      details: 'failed to start shim: json: cannot unmarshal string into Go value of type v2.ociSpecUserNS',
    });
  });

  it('a running task: duplicate exec id, bad exec ids and specs, Start/Delete/Create/Resume of it, unknown exec or container; nothing changes; ctr likewise', { timeout: 45_000 }, async () => {
    const proc = (args: string[]) => ({ type_url: PROCESS_TYPE, value: Buffer.from(JSON.stringify({ args, cwd: '/', env: ['PATH=/bin'] })) });
    const raw = (value: string) => ({ type_url: PROCESS_TYPE, value: Buffer.from(value) });
    const r = await both(async (d) => {
      await d.ctrOk(['run', '-d', IMAGE, 'x1', 'sleep', '1000']);
      await d.ctrOk(['task', 'exec', '-d', '--exec-id', 'e1', 'x1', 'sleep', '1000']);
      const before = await observe(d);
      const calls: Record<string, Rpc> = {};
      calls.dupExec = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: 'e1', spec: proc(['true']) });
      calls.emptyExecId = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: '', spec: proc(['true']) });
      calls.badExecId = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: 'A!', spec: proc(['true']) });
      calls.specNotJson = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: 'e2', spec: raw('{not json') });
      calls.specArray = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: 'e2', spec: raw('[]') });
      // The failed Execs above reserved no id.
      calls.startUnknownExec = await d.call('tasks', 'Start', { container_id: 'x1', exec_id: 'e2' });
      calls.killUnknownExec = await d.call('tasks', 'Kill', { container_id: 'x1', exec_id: 'e2', signal: 9 });
      calls.deleteUnknownExec = await d.call('tasks', 'DeleteProcess', { container_id: 'x1', exec_id: 'e2' });
      calls.startRunningExec = await d.call('tasks', 'Start', { container_id: 'x1', exec_id: 'e1' });
      calls.deleteRunningExec = await d.call('tasks', 'DeleteProcess', { container_id: 'x1', exec_id: 'e1' });
      calls.startRunning = await d.call('tasks', 'Start', { container_id: 'x1' });
      calls.deleteRunning = await d.call('tasks', 'Delete', { container_id: 'x1' });
      calls.createAgain = await d.call('tasks', 'Create', { container_id: 'x1' });
      calls.resumeRunning = await d.call('tasks', 'Resume', { container_id: 'x1' });
      calls.execGhost = await d.call('tasks', 'Exec', { container_id: 'ghost', exec_id: 'e1', spec: proc(['true']) });
      calls.startGhost = await d.call('tasks', 'Start', { container_id: 'ghost' });
      // containerd 1.6's runc shim dereferences a missing spec and dies (the task is lost);
      // Flotilla answers InvalidArgument and keeps the task.
      if (d.name === 'flotilla') calls.noSpec = await d.call('tasks', 'Exec', { container_id: 'x1', exec_id: 'e3' });
      await unchanged(d, before, 'bad calls on a running task');
      const cmds: Record<string, CtrResult> = {};
      cmds.dupExec = await d.ctr(['task', 'exec', '--exec-id', 'e1', 'x1', 'echo', 'again']);
      cmds.rmRunning = await d.ctr(['task', 'rm', 'x1']);
      cmds.startRunning = await d.ctr(['task', 'start', 'x1']);
      cmds.resumeRunning = await d.ctr(['task', 'resume', 'x1']);
      cmds.execGhost = await d.ctr(['task', 'exec', '--exec-id', 'e9', 'ghost', 'true']);
      await unchanged(d, before, 'bad ctr commands on a running task');
      await d.ctrOk(['task', 'kill', '-a', '-s', 'SIGKILL', 'x1']);
      await waitFor(`${d.name}: x1 stopped`, 10_000, async () => (await d.call('tasks', 'Get', { container_id: 'x1' })).value?.process?.status === 3);
      await d.ok('tasks', 'Delete', { container_id: 'x1' });
      await d.ctrOk(['containers', 'rm', 'x1']);
      return { calls, cmds };
    });
    const call = (k: string): Pair<Rpc> => ({ containerd: r.containerd.calls[k]!, flotilla: r.flotilla.calls[k]! });
    const cmd = (k: string): Pair<CtrResult> => ({ containerd: r.containerd.cmds[k]!, flotilla: r.flotilla.cmds[k]! });
    const S = grpc.status;
    same(call('dupExec'), 'Exec of an exec id in use', { code: S.ALREADY_EXISTS, exact: true, details: 'id e1: already exists' });
    same(call('emptyExecId'), 'Exec with an empty exec id', { code: S.INVALID_ARGUMENT, exact: true, details: 'exec id cannot be empty' });
    same(call('badExecId'), 'Exec with an invalid exec id', { code: S.INVALID_ARGUMENT, exact: true });
    same(call('specNotJson'), 'Exec with a process spec that is not JSON', { code: S.UNKNOWN, details: /^\S.*: unknown$/ });
    same(call('specArray'), 'Exec with an array as process spec', { code: S.UNKNOWN, exact: true, details: 'json: cannot unmarshal array into Go value of type specs.Process: unknown' });
    for (const k of ['startUnknownExec', 'killUnknownExec', 'deleteUnknownExec']) same(call(k), k, { code: S.NOT_FOUND, exact: true, details: 'process does not exist e2: not found' });
    same(call('startRunningExec'), 'Start of a running exec', { code: S.UNKNOWN, exact: true, details: 'cannot start a running process: unknown' });
    same(call('deleteRunningExec'), 'DeleteProcess of a running exec', { code: S.UNKNOWN, exact: true, details: 'cannot delete a running process: unknown' });
    same(call('startRunning'), 'Start of a running task', { code: S.UNKNOWN, exact: true, details: 'cannot start a running process: unknown' });
    same(call('deleteRunning'), 'Delete of a running task', { code: S.UNKNOWN, exact: true, details: 'failed to delete task: cannot delete a running process: unknown' });
    same(call('createAgain'), 'Create of an existing task', { code: S.ALREADY_EXISTS, exact: true, details: 'task x1: already exists' });
    same(call('resumeRunning'), 'Resume of a running task', { code: S.UNKNOWN, exact: true, details: 'cannot resume a running process: unknown' });
    same(call('execGhost'), 'Exec on an unknown container', { code: S.NOT_FOUND, exact: true, details: 'container "ghost" in namespace "<ns>": not found' });
    same(call('startGhost'), 'Start on an unknown container', { code: S.NOT_FOUND, exact: true });
    assert.equal(r.flotilla.calls.noSpec!.code, S.INVALID_ARGUMENT, r.flotilla.calls.noSpec!.details);
    sameCtr(cmd('dupExec'), 'ctr task exec with an exec id in use', { code: 1, stderr: 'ctr: id e1: already exists\n' });
    sameCtr(cmd('rmRunning'), 'ctr task rm of a running task');
    sameCtr(cmd('startRunning'), 'ctr task start of a running task');
    sameCtr(cmd('resumeRunning'), 'ctr task resume of a running task');
    sameCtr(cmd('execGhost'), 'ctr task exec on an unknown container', { code: 1, stderr: 'ctr: container "ghost" in namespace "<ns>": not found\n' });
  });

  it('a stopped task (exited, not deleted): Kill, Start, Pause, Exec, Kill of its exec; Delete twice; nothing changes; ctr likewise', { timeout: 45_000 }, async () => {
    const proc = { type_url: PROCESS_TYPE, value: Buffer.from(JSON.stringify({ args: ['true'], cwd: '/' })) };
    const r = await both(async (d) => {
      await d.ctrOk(['run', '-d', IMAGE, 's1', 'sleep', '1000']);
      await d.ctrOk(['task', 'exec', '-d', '--exec-id', 'e1', 's1', 'sleep', '1000']);
      await d.ctrOk(['task', 'kill', '-s', 'SIGKILL', 's1']);
      await waitFor(`${d.name}: s1 stopped`, 10_000, async () => (await d.call('tasks', 'Get', { container_id: 's1' })).value?.process?.status === 3);
      await waitFor(`${d.name}: exec e1 stopped`, 10_000, async () => (await d.call('tasks', 'Get', { container_id: 's1', exec_id: 'e1' })).value?.process?.status === 3);
      const before = await observe(d);
      const calls: Record<string, Rpc> = {};
      calls.kill = await d.call('tasks', 'Kill', { container_id: 's1', signal: 15 });
      calls.killAll = await d.call('tasks', 'Kill', { container_id: 's1', signal: 9, all: true });
      calls.killExec = await d.call('tasks', 'Kill', { container_id: 's1', exec_id: 'e1', signal: 9 });
      calls.start = await d.call('tasks', 'Start', { container_id: 's1' });
      calls.pause = await d.call('tasks', 'Pause', { container_id: 's1' });
      calls.exec = await d.call('tasks', 'Exec', { container_id: 's1', exec_id: 'e2', spec: proc });
      await unchanged(d, before, 'bad calls on a stopped task');
      const cmds: Record<string, CtrResult> = {};
      cmds.kill = await d.ctr(['task', 'kill', 's1']);
      cmds.pause = await d.ctr(['task', 'pause', 's1']);
      await unchanged(d, before, 'bad ctr commands on a stopped task');
      calls.delete = await d.call('tasks', 'Delete', { container_id: 's1' });
      calls.deleteAgain = await d.call('tasks', 'Delete', { container_id: 's1' });
      calls.killDeleted = await d.call('tasks', 'Kill', { container_id: 's1', signal: 9 });
      cmds.killDeleted = await d.ctr(['task', 'kill', 's1']);
      await d.ctrOk(['containers', 'rm', 's1']);
      return { calls, cmds };
    });
    const call = (k: string): Pair<Rpc> => ({ containerd: r.containerd.calls[k]!, flotilla: r.flotilla.calls[k]! });
    const cmd = (k: string): Pair<CtrResult> => ({ containerd: r.containerd.cmds[k]!, flotilla: r.flotilla.cmds[k]! });
    const S = grpc.status;
    same(call('kill'), 'Kill of a stopped task', { code: S.NOT_FOUND, exact: true, details: 'process already finished: not found' });
    same(call('killAll'), 'Kill --all of a stopped task', { code: S.OK });
    same(call('killExec'), 'Kill of an exec of a stopped task', { code: S.NOT_FOUND, exact: true, details: 'process already finished: not found' });
    same(call('start'), 'Start of a stopped task', { code: S.UNKNOWN, exact: true, details: 'cannot start a stopped process: unknown' });
    same(call('pause'), 'Pause of a stopped task', { code: S.UNKNOWN, exact: true, details: 'cannot pause a stopped container: unknown' });
    same(call('exec'), 'Exec in a stopped task', { code: S.UNKNOWN, exact: true, details: 'cannot exec in a stopped state: unknown' });
    same(call('delete'), 'Delete of a stopped task', { code: S.OK });
    assert.equal(r.flotilla.calls.delete!.value.exit_status, r.containerd.calls.delete!.value.exit_status);
    same(call('deleteAgain'), 'Delete of a deleted task', { code: S.NOT_FOUND, exact: true, details: 'task s1 not found' });
    same(call('killDeleted'), 'Kill of a deleted task', { code: S.NOT_FOUND, exact: true, details: 'task s1 not found' });
    sameCtr(cmd('kill'), 'ctr task kill of a stopped task', { code: 1, stderr: 'ctr: process already finished: not found\n' });
    sameCtr(cmd('pause'), 'ctr task pause of a stopped task', { code: 1, stderr: 'ctr: cannot pause a stopped container: unknown\n' });
    sameCtr(cmd('killDeleted'), 'ctr task kill of a deleted task');
  });

  it('task events in containerd order: OOM kill (create, start, oom, exit 137, delete); pause, resume, exec added/started/exit, kill', { timeout: 60_000 }, async () => {
    /** `ctr events` for our namespace's task events, once it provably receives (a probe came through). */
    const subscribe = async (d: Daemon): Promise<CtrEvents> => {
      const ev = startCtrEvents(d.address, [`namespace==${d.ns},topic~=|^/tasks/|`, `namespace==${d.ns},topic=="${PROBE_TOPIC}"`]);
      try {
        await waitFor(`${d.name}: ctr events to receive`, 10_000, async () => {
          if (ev.child.exitCode !== null) throw new Error(`ctr events exited ${ev.child.exitCode}: ${ev.stderr()}`);
          const p = await d.api.call(d.api.events, 'Publish', { topic: PROBE_TOPIC, event: { type_url: 'containerd.events.ContainerDelete', value: nameMessage('probe') } }, { namespace: d.ns });
          assert.equal(p.code, 0, p.details);
          return ev.waitLine((l) => l.includes(PROBE_TOPIC), 200).then(
            () => true,
            () => false,
          );
        });
      } catch (err) {
        await ev.stop();
        throw err;
      }
      return ev;
    };
    /** The topics of container `id`'s events in order (`/tasks/exit` with the process id), a run of OOM events as one. */
    const topics = (ev: CtrEvents, id: string): string[] => {
      const out: string[] = [];
      for (const l of ev.lines) {
        const m = /\s(\/tasks\/\S+)\s+(\{.*\})\s*$/.exec(l.text);
        if (!m) continue;
        const payload = JSON.parse(m[2]!) as { container_id?: string; id?: string; exec_id?: string };
        if (payload.container_id !== id) continue;
        const topic = m[1] === '/tasks/exit' ? `/tasks/exit ${payload.id}` : m[1]!.startsWith('/tasks/exec-') ? `${m[1]} ${payload.exec_id}` : m[1]!;
        if (topic === '/tasks/oom' && out.at(-1) === topic) continue;
        out.push(topic);
      }
      return out;
    };
    const payload = (ev: CtrEvents, topic: string, match: string) => {
      const line = ev.lines.find((l) => l.text.includes(` ${topic} `) && l.text.includes(match));
      assert.ok(line, `no ${topic} with ${match}`);
      return JSON.parse(/(\{.*\})\s*$/.exec(line.text)![1]!);
    };

    const r = await both(async (d) => {
      const ev = await subscribe(d);
      try {
        // tail buffers the newline-free /dev/zero until the 16 MiB limit has the OOM killer end it.
        const oom = await d.ctr(['run', '--rm', '--memory-limit', '16777216', IMAGE, 'oom1', 'sh', '-c', 'tail /dev/zero']);
        await d.ctrOk(['run', '-d', IMAGE, 'ev1', 'sleep', '1000']);
        await d.ctrOk(['task', 'pause', 'ev1']);
        await d.ctrOk(['task', 'resume', 'ev1']);
        const exec = await d.ctr(['task', 'exec', '--exec-id', 'x1', 'ev1', 'sh', '-c', 'exit 3']);
        await d.ctrOk(['task', 'kill', '-s', 'SIGKILL', 'ev1']);
        await waitFor(`${d.name}: ev1 stopped`, 10_000, async () => (await d.call('tasks', 'Get', { container_id: 'ev1' })).value?.process?.status === 3);
        await d.ctrOk(['task', 'rm', 'ev1']);
        await d.ctrOk(['containers', 'rm', 'ev1']);
        await ev.waitLine((l) => l.includes('/tasks/delete') && l.includes('"container_id":"ev1"'), 10_000);
        await ev.waitLine((l) => l.includes('/tasks/delete') && l.includes('"container_id":"oom1"'), 10_000);
        return { oom, exec, ev };
      } finally {
        await ev.stop();
      }
    });
    assert.equal(r.containerd.oom.code, 137, `containerd: ${r.containerd.oom.stderr}`);
    assert.equal(r.flotilla.oom.code, 137, `flotilla: ${r.flotilla.oom.stderr}`);
    assert.equal(r.containerd.exec.code, 3);
    assert.equal(r.flotilla.exec.code, 3);

    const oomTopics = ['/tasks/create', '/tasks/start', '/tasks/oom', '/tasks/exit oom1', '/tasks/delete'];
    assert.deepEqual(topics(r.containerd.ev, 'oom1'), oomTopics, 'containerd');
    assert.deepEqual(topics(r.flotilla.ev, 'oom1'), oomTopics, 'flotilla');
    const evTopics = ['/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed', '/tasks/exec-added x1', '/tasks/exec-started x1', '/tasks/exit x1', '/tasks/exit ev1', '/tasks/delete'];
    assert.deepEqual(topics(r.containerd.ev, 'ev1'), evTopics, 'containerd');
    assert.deepEqual(topics(r.flotilla.ev, 'ev1'), evTopics, 'flotilla');

    for (const d of ['containerd', 'flotilla'] as const) {
      const ev = r[d].ev;
      assert.equal(payload(ev, '/tasks/exit', '"id":"oom1"').exit_status, 137, d);
      assert.equal(payload(ev, '/tasks/delete', '"container_id":"oom1"').exit_status, 137, d);
      assert.equal(payload(ev, '/tasks/exit', '"id":"x1"').exit_status, 3, d);
      assert.ok(payload(ev, '/tasks/exec-started', '"exec_id":"x1"').pid > 0, d);
      assert.equal(payload(ev, '/tasks/exit', '"id":"ev1"').exit_status, 137, d);
      const start = payload(ev, '/tasks/start', '"container_id":"ev1"');
      assert.equal(payload(ev, '/tasks/create', '"container_id":"ev1"').pid, start.pid, d);
    }
  });
});
