import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import type { EventPayload } from '@flotilla/bus';
import { silentLogger } from '@flotilla/log';
import { NAMESPACE_METADATA_KEY, TtrpcClient, ttrpcClient } from '@flotilla/ttrpc';
import { EventsEndpoint, TTRPC_EVENTS_SERVICE, eventPayload } from './events-endpoint.js';
import { runtimeRoot } from './protos.js';
import type { Timestamp } from './types.js';

describe('ttrpc events endpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fl-evt-'));
  const address = join(dir, 'containerd.sock.ttrpc');
  const root = runtimeRoot();
  const got: { topic: string; ns: string; event: EventPayload; ts?: Timestamp; by: string }[] = [];
  const endpoint = (by: string) =>
    new EventsEndpoint({ address, root, log: silentLogger(), retryMs: 50, publish: (topic, ns, event, ts) => void got.push({ topic, ns, event, ts, by }) });
  const first = endpoint('first');
  const second = endpoint('second');
  after(async () => {
    await first.stop();
    await second.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const exitAny = () => {
    const t = root.lookupType('containerd.events.TaskExit');
    const value = t.encode(t.fromObject({ container_id: 'c1', id: 'c1', pid: 42, exit_status: 7, exited_at: { seconds: 1700000000, nanos: 5 } })).finish();
    return { type_url: 'containerd.events.TaskExit', value };
  };

  const forward = async (envelope: object) => {
    const client = await TtrpcClient.connect(address);
    try {
      const events = ttrpcClient(root, TTRPC_EVENTS_SERVICE, client);
      await events.call('Forward', { envelope }, { metadata: { [NAMESPACE_METADATA_KEY]: 'ns1' }, timeoutMs: 5000 });
    } finally {
      client.close();
    }
  };

  test('Forward republishes the envelope with the event decoded (numbers, every field)', async () => {
    first.start();
    assert.equal(await first.waitListening(2000), true);
    await forward({ timestamp: { seconds: 1700000001, nanos: 9 }, namespace: 'ns1', topic: '/tasks/exit', event: exitAny() });
    assert.equal(got.length, 1);
    assert.deepEqual(got[0], {
      topic: '/tasks/exit',
      ns: 'ns1',
      ts: { seconds: 1700000001, nanos: 9 },
      by: 'first',
      event: { type_url: 'containerd.events.TaskExit', value: { container_id: 'c1', id: 'c1', pid: 42, exit_status: 7, exited_at: { seconds: 1700000000, nanos: 5 } } },
    });
  });

  test('bad envelopes are InvalidArgument; unknown event types travel as bytes', async () => {
    for (const env of [{ namespace: 'ns1', topic: 'tasks/exit', event: exitAny() }, { topic: '/tasks/exit', event: exitAny() }, { namespace: 'ns1', topic: '/tasks/exit' }]) {
      await assert.rejects(forward(env), (e) => codeOf(e) === Code.InvalidArgument);
    }
    assert.deepEqual(eventPayload(root, { type_url: 'example.Unknown', value: new Uint8Array([1, 2]) }), { type_url: 'example.Unknown', value: new Uint8Array([1, 2]) });
  });

  test('singleton: a second endpoint waits while the first holds the socket, then takes over', async () => {
    second.start();
    assert.equal(await second.waitListening(300), false);
    await first.stop();
    assert.equal(await second.waitListening(3000), true);
    await forward({ namespace: 'ns1', topic: '/tasks/start', event: { type_url: 'containerd.events.TaskStart', value: new Uint8Array(0) } });
    const last = got.at(-1)!;
    assert.equal(last.by, 'second');
    assert.deepEqual(last.event, { type_url: 'containerd.events.TaskStart', value: { container_id: '', pid: 0 } });
    assert.equal(last.ts, undefined, 'no timestamp: the bus stamps it');
  });
});
