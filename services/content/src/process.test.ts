/**
 * The content process itself (`dist/main.js`, as the supervisor starts it) on a real nats-server:
 * introspection, a round trip through its bus client, an ingest that survives `kill -9` of the
 * process, and an orderly SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Bus } from '@flotilla/bus';
import { defaultConfig } from '@flotilla/config';
import { startNatsServer, writeCredentials, type NatsServer } from '@flotilla/natsd';
import { ContentClient } from './client.js';
import { FakeMetadata } from './testing-metadata.js';
import { readAll, sha256 } from './testsuite.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('the content process', { skip: !existsSync(MAIN) && 'build first: npx tsc -b services/content' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-content-proc-'));
  const root = join(dir, 'root');
  let nats: NatsServer;
  let bus: Bus;
  let meta: Bus;
  let cc: ContentClient;
  let proc: ChildProcess;

  async function startProcess(): Promise<ChildProcess> {
    const p = spawn(process.execPath, [MAIN], {
      env: { ...process.env, FLOTILLA_CONFIG_JSON: join(dir, 'config.json'), FLOTILLA_BUS_CREDENTIALS: join(dir, 'creds.json'), FLOTILLA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 100; i++) {
      try {
        if ((await bus.health('content', 200)).status === 'serving') return p;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('content process did not start');
  }

  before(async () => {
    nats = await startNatsServer({ dir: join(dir, 'nats') });
    writeCredentials(join(dir, 'creds.json'), nats.credentials);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...defaultConfig(), root, state: join(dir, 'state') }));
    const c = nats.credentials;
    bus = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'proc-test-client' });
    meta = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'proc-test-metadata' });
    new FakeMetadata(meta);
    cc = new ContentClient(bus);
    proc = await startProcess();
  });

  after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await bus.close();
    await meta.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports its plugin with the store folder', async () => {
    const info = (await bus.introspect()).find((p) => p.service === 'content');
    assert.deepEqual(info?.plugins, [
      { type: 'io.containerd.content.v1', id: 'content', requires: [], status: 'ok', exports: { root: join(root, 'io.containerd.content.v1.content') } },
    ]);
  });

  it('keeps an ingest through kill -9 and resumes it after a restart', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const ref = 'layer-sha256:proc';
    const w = await cc.open('default', ref, { total: data.length });
    await w.write(0, data.subarray(0, 2 * 1024 * 1024));
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    await assert.rejects(w.write(2 * 1024 * 1024, data.subarray(2 * 1024 * 1024)));
    proc = await startProcess();
    assert.equal((await cc.status('default', ref)).offset, 2 * 1024 * 1024);
    const w2 = await cc.open('default', ref);
    assert.equal(w2.status().offset, 2 * 1024 * 1024);
    await w2.write(2 * 1024 * 1024, data.subarray(2 * 1024 * 1024));
    assert.deepEqual(await w2.commit({ expected: sha256(data) }), { digest: sha256(data), size: data.length });
    assert.ok((await readAll(cc.read(sha256(data)))).equals(data));
    assert.ok(existsSync(join(root, 'io.containerd.content.v1.content', 'blobs', 'sha256', sha256(data).slice(7))));
  });

  it('stops cleanly on SIGTERM', async () => {
    const code = new Promise((r) => proc.once('exit', (c) => r(c)));
    proc.kill('SIGTERM');
    assert.equal(await code, 0);
  });
});
