import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, FlotillaError } from '@flotilla/api';
import { silentLogger } from '@flotilla/log';
import { EVENT_TYPES_PROTOS, TTRPC_EVENTS_PROTO, decodeAny, loadRoot } from '@flotilla/protos';
import { NAMESPACE_METADATA_KEY, TtrpcServer, type CallContext } from '@flotilla/ttrpc';
import { EVENTS_SERVICE, Publisher } from './publisher.js';

const root = loadRoot([TTRPC_EVENTS_PROTO, ...EVENT_TYPES_PROTOS]);
const dir = mkdtempSync(join(tmpdir(), 'fl-shim-pub-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Got {
  topic: string;
  namespace: string;
  event: Record<string, unknown> | undefined;
  metadata: Record<string, string[]>;
  deadlineMs: number | undefined;
}

async function eventsServer(path: string, failFirst = 0) {
  const got: Got[] = [];
  let calls = 0;
  const server = new TtrpcServer({ root });
  server.register(EVENTS_SERVICE, {
    Forward: (req: { envelope: { topic: string; namespace: string; event: { type_url: string; value: Buffer } } }, ctx: CallContext) => {
      if (calls++ < failFirst) throw new FlotillaError(Code.Unavailable, 'not yet');
      got.push({
        topic: req.envelope.topic,
        namespace: req.envelope.namespace,
        event: decodeAny(root, req.envelope.event),
        metadata: ctx.metadata,
        deadlineMs: ctx.deadline === undefined ? undefined : ctx.deadline - Date.now(),
      });
      return {};
    },
  });
  await server.listen(path);
  return { server, got, calls: () => calls };
}

test('events leave in order, with namespace metadata and a 5 s deadline; failures are retried in place', async () => {
  const path = join(dir, 'a.sock');
  const srv = await eventsServer(path, 2);
  const pub = new Publisher({ address: path, namespace: 'ns1', root, logger: silentLogger(), backoffMs: 5 });
  try {
    const done = [
      pub.publish('TaskCreate', { container_id: 'c', pid: 10 }),
      pub.publish('TaskStart', { container_id: 'c', pid: 10 }),
      pub.publish('TaskExit', { container_id: 'c', id: 'c', pid: 10, exit_status: 7 }),
      pub.publish('TaskDelete', { container_id: 'c', pid: 10, exit_status: 7 }),
    ];
    await Promise.all(done);
    assert.deepEqual(
      srv.got.map((g) => g.topic),
      ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'],
    );
    assert.equal(srv.calls(), 6, 'two failed attempts, then four forwards');
    assert.deepEqual(pub.stats, { forwarded: 4, failures: 2, dropped: 0 });
    const exit = srv.got[2]!;
    assert.equal(exit.namespace, 'ns1');
    assert.deepEqual(exit.metadata, { [NAMESPACE_METADATA_KEY]: ['ns1'] });
    assert.ok(exit.deadlineMs! > 4000 && exit.deadlineMs! <= 5000, `deadline ${exit.deadlineMs}`);
    assert.equal(exit.event?.exit_status, 7);
  } finally {
    pub.close();
    await srv.server.shutdown({ timeoutMs: 100 });
  }
});

test('an event that keeps failing is dropped after 5 retries; the connection is remade after a restart', async () => {
  const path = join(dir, 'b.sock');
  let srv = await eventsServer(path, 1000);
  const pub = new Publisher({ address: path, namespace: 'ns', root, logger: silentLogger(), backoffMs: 1 });
  try {
    await pub.publish('TaskOOM', { container_id: 'x' });
    assert.equal(srv.calls(), 6, 'first attempt + 5 retries');
    assert.equal(pub.stats.dropped, 1);
    await srv.server.shutdown({ timeoutMs: 100 });
    srv = await eventsServer(path, 0);
    await pub.publish('TaskPaused', { container_id: 'x' });
    assert.deepEqual(srv.got.map((g) => g.topic), ['/tasks/paused']);
    await pub.flush(100);
    assert.equal(pub.pending, 0);
  } finally {
    pub.close();
    await srv.server.shutdown({ timeoutMs: 100 });
  }
  // Nothing to connect to: dropped after the retries, never thrown.
  const lost = new Publisher({ address: join(dir, 'none.sock'), namespace: 'ns', root, logger: silentLogger(), backoffMs: 1 });
  await lost.publish('TaskResumed', { container_id: 'x' });
  assert.equal(lost.stats.dropped, 1);
  lost.close();
});
