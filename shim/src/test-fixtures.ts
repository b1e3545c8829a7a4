/**
 * Shared fixtures of the shim tests (not a test file): paths, running the shim binary, a
 * `$TTRPC_ADDRESS` events sink, and bundles with a busybox rootfs.
 */
import { execFile, spawnSync } from 'node:child_process';
import { constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { EVENT_TYPES_PROTOS, RUNC_OPTIONS_PROTO, SHIM_PROTO, TTRPC_EVENTS_PROTO, decodeAny, loadRoot } from '@flotilla/protos';
import { TtrpcServer } from '@flotilla/ttrpc';

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The launcher containerd runs (`bin/containerd-shim-flotilla-v2`). */
export const LAUNCHER = join(REPO, 'bin', 'containerd-shim-flotilla-v2');
/** Debian's runc shim, the reference. */
export const GO_SHIM = '/usr/bin/containerd-shim-runc-v2';

/** Whether this machine can run containers for the tests (root, runc, busybox, a built shim). */
export function canRunContainers(): boolean {
  return (
    process.geteuid?.() === 0 &&
    existsSync('/usr/sbin/runc') &&
    existsSync('/bin/busybox') &&
    existsSync(join(REPO, 'shim', 'dist', 'main.js'))
  );
}

/** A private temporary directory and its removal. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a shim binary (start/delete) the way containerd does; never rejects. */
export function runShim(
  binary: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; input?: Buffer; timeoutMs?: number },
): Promise<{ code: number; stdout: Buffer; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = execFile(binary, args, { cwd: opts.cwd, env: opts.env, encoding: 'buffer', timeout: opts.timeoutMs ?? 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr: stderr.toString(), ms: performance.now() - t0 });
    });
    child.stdin?.end(opts.input ?? Buffer.alloc(0));
  });
}

/** Whether `pid` is alive (a zombie waiting for its new parent to reap it counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves when `fn` is truthy; rejects after `ms`. */
export async function until<T>(what: string, ms: number, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The proto root the tests use (task API, runc options, events). */
export function testRoot(): protobuf.Root {
  return loadRoot([SHIM_PROTO, RUNC_OPTIONS_PROTO, TTRPC_EVENTS_PROTO, ...EVENT_TYPES_PROTOS]);
}

/** One forwarded event. */
export interface SeenEvent {
  topic: string;
  namespace: string;
  event: Record<string, unknown>;
}

/** A `$TTRPC_ADDRESS` endpoint collecting `Events/Forward` calls, as containerd serves it. */
export class EventsSink {
  readonly events: SeenEvent[] = [];
  private constructor(
    readonly path: string,
    private readonly server: TtrpcServer,
  ) {}

  static async listen(path: string, root: protobuf.Root): Promise<EventsSink> {
    const server = new TtrpcServer({ root });
    const sink = new EventsSink(path, server);
    server.register('containerd.services.events.ttrpc.v1.Events', {
      Forward: (req: { envelope: { topic: string; namespace: string; event: { type_url: string; value: Buffer } } }) => {
        sink.events.push({ topic: req.envelope.topic, namespace: req.envelope.namespace, event: decodeAny(root, req.envelope.event) ?? {} });
        return {};
      },
    });
    await server.listen(path);
    return sink;
  }

  /** The events of container `id` so far. */
  of(id: string): SeenEvent[] {
    return this.events.filter((e) => e.event.container_id === id);
  }

  /** Topics of container `id`, with the exec id for exec-scoped events (`/tasks/exit:e1`). */
  topics(id: string): string[] {
    return this.of(id).map((e) => {
      const exec = (e.event.exec_id as string) || (e.topic === '/tasks/exit' && e.event.id !== id ? (e.event.id as string) : '');
      return exec ? `${e.topic}:${exec}` : e.topic;
    });
  }

  /** Waits until container `id` has an event on `topic` (count times). */
  async waitFor(id: string, topic: string, count = 1, ms = 5000): Promise<SeenEvent> {
    return until(`${topic} of ${id}`, ms, () => {
      const list = this.of(id).filter((e) => e.topic === topic);
      return list.length >= count ? list[count - 1] : undefined;
    });
  }

  async close(): Promise<void> {
    await this.server.shutdown({ timeoutMs: 500 });
  }
}

/** Builds a busybox root filesystem (the static binary and applet links) once in `dir`. */
export function busyboxRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const applet of spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (applet && applet !== 'busybox' && !applet.includes('/')) symlinkSync('busybox', join(dir, 'bin', applet));
  }
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  return dir;
}

