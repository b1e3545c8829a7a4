/**
 * Interop with the Go implementation (github.com/containerd/ttrpc v1.1.1 as built into Debian's
 * containerd 1.6.20 packages), in both directions, through one real `containerd-shim-runc-v2`:
 *
 * - our client → Go server: the shim's `containerd.task.v2.Task` service (Connect, State,
 *   Create, Delete, Shutdown);
 * - Go client → our server: the shim publishes task events to `$TTRPC_ADDRESS` with
 *   `containerd.services.events.ttrpc.v1.Events/Forward`, which we serve.
 *
 * Byte compatibility is checked directly: every frame the Go side sent is decoded and re-encoded
 * with our encoders and must come out byte-identical. Needs root, runc and Debian's containerd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, rmdirSync, writeFileSync, constants } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type protobuf from 'protobufjs';
import { Code, codeOf } from '@flotilla/api';
import { EVENT_TYPES_PROTOS, SHIM_PROTO, TTRPC_EVENTS_PROTO, decodeAny, loadRoot } from '@flotilla/protos';
import { TtrpcClient } from './client.js';
import { ttrpcClient, type TypedClient } from './typed-client.js';
import { TtrpcServer, type CallContext } from './server.js';
import { MessageType, type FrameHeader } from './frame.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './wire.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { NAMESPACE_METADATA_KEY, fromKeyValues } from './metadata.js';
import { tempDir } from './test-fixtures.js';

const SHIM = '/usr/bin/containerd-shim-runc-v2';
const CONTAINERD = '/usr/bin/containerd';
const canRun =
  process.geteuid?.() === 0 && existsSync(SHIM) && existsSync(CONTAINERD) && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');

interface Captured {
  header: FrameHeader;
  payload: Buffer;
}

interface Forwarded {
  topic: string;
  namespace: string;
  event: Record<string, unknown> | undefined;
  metadata: Record<string, string[]>;
  deadlineInMs: number | undefined;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }) {
  return new Promise<{ stdout: Buffer; stderr: string; code: number }>((resolve) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, encoding: 'buffer', timeout: opts.timeoutMs ?? 10_000 },
      (err, stdout, stderr) => resolve({ stdout, stderr: stderr.toString(), code: err ? ((err as { code?: number }).code ?? 1) : 0 }),
    );
    child.stdin?.end();
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('interop with Go ttrpc (Debian containerd-shim-runc-v2 1.6)', { skip: canRun ? false : 'needs root, runc and containerd' }, () => {
  const tmp = tempDir('fl-ttrpc-io-');
  const ns = `fl-ttrpc-${randomBytes(3).toString('hex')}`;
  const id = `interop-${randomBytes(3).toString('hex')}`;
  const bundle = join(tmp.dir, 'bundles', id);
  const eventsSock = join(tmp.dir, 'ttrpc.sock');
  const grpcAddress = join(tmp.dir, 'containerd.sock');
  const shimArgs = ['-namespace', ns, '-address', grpcAddress, '-publish-binary', CONTAINERD, '-id', id];
  const env = { ...process.env, TTRPC_ADDRESS: eventsSock, GOMAXPROCS: '2' };

  let root: protobuf.Root;
  let events: TtrpcServer;
  let client: TtrpcClient | undefined;
  let task: TypedClient;
  let shimAddress = '';
  let shimPid = 0;
  let logSocket: Socket | undefined;
  let shimLog = '';
  const forwarded: Forwarded[] = [];
  const serverIn: Captured[] = [];
  const serverOut: Captured[] = [];
  const clientIn: Captured[] = [];
  const clientOut: Captured[] = [];
  const waiters: (() => void)[] = [];

  async function waitForward(topic: string, ms = 5000): Promise<Forwarded> {
    const until = Date.now() + ms;
    for (;;) {
      const f = forwarded.find((x) => x.topic === topic);
      if (f) return f;
      if (Date.now() > until) throw new Error(`no ${topic} event within ${ms} ms; shim log:\n${shimLog}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  before(async () => {
    root = loadRoot([SHIM_PROTO, TTRPC_EVENTS_PROTO, ...EVENT_TYPES_PROTOS]);

    // Our server at $TTRPC_ADDRESS, as containerd's ttrpc endpoint for shim events.
    events = new TtrpcServer({
      root,
      trace: (dir, header, payload) => (dir === 'in' ? serverIn : serverOut).push({ header, payload: Buffer.from(payload) }),
    });
    events.register('containerd.services.events.ttrpc.v1.Events', {
      Forward: (req: { envelope: { topic: string; namespace: string; event: { type_url: string; value: Buffer } } }, ctx: CallContext) => {
        forwarded.push({
          topic: req.envelope.topic,
          namespace: req.envelope.namespace,
          event: decodeAny(root, req.envelope.event),
          metadata: ctx.metadata,
          deadlineInMs: ctx.deadline === undefined ? undefined : ctx.deadline - Date.now(),
        });
        for (const w of waiters.splice(0)) w();
        return {};
      },
    });
    await events.listen(eventsSock);

    // The bundle as containerd lays it out: config.json, rootfs, and the shim log FIFO.
    mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(bundle, 'rootfs', 'bin', 'busybox'));
    writeFileSync(
      join(bundle, 'config.json'),
      JSON.stringify({
        ociVersion: '1.0.2',
        process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/busybox', 'sleep', '60'], env: ['PATH=/bin'], cwd: '/' },
        root: { path: 'rootfs', readonly: true },
        hostname: 'ttrpc-interop',
        mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
        linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
      }),
    );
    const mk = spawnSync('mkfifo', [join(bundle, 'log')]);
    assert.equal(mk.status, 0, mk.stderr?.toString());
    const fd = openSync(join(bundle, 'log'), constants.O_RDWR | constants.O_NONBLOCK);
    logSocket = new Socket({ fd, readable: true, writable: false });
    logSocket.on('data', (c: Buffer) => (shimLog += c.toString()));
    logSocket.on('error', () => {});
    // The 1.6 shim puts its socket under /run/containerd/s.
    mkdirSync('/run/containerd/s', { recursive: true });
  });

  after(async () => {
    client?.close();
    if (shimPid && pidAlive(shimPid)) process.kill(shimPid, 'SIGKILL');
    if (shimAddress) rmSync(shimAddress.replace(/^unix:\/\//, ''), { force: true });
    await events?.shutdown({ timeoutMs: 1000 });
    logSocket?.destroy();
    // runc's state root for our namespace, if runc left it empty.
    const runcRoot = join('/run/containerd/runc', ns);
    try {
      if (existsSync(runcRoot) && readdirSync(runcRoot).length === 0) rmdirSync(runcRoot);
    } catch {
      /* not ours to force */
    }
    tmp.cleanup();
  });

  test('shim start prints its address; our client connects', async () => {
    const r = await run(SHIM, [...shimArgs, 'start'], { cwd: bundle, env });
    assert.equal(r.code, 0, `shim start failed: ${r.stderr}`);
    shimAddress = r.stdout.toString().trim();
    assert.match(shimAddress, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
    client = await TtrpcClient.connect(shimAddress, {
      trace: (dir, header, payload) => (dir === 'in' ? clientIn : clientOut).push({ header, payload: Buffer.from(payload) }),
    });
    task = ttrpcClient(root, 'containerd.task.v2.Task', client);
  });

  const opts = () => ({ timeoutMs: 10_000, metadata: { [NAMESPACE_METADATA_KEY]: ns } });

  test('our client → Go server: Connect, State of an unknown id → NotFound', async () => {
    const c = await task.call<{ shim_pid: number; task_pid: number; version: string }>('Connect', { id }, opts());
    assert.ok(c.shim_pid > 0);
    assert.equal(c.task_pid, 0);
    shimPid = c.shim_pid;
    assert.ok(pidAlive(shimPid));
    await assert.rejects(task.call('State', { id: 'no-such-task' }, opts()), (err: Error & { code?: number }) => {
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.message, 'container not created: not found');
      return true;
    });
  });

  test('Create → Go client forwards /tasks/create to our server; State; Delete → /tasks/delete', async () => {
    const created = await task.call<{ pid: number }>('Create', { id, bundle }, opts());
    assert.ok(created.pid > 0);

    const ev = await waitForward('/tasks/create');
    assert.equal(ev.namespace, ns);
    assert.equal(ev.event?.container_id, id);
    assert.equal(ev.event?.bundle, bundle);
    assert.equal(ev.event?.pid, created.pid);
    assert.deepEqual(ev.metadata, { [NAMESPACE_METADATA_KEY]: [ns] });
    assert.ok(ev.deadlineInMs! > 3000 && ev.deadlineInMs! <= 5000, `publisher deadline ${ev.deadlineInMs} ms`);

    const st = await task.call<{ id: string; pid: number; status: number; bundle: string }>('State', { id }, opts());
    assert.deepEqual([st.id, st.pid, st.status, st.bundle], [id, created.pid, 1 /* CREATED */, bundle]);

    const del = await task.call<{ pid: number; exit_status: number }>('Delete', { id }, opts());
    assert.equal(del.pid, created.pid);
    const dev = await waitForward('/tasks/delete');
    assert.equal(dev.event?.container_id, id);
    assert.equal(dev.event?.pid, created.pid);
  });

  test('Shutdown stops the shim; `shim delete` prints a DeleteResponse', async () => {
    try {
      await task.call('Shutdown', { id }, opts());
    } catch (err) {
      // The shim may exit before its reply leaves; containerd ignores ErrClosed here too.
      assert.equal(codeOf(err), Code.Unavailable);
    }
    await client!.waitClosed();
    const until = Date.now() + 5000;
    while (pidAlive(shimPid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pidAlive(shimPid), false, 'shim exited');

    const r = await run(SHIM, [...shimArgs, '-bundle', bundle, 'delete'], { cwd: bundle, env });
    assert.equal(r.code, 0, r.stderr);
    const res = decodeMessage<{ exit_status: number }>(root.lookupType('containerd.task.v2.DeleteResponse'), r.stdout);
    assert.equal(res.exit_status, 137);
  });

  test('byte compatibility: what Go sent re-encodes identically with our encoders', (t) => {
    if (process.env.TTRPC_INTEROP_DUMP) {
      const dump = (label: string, frames: Captured[]) => {
        for (const f of frames) {
          const h = f.header;
          t.diagnostic(`${label} id=${h.streamId} type=${h.type} flags=${h.flags} len=${h.length} ${f.payload.toString('hex').slice(0, 400)}`);
        }
      };
      dump('client→shim', clientOut);
      dump('shim→client', clientIn);
      dump('shim→server', serverIn);
      dump('server→shim', serverOut);
    }
    // Go client → our server: Requests (Events/Forward) and their payloads.
    const reqFrames = serverIn.filter((f) => f.header.type === MessageType.Request);
    assert.ok(reqFrames.length >= 2, 'at least two Forward requests');
    assert.deepEqual(
      reqFrames.map((f) => f.header.streamId),
      reqFrames.map((_, i) => 1 + 2 * i),
      'Go client stream ids 1, 3, 5, …',
    );
    const fwdType = root.lookupType('containerd.services.events.ttrpc.v1.ForwardRequest');
    for (const f of reqFrames) {
      assert.equal(f.header.flags, 0);
      const req = decodeRequest(f.payload);
      assert.equal(`${req.service}/${req.method}`, 'containerd.services.events.ttrpc.v1.Events/Forward');
      assert.deepEqual(encodeRequest(req), f.payload, 'ttrpc.Request');
      assert.deepEqual(encodeMessage(fwdType, decodeMessage(fwdType, req.payload)), req.payload, 'ForwardRequest');
      assert.deepEqual(fromKeyValues(req.metadata), { [NAMESPACE_METADATA_KEY]: [ns] });
    }
    // The Go client accepted our replies: it logs "post event"/"forward event" when Forward fails.
    assert.equal(serverOut.filter((f) => f.header.type === MessageType.Response).length, reqFrames.length);
    assert.doesNotMatch(shimLog, /forward event|post event/);

    // Go server → our client: Responses and their payloads.
    const respFrames = clientIn.filter((f) => f.header.type === MessageType.Response);
    assert.ok(respFrames.length >= 5);
    const outById = new Map(clientOut.map((f) => [f.header.streamId, decodeRequest(f.payload)]));
    for (const f of respFrames) {
      assert.equal(f.header.flags, 0);
      const res = decodeResponse(f.payload);
      assert.deepEqual(encodeResponse(res), f.payload, 'ttrpc.Response');
      const method = outById.get(f.header.streamId)!.method;
      const m = root.lookupService('containerd.task.v2.Task').methods[method]!;
      m.resolve();
      const t = m.resolvedResponseType!;
      if (res.status?.code === 0) assert.deepEqual(encodeMessage(t, decodeMessage(t, res.payload)), res.payload, `${method} response`);
    }
    assert.deepEqual(
      [...outById.values()].map((r) => r.method),
      ['Connect', 'State', 'Create', 'State', 'Delete', 'Shutdown'],
    );
  });
});
