/** Events, introspection and health against a real nats-server. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, type FlotillaError, type HealthInfo, type ProcessInfo } from '@flotilla/api';
import type { Bus } from './bus.js';
import { decodeBody } from './codec.js';
import type { Envelope } from './events.js';
import { H_NAMESPACE } from './headers.js';
import { eventSubject } from './subjects.js';
import { startTestNats, type TestNats } from './testing-nats.js';

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(10);
}

describe('bus events', () => {
  let nats: TestNats;
  let a: Bus;
  let b: Bus;

  before(async () => {
    nats = await startTestNats();
    a = await nats.connect('events-a');
    b = await nats.connect('events-b');
  });

  after(async () => {
    await nats.stop();
  });

  it('delivers a published event with its envelope', async () => {
    const got: Envelope[] = [];
    const stop = b.subscribeEvents((e) => got.push(e));
    await b.nc.flush();
    const before = Date.now();
    a.publishEvent('/namespaces/create', 'ns1', { type_url: 'containerd.events.NamespaceCreate', value: { name: 'a', labels: { x: 'y' } } });
    await until(() => got.length > 0);
    stop();
    assert.equal(got.length, 1);
    const e = got[0]!;
    assert.equal(e.topic, '/namespaces/create');
    assert.equal(e.namespace, 'ns1');
    assert.deepEqual(e.event, { type_url: 'containerd.events.NamespaceCreate', value: { name: 'a', labels: { x: 'y' } } });
    const ms = e.timestamp.seconds * 1000 + e.timestamp.nanos / 1e6;
    assert.ok(Number.isInteger(e.timestamp.seconds) && Number.isInteger(e.timestamp.nanos));
    assert.ok(e.timestamp.nanos >= 0 && e.timestamp.nanos < 1e9);
    assert.ok(ms >= before - 1 && ms <= Date.now() + 1, 'timestamp is the publish time');
  });

  it('puts the event on its subject with the namespace header', async () => {
    const sub = b.nc.subscribe('flotilla.events.tasks.>', { max: 1 });
    await b.nc.flush();
    a.publishEvent('/tasks/exit', 'k8s.io', { type_url: 'containerd.events.TaskExit', value: { container_id: 'c1', exit_status: 137 } });
    for await (const m of sub) {
      assert.equal(m.subject, 'flotilla.events.tasks.exit');
      assert.equal(m.subject, eventSubject('/tasks/exit'));
      assert.equal(m.headers?.get(H_NAMESPACE), 'k8s.io');
      const env = decodeBody<Envelope>(m.data);
      assert.deepEqual(Object.keys(env).sort(), ['event', 'namespace', 'timestamp', 'topic']);
      assert.equal(env.namespace, 'k8s.io');
      assert.deepEqual(env.event.value, { container_id: 'c1', exit_status: 137 });
    }
  });

  it('carries protobuf bytes as the event value', async () => {
    const got: Envelope[] = [];
    const stop = b.subscribeEvents((e) => got.push(e));
    await b.nc.flush();
    a.publishEvent('/images/delete', 'default', { type_url: 'containerd.services.images.v1.ImageDelete', value: new Uint8Array([0x0a, 0x01, 0x78]) });
    await until(() => got.length > 0);
    stop();
    assert.ok(got[0]!.event.value instanceof Uint8Array);
    assert.deepEqual(Array.from(got[0]!.event.value as Uint8Array), [0x0a, 0x01, 0x78]);
  });

  it('filters by a narrower subject', async () => {
    const tasks: string[] = [];
    const all: string[] = [];
    const stopTasks = b.subscribeEvents((e) => tasks.push(e.topic), 'flotilla.events.tasks.>');
    const stopAll = b.subscribeEvents((e) => all.push(e.topic));
    await b.nc.flush();
    a.publishEvent('/namespaces/create', 'ns1', { type_url: 'containerd.events.NamespaceCreate', value: { name: 'ns1' } });
    a.publishEvent('/tasks/start', 'ns1', { type_url: 'containerd.events.TaskStart', value: { container_id: 'c', pid: 1 } });
    a.publishEvent('/images/create', 'ns1', { type_url: 'containerd.events.ImageCreate', value: { name: 'i' } });
    a.publishEvent('/tasks/exit', 'ns1', { type_url: 'containerd.events.TaskExit', value: { container_id: 'c' } });
    await until(() => all.length === 4 && tasks.length === 2);
    await sleep(50);
    stopTasks();
    stopAll();
    assert.deepEqual(tasks, ['/tasks/start', '/tasks/exit']);
    assert.deepEqual(all, ['/namespaces/create', '/tasks/start', '/images/create', '/tasks/exit']);
  });

  it('stops delivering after unsubscribe and rejects invalid topics on publish', async () => {
    const got: string[] = [];
    const stop = b.subscribeEvents((e) => got.push(e.topic));
    await b.nc.flush();
    stop();
    await b.nc.flush();
    a.publishEvent('/containers/create', 'ns1', { type_url: 'containerd.events.ContainerCreate', value: { id: 'c' } });
    await a.nc.flush();
    await sleep(100);
    assert.deepEqual(got, []);
    assert.throws(
      () => a.publishEvent('tasks.exit', 'ns1', { type_url: 'x', value: {} }),
      (e: FlotillaError) => e.code === Code.InvalidArgument,
    );
  });
});

describe('bus introspection and health', () => {
  let nats: TestNats;
  let meta: Bus;
  let content: Bus;
  let asker: Bus;

  const info = (service: string, pid: number): ProcessInfo => ({
    service,
    pid,
    version: '0.1.0',
    startedAt: 1_700_000_000_000,
    plugins: [{ type: `io.containerd.${service}.v1`, id: service, requires: [], status: 'ok' }],
  });
  const health = (service: string, bus: () => Bus): (() => HealthInfo) => () => ({
    service,
    pid: 1,
    status: 'serving',
    inflight: bus().inflightCount,
  });

  before(async () => {
    nats = await startTestNats();
    meta = await nats.connect('metadata');
    content = await nats.connect('content');
    asker = await nats.connect('asker');
    meta.answerIntrospection(() => info('metadata', 101), health('metadata', () => meta));
    content.answerIntrospection(() => info('content', 102), health('content', () => content));
    await Promise.all([meta.nc.flush(), content.nc.flush()]);
  });

  after(async () => {
    await nats.stop();
  });

  it('introspect() collects every process', async () => {
    const t0 = Date.now();
    const all = await asker.introspect();
    const ms = Date.now() - t0;
    assert.deepEqual(
      all.map((p) => p.service).sort(),
      ['content', 'metadata'],
    );
    const m = all.find((p) => p.service === 'metadata')!;
    assert.deepEqual(m, info('metadata', 101));
    assert.ok(ms < 1000, `introspection took ${ms} ms`);
  });

  it('introspect() with nobody answering returns nothing at once', async () => {
    const lonely = await startTestNats();
    try {
      const bus = await lonely.connect('lonely');
      const t0 = Date.now();
      assert.deepEqual(await bus.introspect(), []);
      assert.ok(Date.now() - t0 < 500);
    } finally {
      await lonely.stop();
    }
  });

  it('health(service) answers, and a missing service is Unavailable (14)', async () => {
    assert.deepEqual(await asker.health('metadata'), { service: 'metadata', pid: 1, status: 'serving', inflight: 0 });
    assert.equal((await asker.health('content')).service, 'content');
    const t0 = Date.now();
    await assert.rejects(asker.health('snapshotter', 3000), (e: FlotillaError) => e.code === Code.Unavailable && /health of snapshotter/.test(e.message));
    assert.ok(Date.now() - t0 < 1000, 'no-responders answers at once');
  });

  it('health of a replicated service is answered once (queue group)', async () => {
    const replica = await nats.connect('metadata-2');
    replica.answerIntrospection(() => info('metadata', 201), health('metadata', () => replica));
    await replica.nc.flush();
    const replies: HealthInfo[] = [];
    const inbox = asker.nc.subscribe('_INBOX.health-probe');
    const reading = (async () => {
      for await (const m of inbox) replies.push(decodeBody<HealthInfo>(m.data));
    })();
    asker.nc.publish('flotilla.health.metadata', new Uint8Array(0), { reply: '_INBOX.health-probe' });
    await asker.nc.flush();
    await sleep(200);
    inbox.unsubscribe();
    await reading;
    assert.equal(replies.length, 1);
    // …while introspection reaches every process (no queue group).
    const all = await asker.introspect();
    assert.deepEqual(all.map((p) => p.pid).sort(), [101, 102, 201]);
    await replica.close();
  });
});
