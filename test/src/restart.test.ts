/**
 * Fault tests (ARCHITECTURE §5): kill -9 of the metadata process and of the gateway under
 * `flotilla up`. The supervisor restarts them; nothing acknowledged is lost; callers in the gap
 * get an answer (OK or Unavailable) before their deadline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { commandWords, ctr, pidAlive, socketAccepts, startFlotilla, waitFor, type FlotillaStack } from '@flotilla/testkit';
import { ApiClient } from './api-client.js';
import { statusJson } from './flotilla-cli.js';

const SERVING = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('kill -9 of a service under flotilla up', () => {
  let stack: FlotillaStack | undefined;
  let api: ApiClient;

  before(
    async () => {
      stack = await startFlotilla();
      api = new ApiClient(stack.address);
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      api?.close();
      await stack?.stop();
    },
    { timeout: 30_000 },
  );

  /** The pid of `service` once it differs from `old` (0 while none). */
  const newPid = (service: string, old: number) => {
    try {
      const p = stack!.pidOf(service);
      return p && p !== old ? p : 0;
    } catch {
      return 0;
    }
  };

  it('metadata: restarted within 2 s, acknowledged namespaces kept, calls in the gap answer OK or Unavailable', { timeout: 90_000 }, async () => {
    const before50 = Array.from({ length: 50 }, (_, i) => `before-${i}`);
    const acks = await Promise.all(before50.map((n) => api.createNamespace(n, { i: n })));
    for (const r of acks) assert.equal(r.code, 0, r.details);

    const oldPid = stack!.pidOf('metadata');
    const outcomes: { op: string; code: number; details: string; ms: number; at: number }[] = [];
    const createdInGap: string[] = [];
    const pending: Promise<void>[] = [];
    let t0 = 0;
    let n = 0;
    // Every 10 ms, without waiting for earlier calls: a Create of a fresh name and a List.
    const fire = () => {
      const name = `gap-${n++}`;
      const at = performance.now() - t0;
      pending.push(
        api.createNamespace(name, {}, { timeoutMs: 5_000 }).then((c) => {
          outcomes.push({ op: 'Create', code: c.code, details: c.details, ms: c.ms, at });
          if (c.code === 0) createdInGap.push(name);
        }),
        api.call(api.namespaces, 'List', {}, { timeoutMs: 5_000 }).then((l) => void outcomes.push({ op: 'List', code: l.code, details: l.details, ms: l.ms, at })),
      );
    };

    process.kill(oldPid, 'SIGKILL');
    t0 = performance.now();
    const loop = setInterval(fire, 10);
    fire();
    let restartMs = 0;
    let pid = 0;
    try {
      // Restarted = a new pid in the supervisor's status and the process answers health.
      pid = await waitFor('metadata restarted', 10_000, async () => {
        const p = newPid('metadata', oldPid);
        if (!p) return 0;
        const h = await api.call<{ status: number }>(api.health, 'Check', { service: 'metadata' }, { timeoutMs: 1_000 });
        return h.code === 0 && h.value?.status === SERVING ? p : 0;
      });
      restartMs = performance.now() - t0;
      await sleep(200); // a few calls after the restart too
    } finally {
      clearInterval(loop);
      await Promise.all(pending);
    }

    const st = await statusJson(stack!.state);
    const meta = st.processes.find((p) => p.service === 'metadata')!;
    const codes = outcomes.reduce<Record<string, number>>((m, o) => ((m[`${o.op}:${o.code}`] = (m[`${o.op}:${o.code}`] ?? 0) + 1), m), {});
    console.log(
      `metadata restart: ${restartMs.toFixed(0)} ms (kill -9 to new pid serving); calls from the kill to 200 ms after: ${JSON.stringify(codes)}, ` +
        `slowest ${Math.max(...outcomes.map((o) => o.ms)).toFixed(0)} ms`,
    );

    assert.ok(restartMs < 2_000, `metadata took ${restartMs.toFixed(0)} ms to restart`);
    assert.equal(pidAlive(oldPid), false);
    assert.equal(meta.pid, pid);
    assert.equal(meta.health, 'serving');
    assert.equal(meta.restarts, 1);
    assert.equal(st.code, 0);

    assert.ok(outcomes.length > 0);
    assert.ok(outcomes.filter((o) => o.at < restartMs).length >= 10, 'calls were made during the gap');
    for (const o of outcomes) {
      assert.ok(o.code === 0 || o.code === 14, `${o.op} answered code ${o.code}: ${o.details}`);
      assert.ok(o.ms < 5_500, `${o.op} took ${o.ms.toFixed(0)} ms`);
    }

    const names = new Set(await api.namespaceNames());
    for (const n of before50) assert.ok(names.has(n), `acknowledged namespace ${n} lost`);
    for (const n of createdInGap) assert.ok(names.has(n), `namespace ${n} created in the gap is missing`);
    const one = await api.call(api.namespaces, 'Get', { name: 'before-49' });
    assert.deepEqual(one.value, { namespace: { name: 'before-49', labels: { i: 'before-49' } } });
  });

  it('gateway: restarted, and ctr works again within a few seconds', { timeout: 60_000 }, async () => {
    const oldPid = stack!.pidOf('gateway');
    process.kill(oldPid, 'SIGKILL');
    const t0 = performance.now();
    const pid = await waitFor('gateway restarted', 10_000, async () => {
      const p = newPid('gateway', oldPid);
      return p && (await socketAccepts(stack!.address)) ? p : 0;
    });
    const r = await ctr(stack!.address, ['ns', 'ls', '-q'], { timeoutMs: 10_000 });
    const ms = performance.now() - t0;
    console.log(`gateway restart: ${ms.toFixed(0)} ms (kill -9 to ctr ns ls answered)`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.split('\n').includes('before-0'), r.stdout);
    assert.ok(ms < 5_000, `ctr worked again only after ${ms.toFixed(0)} ms`);
    assert.equal(pidAlive(oldPid), false);
    assert.ok(pidAlive(pid));
    const v = await ctr(stack!.address, ['version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Server:\n\s+Version:\s+0\.1\.0/);
    const st = await statusJson(stack!.state);
    assert.equal(st.code, 0);
    assert.equal(st.processes.find((p) => p.service === 'gateway')?.health, 'serving');
  });

  it('supervisor: kill -9 takes every service and nats-server along; flotilla up on the same dirs serves the same data', { timeout: 60_000 }, async () => {
    const st = stack!.status();
    const nats = readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e) && commandWords(Number(e)).some((w) => w.startsWith(join(stack!.state, 'bus'))))
      .map(Number);
    assert.equal(nats.length, 1, 'one nats-server with its config under the state dir');
    const children = [...st.processes.map((p) => p.pid).filter((p) => p > 0), ...nats];
    assert.ok(children.length >= 7, JSON.stringify(st));
    stack!.process.kill('SIGKILL');
    await waitFor('every process of the killed supervisor to exit', 15_000, () => children.every((p) => !pidAlive(p)));
    const again = await startFlotilla({ dir: stack!.dir });
    stack = again;
    api.close();
    api = new ApiClient(again.address);
    const r = await ctr(again.address, ['ns', 'ls', '-q'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.split('\n').includes('before-0'), r.stdout);
  });
});
