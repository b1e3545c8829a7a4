/**
 * The decisive interop test: Debian's containerd 1.6 driving our shim, through Debian's `ctr`,
 * side by side with its own `io.containerd.runc.v2` shim. containerd finds
 * `containerd-shim-flotilla-v2` on its PATH (the repo's `bin/` is put first), for the runtime
 * `io.containerd.flotilla.v2`.
 *
 * When the machine has containerd's cgroups v1 metrics proto (Debian
 * `golang-github-containerd-cgroups-dev`) but `.protos` does not, the daemon (and so the shim) get
 * a private copy of `.protos` with it added (`FLOTILLA_PROTOS_DIR`), to check Stats end to end.
 *
 * Needs root, runc, containerd and ctr.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { protosDir } from '@flotilla/protos';
import { buildBusyboxImage, ctr, startContainerd, writeOciArchive, type ContainerdDaemon, type CtrResult } from '@flotilla/testkit';
import { socketAddress } from './address.js';
import { CGROUPS_V1_METRICS_PROTO } from './service.js';
import { REPO, canRunContainers, pidAlive, run, tempDir, until } from './test-fixtures.js';

const canRun = canRunContainers() && existsSync('/usr/bin/containerd') && existsSync('/usr/bin/ctr');
const OURS = 'io.containerd.flotilla.v2';
const RUNC = 'io.containerd.runc.v2';
const GO_METRICS_PROTO = '/usr/share/gocode/src/github.com/containerd/cgroups/stats/v1/metrics.proto';

/** Whether the cgroups v1 metrics proto is available (in `.protos`, or to copy into a private one). */
function metricsProtoAvailable(): boolean {
  try {
    return existsSync(join(protosDir(), CGROUPS_V1_METRICS_PROTO)) || existsSync(GO_METRICS_PROTO);
  } catch {
    return false;
  }
}

