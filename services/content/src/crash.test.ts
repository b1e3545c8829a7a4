/**
 * A writer process killed with SIGKILL mid-ingest: the ingest survives, its lock is held while the
 * process lives (also across processes) and is stale once it is gone, and a new store resumes at
 * the right offset with the right final digest.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Code } from '@flotilla/api';
import { ContentLayout } from './local/layout.js';
import { processStart } from './local/locks.js';
import { LocalContentStore } from './local/store.js';
import { readAll, rejectsWith, sha256 } from './testsuite.js';

const MiB = 1024 * 1024;
const here = fileURLToPath(new URL('.', import.meta.url));

/** Code run by the child: open the ingest, write `PART` bytes of `SRC`, report, then hang. */
const CHILD = `
const { readFileSync } = await import('node:fs');
const { LocalContentStore } = await import(process.env.STORE_MODULE);
const src = readFileSync(process.env.SRC);
const part = Number(process.env.PART);
const s = await LocalContentStore.open(process.env.DIR);
const w = await s.open('default', process.env.REF, { total: src.length });
for (let at = w.status().offset; at < part; at += 256 * 1024) await w.write(at, src.subarray(at, Math.min(part, at + 256 * 1024)));
console.log('written ' + w.status().offset);
setInterval(() => {}, 1000);
`;

async function startWriter(env: Record<string, string>): Promise<{ child: ChildProcess; offset: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    env: { ...process.env, ...env, STORE_MODULE: join(here, 'local', 'store.ts') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
  });
  return { child, offset: Number(line.split(' ')[1]) };
}

async function kill9(child: ChildProcess): Promise<void> {
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

describe('an ingest survives a killed writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-content-crash-'));
  const root = join(dir, 'io.containerd.content.v1.content');
  const src = randomBytes(3 * MiB + 17);
  writeFileSync(join(dir, 'src'), src);
  const part = 2 * MiB + 5;
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('resumes after SIGKILL at the right offset with the right digest', async () => {
    const ref = 'layer-sha256:crash-1';
    const { child, offset } = await startWriter({ DIR: root, SRC: join(dir, 'src'), PART: String(part), REF: ref });
    assert.equal(offset, part);
    const before = await LocalContentStore.open(root);
    // Held by a live process: the lock holds across processes.
    await rejectsWith(before.open('default', ref), Code.Unavailable, /ref layer-sha256:crash-1 locked/);
    const lock = before.layout.ingest(ContentLayout.ingestKey('default', ref)).lock;
    assert.equal(readFileSync(lock, 'utf8').split(' ')[0], String(child.pid));
    const startedAt = (await before.status('default', ref)).startedAt;
    await kill9(child);

    // A new store (a restarted service) cleans the stale lock and keeps the ingest.
    const after = await LocalContentStore.open(root);
    assert.equal(existsSync(lock), false, 'stale lock removed at start');
    const st = await after.status('default', ref);
    assert.equal(st.offset, part);
    assert.equal(st.total, src.length);
    assert.equal(st.startedAt, startedAt);
    const w = await after.open('default', ref, { total: src.length });
    assert.equal(w.status().offset, part);
    assert.equal(w.digest(), sha256(src.subarray(0, part)), 'digest recomputed from disk');
    await w.write(part, src.subarray(part));
    assert.deepEqual(await w.commit({ expected: sha256(src) }), { digest: sha256(src), size: src.length });
    assert.ok((await readAll(after.read(sha256(src)))).equals(src));
  });

  it('takes over the lock of a dead writer without a restart', async () => {
    const ref = 'layer-sha256:crash-2';
    // Another blob than the first test's: same bytes with a different last one.
    src[src.length - 1] ^= 0xff;
    writeFileSync(join(dir, 'src'), src);
    const running = await LocalContentStore.open(root);
    const { child } = await startWriter({ DIR: root, SRC: join(dir, 'src'), PART: String(MiB), REF: ref });
    await kill9(child);
    const w = await running.open('default', ref);
    assert.equal(w.status().offset, MiB);
    assert.equal(w.status().total, src.length, 'the total announced by the dead writer');
    await w.write(MiB, src.subarray(MiB));
    assert.equal((await w.commit()).digest, sha256(src));
  });

  it('treats a lock of a live process as held and one of a reused pid as stale', async () => {
    const store = await LocalContentStore.open(root);
    const ref = 'layer-sha256:crash-3';
    const w = await store.open('default', ref);
    await w.close();
    const lock = store.layout.ingest(ContentLayout.ingestKey('default', ref)).lock;
    // The parent of this test process lives: its lock holds.
    writeFileSync(lock, `${process.ppid} ${processStart(process.ppid)}\n`);
    await rejectsWith(store.open('default', ref), Code.Unavailable);
    // The same pid with another start time is a different (earlier) process: stale.
    writeFileSync(lock, `${process.ppid} 1\n`);
    const again = await store.open('default', ref);
    assert.equal(readFileSync(lock, 'utf8').split(' ')[0], String(process.pid));
    await again.close();
    assert.equal(existsSync(lock), false);
  });
});
