/**
 * Storage-plane GC and faults against `flotilla up` (needs root): an expired lease's content is
 * collected with no other activity; kill -9 of content, metadata or snapshotter during an import
 * loses nothing acknowledged and leaves nothing inconsistent (`flotilla fsck`); a malicious layer
 * is rejected without writing outside its snapshot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LEASES_PROTO, loadGrpcPackage } from '@flotilla/protos';
import {
  assembleImage,
  buildBusyboxImage,
  buildLargeImage,
  ctr,
  ctrOk,
  pidAlive,
  sha256Bytes,
  startFlotilla,
  waitFor,
  writeOciArchive,
  type FlotillaStack,
} from '@flotilla/testkit';
import { rawTar } from '@flotilla/testkit';
import { runFlotilla } from './flotilla-cli.js';

const blobPath = (stack: FlotillaStack, digest: string) => join(stack.root, 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.slice('sha256:'.length));

/** Kills `service` with SIGKILL and waits until the supervisor has a new, healthy one. */
async function killAndWait(stack: FlotillaStack, service: string): Promise<void> {
  const old = stack.pidOf(service);
  process.kill(old, 'SIGKILL');
  await waitFor(`${service} restarted`, 15_000, () => {
    const p = stack.status().processes.find((x) => x.service === service);
    return !!p && p.pid !== old && p.state === 'running' && pidAlive(p.pid);
  });
  await waitFor(`${service} healthy`, 15_000, async () => {
    const r = await runFlotilla(['status', '--state', stack.state, '--json']);
    if (r.code !== 0) return false;
    const s = JSON.parse(r.stdout) as { processes: { service: string; health: string }[] };
    return s.processes.find((p) => p.service === service)?.health === 'serving';
  });
}