/** Options of {@link makeBundle}. */
export interface BundleOptions {
  args: string[];
  annotations?: Record<string, string>;
  namespace: string;
  /** Share the host's pid namespace (no `pid` entry). */
  hostPid?: boolean;
}

/**
 * A bundle as containerd lays it out: `config.json` (rootfs at `rootfs`, which the shim mounts),
 * an empty `rootfs/`, and the `log` FIFO — opened for reading here, as containerd does.
 */
export function makeBundle(dir: string, id: string, opts: BundleOptions): { bundle: string; log: () => string; close: () => void } {
  const bundle = join(dir, id);
  mkdirSync(join(bundle, 'rootfs'), { recursive: true });
  const namespaces = [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!opts.hostPid) namespaces.unshift({ type: 'pid' });
  writeFileSync(
    join(bundle, 'config.json'),
    JSON.stringify({
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: opts.args, env: ['PATH=/bin'], cwd: '/' },
      root: { path: 'rootfs', readonly: true },
      hostname: id,
      annotations: opts.annotations ?? {},
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      ],
      linux: { namespaces, cgroupsPath: `/${opts.namespace}/${id}`, resources: { devices: [{ allow: false, access: 'rwm' }] } },
    }),
  );
  const mk = spawnSync('mkfifo', [join(bundle, 'log')]);
  if (mk.status !== 0) throw new Error(`mkfifo: ${mk.stderr}`);
  const fd = openSync(join(bundle, 'log'), constants.O_RDWR | constants.O_NONBLOCK);
  const s = new Socket({ fd, readable: true, writable: false });
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  s.on('error', () => undefined);
  return { bundle, log: () => text, close: () => s.destroy() };
}

/** stdio FIFOs for a process, read (stdout, stderr) from here as ctr would. */
export function makeStdio(dir: string, name: string): { stdin: string; stdout: string; stderr: string; out: () => string; err: () => string; close: () => void } {
  const paths = { stdin: join(dir, `${name}-stdin`), stdout: join(dir, `${name}-stdout`), stderr: join(dir, `${name}-stderr`) };
  for (const p of Object.values(paths)) {
    const mk = spawnSync('mkfifo', [p]);
    if (mk.status !== 0) throw new Error(`mkfifo: ${mk.stderr}`);
  }
  const texts = { out: '', err: '' };
  const readers = (['stdout', 'stderr'] as const).map((k) => {
    const s = new Socket({ fd: openSync(paths[k], constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false });
    s.on('data', (c: Buffer) => (texts[k === 'stdout' ? 'out' : 'err'] += c.toString()));
    s.on('error', () => undefined);
    return s;
  });
  return { ...paths, out: () => texts.out, err: () => texts.err, close: () => readers.forEach((r) => r.destroy()) };
}

/** Mount points at or under `prefix` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === prefix || m.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Last-resort cleanup of what a failed test may leave: runc containers of `namespace` (force
 * delete), mounts under `dir`, the runc state root when empty.
 */
export function forceCleanup(namespace: string, dir: string): void {
  const runcRoot = join('/run/containerd/runc', namespace);
  if (existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id]);
    try {
      rmdirSync(runcRoot);
    } catch {
      // not empty: not ours to force
    }
  }
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
}

/** Runs a command, resolving with its output (never rejects). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env, timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
