/**
 * Helpers of the storage system tests (storage-*.test.ts): ctr with binary stdin/stdout, mounts,
 * a grpc-js Leases client, the on-disk layout of a root, `flotilla gc`/`fsck`, and the differ's
 * tree manifest (loaded from the snapshotter's sources at run time, since the system tests'
 * project may not import another project's sources).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEASES_PROTO, loadGrpcPackage } from '@flotilla/protos';
import { buildBusyboxImage, imageRefs, writeDockerArchive, writeOciArchive, type CtrResult, type ImageRefs, type TestImage } from '@flotilla/testkit';
import { callMetadata, type RpcResult } from './api-client.js';
import { runFlotilla } from './flotilla-cli.js';

/** What a ctr run printed (stdout as bytes) and how it ended. */
export interface CtrBytes {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `ctr -a address ARGS` with binary stdin and stdout; never throws on exit code. */
export function ctrBytes(address: string, args: string[], opts: { input?: Buffer; namespace?: string; timeoutMs?: number } = {}): Promise<CtrBytes> {
  const full = ['-a', address, ...(opts.namespace ? ['-n', opts.namespace] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', full, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? Buffer.alloc(0));
  });
}

/**
 * Like the testkit's `ctr()` (text stdout), but a ctr that exits before reading its stdin does not
 * raise an uncaught EPIPE (the testkit's helper has no error handler on the child's stdin).
 */
export async function ctr(address: string, args: string[], opts: { input?: string | Buffer; namespace?: string; timeoutMs?: number } = {}): Promise<CtrResult> {
  const r = await ctrBytes(address, args, { ...opts, input: typeof opts.input === 'string' ? Buffer.from(opts.input) : opts.input });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** {@link ctr}, failing on a non-zero exit; resolves to stdout. */
export async function ctrOk(address: string, args: string[], opts: { input?: string | Buffer; namespace?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await ctr(address, args, opts);
  if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The mount points currently in this mount namespace. */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Whether `target` is a mount point. */
export function isMounted(target: string): boolean {
  return mountPoints().includes(target);
}

/** Unmounts `target` while it is mounted (stacked mounts too); lazily when busy. Never throws. */
export function unmountAll(target: string): void {
  for (let i = 0; i < 10 && isMounted(target); i++) {
    const r = spawnSync('umount', [target]);
    if (r.status !== 0) spawnSync('umount', ['-l', target]);
  }
}

/** Runs one `mount …` line as `ctr snapshots mounts` prints it (through sh); throws on failure. */
export function runMountLine(line: string): void {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${line}: exit ${r.status}: ${r.stderr}`);
}

/** The blob file of `digest` under a containerd/Flotilla root. */
export function blobPath(root: string, digest: string): string {
  return join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

/** The snapshot directories (numbers) of a snapshotter under a root. */
export function snapshotDirs(root: string, snapshotter: 'overlayfs' | 'native' = 'overlayfs'): string[] {
  const dir = join(root, `io.containerd.snapshotter.v1.${snapshotter}`, 'snapshots');
  return existsSync(dir) ? readdirSync(dir).sort((a, b) => Number(a) - Number(b)) : [];
}

/** Every blob file (as `sha256:<hex>`) under a root. */
export function blobFiles(root: string): string[] {
  const dir = join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir).map((h) => `sha256:${h}`).sort() : [];
}

/** `flotilla gc --state STATE`: a synchronous collection; throws on failure. */
export async function flotillaGc(state: string): Promise<string> {
  const r = await runFlotilla(['gc', '--state', state], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`flotilla gc exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `flotilla fsck --state STATE --json`, parsed. */
export async function flotillaFsck(state: string): Promise<{ code: number; problems: unknown[]; orphanBlobs: unknown[]; orphanSnapshots: unknown[]; checked: Record<string, number> }> {
  const r = await runFlotilla(['fsck', '--state', state, '--json'], { timeoutMs: 30_000 });
  try {
    return { code: r.code, ...JSON.parse(r.stdout) };
  } catch {
    throw new Error(`flotilla fsck --json exited ${r.code}: ${r.stdout}${r.stderr}`);
  }
}

let leasesPkg: any;

/** A grpc-js client of containerd.services.leases.v1.Leases; calls resolve to `{code, details, value}`. */
export class LeasesApi {
  private readonly client: grpc.Client;
  constructor(address: string) {
    leasesPkg ??= grpc.loadPackageDefinition(loadGrpcPackage([LEASES_PROTO]));
    this.client = new leasesPkg.containerd.services.leases.v1.Leases(`unix:${address}`, grpc.credentials.createInsecure());
  }

  call<T = any>(method: 'Create' | 'Delete' | 'List' | 'AddResource' | 'DeleteResource' | 'ListResources', req: object, namespace = 'default'): Promise<RpcResult<T>> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      (this.client as any)[method](req, callMetadata(namespace), { deadline: Date.now() + 30_000 }, (err: grpc.ServiceError | null, value: T) => {
        const ms = performance.now() - t0;
        resolve(err ? { code: err.code, details: err.details, ms } : { code: 0, details: '', value, ms });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The differ's tree manifest, for comparing unpacked trees. */
export { compareManifests, treeManifest, type ManifestEntry } from '@flotilla/snapshotter';

/** Splits stdout into lines without the trailing empty one. */
export const lines = (s: string): string[] => s.split('\n').filter((l, i, a) => !(l === '' && i === a.length - 1));

/** The busybox test image twice (an OCI archive and, under another name, a Docker archive) in `dir`. */
export interface BusyboxArchives {
  bb: TestImage;
  bbd: TestImage;
  refs: ImageRefs;
  ociFile: string;
  dockerFile: string;
}

/** Builds both busybox archives the storage tests import. */
export async function busyboxArchives(dir: string): Promise<BusyboxArchives> {
  const bb = await buildBusyboxImage();
  const bbd = await buildBusyboxImage({ name: 'flotilla.test/busybox-docker:latest' });
  const ociFile = join(dir, 'busybox-oci.tar');
  const dockerFile = join(dir, 'busybox-docker.tar');
  await Promise.all([writeOciArchive(bb, ociFile), writeDockerArchive(bbd, dockerFile)]);
  return { bb, bbd, refs: imageRefs(bb), ociFile, dockerFile };
}