/** Runs `ctr images import` in the background and returns a handle. */
function importInBackground(address: string, archive: string) {
  const child = spawn('ctr', ['-a', address, 'images', 'import', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<number>((r) => child.once('close', (code) => r(code ?? 1)));
  return { child, done, output: () => out };
}

async function fsckClean(stack: FlotillaStack): Promise<void> {
  const r = await runFlotilla(['fsck', '--state', stack.state, '--json']);
  const report = JSON.parse(r.stdout) as { problems: unknown[] };
  assert.deepEqual(report.problems, [], `fsck found problems:\n${r.stdout}`);
  assert.equal(r.code, 0);
}

describe('storage GC and faults (needs root)', { timeout: 600_000 }, () => {
  let stack: FlotillaStack;
  let dir: string;
  let busybox: string;
  let large: string;
  let largeName: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-gcf-'));
    const img = await buildBusyboxImage();
    busybox = join(dir, 'busybox.tar');
    await writeOciArchive(img, busybox);
    const big = await buildLargeImage();
    large = big.ociArchive;
    largeName = big.name;
    stack = await startFlotilla();
  });

  after(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("collects an expired lease's content within a minute without any other activity", { timeout: 90_000 }, async () => {
    const pkg = grpc.loadPackageDefinition(loadGrpcPackage([LEASES_PROTO])) as any;
    const leases = new pkg.containerd.services.leases.v1.Leases(`unix:${stack.address}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('containerd-namespace', 'default');
    const call = (method: string, req: object) =>
      new Promise<any>((resolve, reject) => leases[method](req, md, (err: Error | null, v: any) => (err ? reject(err) : resolve(v))));
    try {
      const expires = new Date(Date.now() + 3000).toISOString();
      await call('Create', { id: 'short-lived', labels: { 'containerd.io/gc.expire': expires } });
      const data = Buffer.from(`lease-held ${Date.now()} ${Math.random()}`);
      await ctrOk(stack.address, ['content', 'ingest', 'lease-held'], { input: data.toString() });
      const digest = sha256Bytes(data);
      await call('AddResource', { id: 'short-lived', resource: { id: digest, type: 'content' } });
      assert.ok(existsSync(blobPath(stack, digest)), 'blob written');
      const t0 = Date.now();
      await waitFor('blob of the expired lease collected', 60_000, () => !existsSync(blobPath(stack, digest)));
      const waited = Date.now() - t0;
      console.log(`expired lease collected ${waited} ms after the content was leased (expiry after 3000 ms)`);
      assert.ok(waited >= 2000, 'not collected before the lease expired');
      const ls = await ctrOk(stack.address, ['leases', 'ls', '-q']);
      assert.ok(!ls.split('\n').includes('short-lived'), 'the expired lease is gone');
    } finally {
      leases.close();
    }
  });

  for (const service of ['content', 'metadata', 'snapshotter']) {
    it(`kill -9 of ${service} during an import: repeating the import completes; fsck is clean`, { timeout: 180_000 }, async () => {
      await ctr(stack.address, ['images', 'rm', '--sync', largeName]);
      const imp = importInBackground(stack.address, large);
      // Kill once the import is well under way (blobs arriving, or unpack started).
      await waitFor('import under way', 30_000, async () => {
        if (service === 'content') return (await ctr(stack.address, ['content', 'active'])).stdout.trim().split('\n').length > 1;
        return (await ctr(stack.address, ['snapshots', 'ls'])).stdout.includes('extract-') || imp.output().includes('unpacking');
      });
      await killAndWait(stack, service);
      const first = await imp.done;
      const again = await ctr(stack.address, ['images', 'import', large], { timeoutMs: 120_000 });
      assert.equal(again.code, 0, `repeated import (first exited ${first}): ${again.stderr}`);
      const check = await ctrOk(stack.address, ['images', 'check']);
      assert.match(check, /complete/);
      const active = (await ctrOk(stack.address, ['content', 'active'])).trim().split('\n');
      assert.equal(active.length, 1, `no ingest left behind: ${active.join('\n')}`);
      await fsckClean(stack);
    });
  }

  const badLayers: { name: string; blob: (canary: string) => { tar: Buffer; blob: Buffer }; error: RegExp }[] = [
    {
      name: 'a name that climbs out with ../',
      blob: (canary) => {
        const tar = rawTar([{ name: 'ok.txt', data: 'fine' }, { name: `../../../../../../../../../..${canary}/escaped`, data: 'owned' }]);
        return { tar, blob: gzipSync(tar) };
      },
      error: /invalid argument/i,
    },
    {
      name: 'a hardlink to a file outside the snapshot',
      blob: () => {
        const tar = rawTar([{ name: 'passwd', type: '1', linkname: '../../../../../../../../etc/passwd' }]);
        return { tar, blob: gzipSync(tar) };
      },
      error: /invalid argument/i,
    },
    {
      name: 'a symlink escape followed by a write through it',
      blob: (canary) => {
        const tar = rawTar([{ name: 'link', type: '2', linkname: canary }, { name: 'link/escaped', data: 'owned' }]);
        return { tar, blob: gzipSync(tar) };
      },
      error: /.*/,
    },
    {
      name: 'a truncated gzip stream',
      blob: () => {
        const tar = rawTar([{ name: 'big.bin', data: Buffer.alloc(256 * 1024, 7) }]);
        const gz = gzipSync(tar);
        return { tar, blob: gz.subarray(0, gz.length >> 1) };
      },
      error: /data loss|unexpected end|truncated|invalid argument/i,
    },
  ];

  for (const bad of badLayers) {
    it(`rejects ${bad.name}: nothing outside, nothing committed, services healthy`, { timeout: 60_000 }, async () => {
      const canary = mkdtempSync(join(dir, 'canary-'));
      const { tar, blob } = bad.blob(canary);
      const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' as const, digest: sha256Bytes(blob), size: blob.length, diffId: sha256Bytes(tar), tarSize: tar.length, tar, blob };
      const img = assembleImage('flotilla.test/evil:latest', [layer]);
      const archive = join(dir, 'evil.tar');
      await writeOciArchive(img, archive);
      const r = await ctr(stack.address, ['images', 'import', archive]);
      if (bad.name.startsWith('a symlink')) {
        // containerd resolves the symlink inside the root: the write lands in the snapshot, never outside.
        assert.deepEqual(readdirSync(canary), [], 'nothing written outside the snapshot');
      } else {
        assert.notEqual(r.code, 0, 'import of a malicious layer fails');
        assert.match(r.stderr, bad.error, r.stderr);
        assert.deepEqual(readdirSync(canary), [], 'nothing written outside the snapshot');
        const snaps = await ctrOk(stack.address, ['snapshots', 'ls']);
        assert.ok(!snaps.includes(sha256Bytes(tar)), 'no committed snapshot for the bad layer');
      }
      assert.ok(readdirSync('/etc').includes('passwd'));
      await ctrOk(stack.address, ['version']);
      await ctr(stack.address, ['images', 'rm', '--sync', 'flotilla.test/evil:latest']);
      await fsckClean(stack);
    });
  }
});
