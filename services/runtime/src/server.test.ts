/** The runtime's bus contract end to end: TasksClient → nats → serveRuntime → a fake TaskService. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, FlotillaError, codeOf } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { TasksClient } from './client.js';
import { serveRuntime } from './server.js';
import { TaskStatus, type TaskService } from './types.js';

describe('runtime bus contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fl-rt-bus-'));
  let nats: NatsServer;
  let server: Bus;
  let clientBus: Bus;
  let client: TasksClient;
  const seen: { method: string; req: unknown; ns: string }[] = [];
  let releaseWait: (() => void) | undefined;

  const record = (method: string) => async (req: unknown, ctx: { namespace: string }) => {
    seen.push({ method, req, ns: ctx.namespace });
    return {};
  };
  const fake = {
    create: async (req, ctx) => (seen.push({ method: 'create', req, ns: ctx.namespace }), { container_id: req.container_id, pid: 4242 }),
    start: async () => ({ pid: 7 }),
    delete: async () => ({ id: '', pid: 4242, exit_status: 137, exited_at: { seconds: 1, nanos: 2 } }),
    deleteProcess: async (req) => ({ id: req.exec_id, pid: 9, exit_status: 0, exited_at: { seconds: 3, nanos: 4 } }),
    get: async (req) => {
      if (req.container_id === 'missing') throw new FlotillaError(Code.NotFound, 'task missing not found');
      return { process: { id: req.container_id, pid: 4242, status: TaskStatus.RUNNING, stdin: '', stdout: '/o', stderr: '/e', terminal: false, exit_status: 0, exited_at: { seconds: 0, nanos: 0 } } };
    },
    list: async () => ({ tasks: [] }),
    kill: record('kill'),
    exec: async (req) => {
      if (req.exec_id === 'dup') throw new FlotillaError(Code.AlreadyExists, 'id dup: already exists');
      seen.push({ method: 'exec', req, ns: '' });
      return {};
    },
    resizePty: record('resizePty'),
    closeIO: record('closeIO'),
    pause: record('pause'),
    resume: record('resume'),
    listPids: async () => ({ processes: [{ pid: 1 }, { pid: 2, info: { type_url: 'containerd.runc.v1.ProcessDetails', value: new Uint8Array([10, 2, 101, 49]) } }] }),
    checkpoint: async () => {
      throw new FlotillaError(Code.Unimplemented, 'checkpoint: not implemented');
    },
    update: record('update'),
    metrics: async () => ({ metrics: [{ timestamp: { seconds: 5, nanos: 6 }, id: 'c1', data: { type_url: 'io.containerd.cgroups.v1.Metrics', value: new Uint8Array([1]) } }] }),
    wait: async () => {
      await new Promise<void>((r) => (releaseWait = r));
      return { exit_status: 3, exited_at: { seconds: 10, nanos: 11 } };
    },
  } satisfies TaskService;

  before(async () => {
    nats = await startNatsServer({ dir: join(dir, 'nats') });
    const c = nats.credentials;
    server = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'runtime-test-server', heartbeatMs: 100 });
    clientBus = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'runtime-test-client', heartbeatMs: 100, requestTimeoutMs: 300 });
    serveRuntime(server, fake);
    client = new TasksClient(clientBus);
  });
  after(async () => {
    await clientBus?.close(100);
    await server?.close(100);
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctx = { namespace: 'ns1' };

  test('requests and replies keep their fields, bytes and namespace', async () => {
    const options = { type_url: 'containerd.runc.v1.Options', value: new Uint8Array([0x3a, 1, 0x2f]) };
    const r = await client.create({ container_id: 'c1', rootfs: [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/a'] }], stdout: '/o', terminal: false, options }, ctx);
    assert.deepEqual(r, { container_id: 'c1', pid: 4242 });
    const got = seen.find((s) => s.method === 'create')!;
    assert.equal(got.ns, 'ns1');
    assert.deepEqual(got.req, { container_id: 'c1', rootfs: [{ type: 'overlay', source: 'overlay', target: undefined, options: ['lowerdir=/a'] }], stdin: undefined, stdout: '/o', stderr: undefined, terminal: false, checkpoint: undefined, options: { ...options, value: Buffer.from(options.value) }, runtime_path: undefined });
    assert.deepEqual(await client.get({ container_id: 'c1' }, ctx), (await fake.get({ container_id: 'c1' })));
    const pids = await client.listPids({ container_id: 'c1' }, ctx);
    assert.deepEqual([...pids.processes[1]!.info!.value], [10, 2, 101, 49]);
    assert.deepEqual(await client.deleteProcess({ container_id: 'c1', exec_id: 'e1' }, ctx), { id: 'e1', pid: 9, exit_status: 0, exited_at: { seconds: 3, nanos: 4 } });
    await client.kill({ container_id: 'c1', exec_id: 'e1', signal: 9, all: true }, ctx);
    assert.deepEqual(seen.at(-1), { method: 'kill', req: { container_id: 'c1', exec_id: 'e1', signal: 9, all: true }, ns: 'ns1' });
    const m = await client.metrics({ filters: ['id==c1'] }, ctx);
    assert.equal(m.metrics[0]!.data!.type_url, 'io.containerd.cgroups.v1.Metrics');
  });

  test('error kinds cross the bus unchanged; malformed fields are InvalidArgument', async () => {
    await assert.rejects(client.get({ container_id: 'missing' }, ctx), (e: Error) => codeOf(e) === Code.NotFound && e.message === 'task missing not found');
    await assert.rejects(client.exec({ container_id: 'c1', exec_id: 'dup' }, ctx), (e: Error) => codeOf(e) === Code.AlreadyExists && e.message === 'id dup: already exists');
    await assert.rejects(client.checkpoint({ container_id: 'c1' }, ctx), (e) => codeOf(e) === Code.Unimplemented);
    await assert.rejects(clientBus.call('runtime', 'Tasks.Kill', { container_id: 'c1', signal: -1 }, { namespace: 'ns1' }), (e) => codeOf(e) === Code.InvalidArgument);
    await assert.rejects(clientBus.call('runtime', 'Tasks.Create', { container_id: 5 }, { namespace: 'ns1' }), (e) => codeOf(e) === Code.InvalidArgument);
  });

  test('Wait outlives the default request timeout (heartbeats keep it alive)', async () => {
    const waiting = client.wait({ container_id: 'c1' }, ctx);
    await new Promise((r) => setTimeout(r, 900)); // three times the client's 300 ms default
    assert.ok(releaseWait, 'Wait reached the service');
    releaseWait!();
    assert.deepEqual(await waiting, { exit_status: 3, exited_at: { seconds: 10, nanos: 11 } });
  });
});
