/** A replica process killed with SIGKILL: callers fail fast with Unavailable instead of hanging. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, type FlotillaError } from '@flotilla/api';
import type { Bus } from './bus.js';
import { startTestNats, type TestNats } from './testing-nats.js';

async function failure(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p;
  } catch (err) {
    return err as FlotillaError;
  }
  assert.fail('expected a failure');
}

describe('bus failures', () => {
  let nats: TestNats;
  let client: Bus;

  before(async () => {
    nats = await startTestNats();
    client = await nats.connect('failure-client'); // default heartbeat 500 ms → liveness 1.5 s
    assert.equal(client.heartbeatMs, 500);
  });

  after(async () => {
    await nats.stop();
  });

  it('fails a unary call with Unavailable (14) soon after its server is killed', async () => {
    const peer = await nats.spawnPeer('hang');
    const call = failure(client.call('victim', 'Hang', {}, { timeoutMs: 10_000 }));
    await peer.line('got Hang');
    const t0 = Date.now();
    peer.child.kill('SIGKILL');
    const err = await call;
    const ms = Date.now() - t0;
    console.log(`# unary call noticed the killed replica after ${ms} ms`);
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.message, /went away/);
    assert.ok(ms < 3000, `took ${ms} ms`);
    await peer.exited;
  });

  it('fails a server stream with Unavailable (14) soon after its server is killed', async () => {
    const peer = await nats.spawnPeer('hang');
    const s = client.openStream<never, { n: number }>('victim', 'Drip', {}, { timeoutMs: 10_000 });
    assert.deepEqual(await s.recv(), { n: 1 });
    await peer.line('got Drip');
    const t0 = Date.now();
    peer.child.kill('SIGKILL');
    const err = await failure(s.recv());
    const ms = Date.now() - t0;
    console.log(`# stream noticed the killed server after ${ms} ms`);
    assert.equal(err.code, Code.Unavailable);
    assert.ok(ms < 3000, `took ${ms} ms`);
    assert.ok(s.signal.aborted);
    await peer.exited;
  });

  it('keeps serving through the surviving replica when one is killed', async () => {
    const peer = await nats.spawnPeer('echo');
    const local = await nats.connect('echo-local');
    local.serve('echo', { unary: { Pid: () => ({ pid: process.pid }) } });
    await local.nc.flush();
    const before = await Promise.all(Array.from({ length: 60 }, () => client.call<{ pid: number }>('echo', 'Pid', {})));
    const pids = new Set(before.map((r) => r.pid));
    assert.deepEqual([...pids].sort(), [process.pid, peer.child.pid].sort(), 'both replicas answered');
    peer.child.kill('SIGKILL');
    await peer.exited;
    // The server drops the dead connection's interest at once (socket closed): no gap.
    const afterKill = await Promise.all(Array.from({ length: 60 }, () => client.call<{ pid: number }>('echo', 'Pid', {}, { timeoutMs: 3000 })));
    assert.ok(afterKill.every((r) => r.pid === process.pid));
  });
});