describe('containerd 1.6 + ctr driving containerd-shim-flotilla-v2', { skip: canRun ? false : 'needs root, runc, containerd and ctr' }, () => {
  const tmp = tempDir('fl-shim-interop-');
  const ns = `fl-shim-${randomBytes(3).toString('hex')}`;
  let daemon: ContainerdDaemon;
  let image = '';
  let events: ChildProcess | undefined;
  let eventLines: string[] = [];

  const c = (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CtrResult> => ctr(daemon.address, args, { namespace: ns, timeoutMs: 30_000, ...opts });
  const bundleDir = (id: string) => join(daemon.dir, 'state', 'io.containerd.runtime.v2.task', ns, id);

  /** `/tasks/*` topics of container `id` seen by `ctr events` (exec ids appended). */
  function topics(id: string): string[] {
    const out: string[] = [];
    for (const line of eventLines) {
      // "<date> <time> +0000 UTC <namespace> <topic> <json>"
      const m = /^\S+ \S+ \S+ \S+ (\S+) (\S+) (.*)$/.exec(line);
      if (!m || m[1] !== ns || !m[2]!.startsWith('/tasks/')) continue;
      const ev = JSON.parse(m[3]!) as { container_id?: string; exec_id?: string; id?: string };
      if (ev.container_id !== id) continue;
      const exec = ev.exec_id ?? (m[2] === '/tasks/exit' && ev.id !== id ? ev.id : undefined);
      out.push(exec ? `${m[2]}:${exec}` : m[2]!);
    }
    return out;
  }

  before(async () => {
    const env: Record<string, string | undefined> = { PATH: process.env.PATH, FLOTILLA_PROTOS_DIR: process.env.FLOTILLA_PROTOS_DIR };
    process.env.PATH = `${join(REPO, 'bin')}:${process.env.PATH}`;
    if (!existsSync(join(protosDir(), CGROUPS_V1_METRICS_PROTO)) && existsSync(GO_METRICS_PROTO)) {
      const dir = join(tmp.dir, 'protos');
      cpSync(protosDir(), dir, { recursive: true });
      mkdirSync(join(dir, CGROUPS_V1_METRICS_PROTO, '..'), { recursive: true });
      copyFileSync(GO_METRICS_PROTO, join(dir, CGROUPS_V1_METRICS_PROTO));
      process.env.FLOTILLA_PROTOS_DIR = dir;
    }
    try {
      daemon = await startContainerd();
    } finally {
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const img = await buildBusyboxImage();
    image = img.name;
    const archive = join(tmp.dir, 'busybox.tar');
    await writeOciArchive(img, archive);
    const imp = await c(['images', 'import', archive]);
    assert.equal(imp.code, 0, imp.stderr);
    events = spawn('ctr', ['-a', daemon.address, 'events'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    events.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      eventLines.push(...lines);
    });
    await new Promise((r) => setTimeout(r, 200));
  });

  after(async () => {
    events?.kill();
    // Whatever a failed test left: tasks and containers of our namespace.
    if (daemon) {
      const left = (await c(['containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
      for (const id of left) {
        await c(['task', 'kill', '-s', '9', id]);
        await new Promise((r) => setTimeout(r, 200));
        await c(['task', 'rm', '-f', id]);
        await c(['containers', 'rm', id]);
      }
      await daemon.stop();
    }
    try {
      rmdirSync(join('/run/containerd/runc', ns));
    } catch {
      // not there (or not empty: reported by the last test)
    }
    for (const h of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, ns));
      } catch {
        // not there
      }
    }
    tmp.cleanup();
  });

  test('ctr run --rm … echo hi prints hi (both runtimes); exit codes pass through', async () => {
    for (const [rt, id] of [
      [OURS, 'hi-ours'],
      [RUNC, 'hi-runc'],
    ]) {
      const r = await c(['run', '--rm', '--runtime', rt!, image, id!, 'echo', 'hi']);
      assert.deepEqual([r.code, r.stdout], [0, 'hi\n'], `${rt}: ${r.stderr}`);
      const s = await c(['run', '--rm', '--runtime', rt!, image, `${id}-7`, 'sh', '-c', 'echo out; echo err >&2; echo dev > /dev/stdout; exit 7']);
      assert.deepEqual([s.code, s.stdout, s.stderr], [7, 'out\ndev\n', 'err\n'], rt);
    }
  });

  test('stdin: ctr copies its stdin to the container (cat), then CloseIO ends it', async () => {
    for (const [rt, id] of [
      [OURS, 'cat-ours'],
      [RUNC, 'cat-runc'],
    ]) {
      const child = spawn('ctr', ['-a', daemon.address, '-n', ns, 'run', '--rm', '--runtime', rt!, image, id!, 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const done = new Promise<number | null>((r) => child.once('exit', r));
      // ctr 1.6 sends CloseIO only for an end of input that comes after its task exists on its
      // side (else it never does, and cat waits forever — with either shim): wait for RUNNING.
      await until(`${id} running`, 15_000, async () => /RUNNING/.test((await c(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? ''));
      child.stdin.end('x\ny\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await done;
      clearTimeout(timer);
      assert.deepEqual([code, out], [0, 'x\ny\n'], rt);
    }
  });

  test('ctr run -d, task ls, exec, ps, pause/resume, kill, rm — same as runc.v2; Go-compatible socket address', async () => {
    const transcripts: Record<string, unknown[]> = {};
    for (const [rt, id] of [
      [OURS, 'd-ours'],
      [RUNC, 'd-runc'],
    ] as const) {
      const t: unknown[] = [];
      const status = async () => /\s(\w+)\s*$/m.exec((await c(['task', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '')?.[1];
      const r = await c(['run', '-d', '--runtime', rt, image, id, 'sleep', '1000']);
      t.push(['run -d', r.code]);
      // The address containerd recorded: the runc shim's (Go's SocketAddress) and ours alike.
      t.push(['address', readFileSync(join(bundleDir(id), 'address'), 'utf8') === socketAddress(daemon.address, ns, id, '/run/containerd/s')]);
      t.push(['ls', await status()]);
      const e1 = await c(['task', 'exec', '--exec-id', 'e1', id, 'echo', 'ok']);
      t.push(['exec', e1.code, e1.stdout]);
      const e2 = await c(['task', 'exec', '--exec-id', 'e2', id, 'sh', '-c', 'exit 3']);
      t.push(['exec exit', e2.code]);
      const e3 = await c(['task', 'exec', '--exec-id', 'e3', id, 'no-such-binary']);
      t.push(['exec missing binary', e3.code, /executable file not found/.test(e3.stderr)]);
      const ps = await c(['task', 'ps', id]);
      t.push(['ps', ps.code, ps.stdout.trim().split('\n').length]);
      t.push(['pause', (await c(['task', 'pause', id])).code, await status()]);
      t.push(['pause again', (await c(['task', 'pause', id])).stderr.includes('cannot pause a paused container')]);
      t.push(['resume', (await c(['task', 'resume', id])).code, await status()]);
      t.push(['rm running', (await c(['task', 'rm', id])).code]);
      t.push(['kill', (await c(['task', 'kill', '-s', 'KILL', id])).code]);
      await until(`${id} stopped`, 5000, async () => (await status()) === 'STOPPED');
      t.push(['rm', (await c(['task', 'rm', id])).code, (await c(['containers', 'rm', id])).code]);
      t.push(['ls after', (await c(['task', 'ls'])).stdout.includes(id)]);
      transcripts[rt] = t;
    }
    assert.deepEqual(transcripts[OURS], transcripts[RUNC]);
    assert.deepEqual(transcripts[OURS]![2], ['ls', 'RUNNING']);
    assert.deepEqual(transcripts[OURS]![3], ['exec', 0, 'ok\n']);
  });

  test('ctr run -t: the container gets a terminal', async () => {
    for (const [rt, id] of [
      [OURS, 'tty-ours'],
      [RUNC, 'tty-runc'],
    ]) {
      const cmd = `ctr -a ${daemon.address} -n ${ns} run --rm -t --runtime ${rt} ${image} ${id} sh -c 'tty; echo done'`;
      const r = await run('script', ['-qec', cmd, '/dev/null'], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, `${rt}: ${r.stderr}`);
      assert.match(r.stdout, /\/dev\/pts\/\d+\s/, rt);
      assert.match(r.stdout, /done/, rt);
      assert.doesNotMatch(r.stdout + r.stderr, /ERRO|error/i, rt);
    }
  });

  test('log URIs: file:// appends stdout+stderr to a file, binary:// feeds a logging process', async () => {
    const logger = join(tmp.dir, 'logger.sh');
    writeFileSync(
      logger,
      [
        '#!/bin/sh',
        '# fd 3 = stdout, fd 4 = stderr, fd 5 = "ready": close it first (the copies must not inherit it)',
        'exec 5>&-',
        'echo "$CONTAINER_NAMESPACE/$CONTAINER_ID $1" > "$2.env"',
        '/bin/cat <&3 > "$2.out" &',
        '/bin/cat <&4 > "$2.err" &',
        'wait',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const results: Record<string, unknown> = {};
    for (const [rt, name] of [
      [OURS, 'ours'],
      [RUNC, 'runc'],
    ] as const) {
      const file = join(tmp.dir, `logs-${name}`, 'sub', 'out.log');
      const f = await c(['run', '--rm', '--log-uri', `file://${file}`, '--runtime', rt, image, `lf-${name}`, 'sh', '-c', 'echo a; echo b >&2; echo c']);
      const prefix = join(tmp.dir, `lb-${name}`);
      const b = await c(['run', '--rm', '--log-uri', `binary://${logger}?prefix=${prefix}`, '--runtime', rt, image, `lb-${name}`, 'sh', '-c', 'echo out; echo err >&2']);
      // The logging process ends when the shim closes its pipes (at task delete).
      await until('logger output', 5000, () => existsSync(`${prefix}.err`) && readFileSync(`${prefix}.err`, 'utf8') !== '');
      results[name] = [
        f.code,
        f.stdout,
        readFileSync(file, 'utf8').split('\n').sort(),
        b.code,
        readFileSync(`${prefix}.env`, 'utf8').replace(name, 'X'),
        readFileSync(`${prefix}.out`, 'utf8'),
        readFileSync(`${prefix}.err`, 'utf8'),
      ];
    }
    assert.deepEqual(results.ours, results.runc);
    assert.deepEqual(results.ours, [0, '', ['', 'a', 'b', 'c'], 0, `${ns}/lb-X prefix\n`, 'out\n', 'err\n']);
  });

  test('OOM kill: exit 137 and /tasks/oom', async () => {
    for (const [rt, id] of [
      [OURS, 'oom-ours'],
      [RUNC, 'oom-runc'],
    ]) {
      const r = await c(['run', '--rm', '--memory-limit', String(16 << 20), '--runtime', rt!, image, id!, 'sh', '-c', 'tail /dev/zero']);
      assert.equal(r.code, 137, `${rt}: ${r.stderr}`);
    }
    await until('oom events', 5000, () => topics('oom-ours').includes('/tasks/oom') && topics('oom-runc').includes('/tasks/oom'));
  });

  test('ctr task metrics (cgroup v1 Stats)', { skip: metricsProtoAvailable() ? false : 'no cgroups v1 metrics proto on this machine' }, async () => {
    for (const [rt, id] of [
      [OURS, 'm-ours'],
      [RUNC, 'm-runc'],
    ]) {
      assert.equal((await c(['run', '-d', '--runtime', rt!, image, id!, 'sleep', '1000'])).code, 0);
      const m = await c(['task', 'metrics', id!]);
      assert.equal(m.code, 0, m.stderr);
      for (const key of ['memory.usage_in_bytes', 'memory.limit_in_bytes', 'cpuacct.usage', 'pids.current']) assert.match(m.stdout, new RegExp(`${key.replace('.', '\\.')}\\s+\\S+`), `${rt} ${key}`);
      assert.match(m.stdout, /pids\.current\s+1\s/, rt);
      await c(['task', 'kill', '-s', 'KILL', id!]);
      await until(`${id} stopped`, 5000, async () => (await c(['task', 'ls'])).stdout.includes('STOPPED'));
      assert.equal((await c(['task', 'rm', id!])).code, 0);
      assert.equal((await c(['containers', 'rm', id!])).code, 0);
    }
  });

  test('events: the same /tasks/* sequence per container as with runc.v2 (ctr events)', async () => {
    await new Promise((r) => setTimeout(r, 300));
    for (const [ours, theirs] of [
      ['hi-ours', 'hi-runc'],
      ['hi-ours-7', 'hi-runc-7'],
      ['d-ours', 'd-runc'],
      ['oom-ours', 'oom-runc'],
    ]) {
      assert.deepEqual(topics(ours!), topics(theirs!), ours);
    }
    assert.deepEqual(topics('hi-ours'), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
    assert.deepEqual(topics('d-ours'), [
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added:e1',
      '/tasks/exec-started:e1',
      '/tasks/exit:e1',
      '/tasks/exec-added:e2',
      '/tasks/exec-started:e2',
      '/tasks/exit:e2',
      '/tasks/exec-added:e3',
      '/tasks/paused',
      '/tasks/resumed',
      '/tasks/exit',
      '/tasks/delete',
    ]);
  });

  test('nothing is left: no shim of the namespace, no mounts, no runc state', async () => {
    const shims = async () => (await run('pgrep', ['-f', `namespace ${ns} -id`])).stdout.split('\n').filter(Boolean).map(Number);
    await until('shims gone', 10_000, async () => (await shims()).filter(pidAlive).length === 0);
    assert.deepEqual(
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => l.includes(daemon.dir)),
      [],
    );
    const runcRoot = join('/run/containerd/runc', ns);
    assert.deepEqual(existsSync(runcRoot) ? readdirSync(runcRoot) : [], []);
    assert.deepEqual(existsSync(join(daemon.dir, 'state', 'io.containerd.runtime.v2.task', ns)) ? readdirSync(join(daemon.dir, 'state', 'io.containerd.runtime.v2.task', ns)) : [], []);
    assert.doesNotMatch(daemon.log(), /"svc":"shim"[^\n]*"level":(50|60)|"level":(50|60)[^\n]*"svc":"shim"/);
  });
});
