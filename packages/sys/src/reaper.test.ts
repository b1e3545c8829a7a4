import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Code, codeOf } from '@flotilla/api';
import { FakeSys } from './fake.js';
import { defaultSys, nativeLoadError } from './native.js';
import { nodeChildCount } from './node-children.js';
import { Reaper, startReaper } from './reaper.js';
import { isChildSubreaper, setChildSubreaper } from './subreaper.js';
import type { ExitInfo } from './wait-status.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('Reaper over FakeSys', () => {
  test('wait() resolves whether it is called before or after the exit', async () => {
    const sys = new FakeSys();
    const reaper = new Reaper({ sys });
    sys.addChild(100);
    sys.addChild(101);
    const early = reaper.wait(100);
    sys.exitChild(100, { code: 3 });
    sys.exitChild(101, { signal: 9 });
    assert.equal((await early).exitStatus, 3);
    await tick();
    const late = await reaper.wait(101);
    assert.deepEqual([late.exitStatus, late.signal], [137, 9]);
    assert.deepEqual(sys.liveChildren(), []);
    reaper.stop();
  });

  test('a wait takes the recorded exit, so a reused pid is not answered from the past', async () => {
    const sys = new FakeSys();
    const reaper = new Reaper({ sys });
    sys.exitChild(200, { code: 1 });
    await tick();
    assert.equal((await reaper.wait(200)).exitStatus, 1);
    const again = reaper.wait(200);
    sys.exitChild(200, { code: 2 }); // same pid, a new process
    assert.equal((await again).exitStatus, 2);
    reaper.stop();
  });

  test('leaves Node children alone and still reaps the zombies queued behind them', async () => {
    const sys = new FakeSys();
    const libuvPids = new Set([300]);
    const reaper = new Reaper({ sys, isNodeChild: (pid) => libuvPids.has(pid) });
    const seen: number[] = [];
    reaper.on('exit', (e) => seen.push(e.pid));
    sys.exitChild(300, { code: 0 }); // first in the queue: what waitid(P_ALL, WNOWAIT) names
    sys.exitChild(301, { code: 5 });
    await tick();
    assert.deepEqual(seen, [301]);
    assert.deepEqual(sys.liveChildren(), [300], 'the Node child is left for libuv');
    sys.waitpid(300); // libuv reaps its child
    libuvPids.delete(300);
    sys.exitChild(302, { code: 6 });
    await tick();
    assert.deepEqual(seen, [301, 302]);
    reaper.stop();
  });

  test('subscribe() buffers only the exits after it; abort and stop() reject with Canceled', async () => {
    const sys = new FakeSys();
    const reaper = new Reaper({ sys });
    sys.exitChild(400, { code: 0 });
    await tick();
    const sub = reaper.subscribe();
    sys.exitChild(401, { code: 4 });
    await tick();
    assert.equal((await sub.wait(401)).exitStatus, 4);
    const ac = new AbortController();
    const never = sub.wait(400, { signal: ac.signal }); // exited before the subscription
    ac.abort();
    await assert.rejects(never, (err) => codeOf(err) === Code.Canceled);
    const pending = sub.wait(402);
    const direct = reaper.wait(403);
    reaper.stop(); // closes the subscription too
    await assert.rejects(pending, (err) => codeOf(err) === Code.Canceled);
    await assert.rejects(direct, (err) => codeOf(err) === Code.Canceled);
  });

  test('the table of unclaimed exits is bounded', async () => {
    const sys = new FakeSys();
    const reaper = new Reaper({ sys, historySize: 2 });
    for (const pid of [500, 501, 502]) sys.exitChild(pid, { code: pid - 500 });
    await tick();
    const ac = new AbortController();
    const oldest = reaper.wait(500, { signal: ac.signal });
    assert.equal((await reaper.wait(502)).exitStatus, 2);
    assert.equal((await reaper.wait(501)).exitStatus, 1);
    ac.abort();
    await assert.rejects(oldest, (err) => codeOf(err) === Code.Canceled);
    reaper.stop();
  });
});

/** Runs `sh -c script` through child_process; resolves with its code and stdout. */
function sh(script: string, pids: number[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    if (c.pid) pids.push(c.pid);
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out }));
  });
}

function execTrue(pids: number[]): Promise<number> {
  return new Promise((resolve) => {
    const c = execFile('true', (err) => resolve(err ? Number((err as { code?: number }).code ?? -1) : 0));
    if (c.pid) pids.push(c.pid);
  });
}

describe('Reaper on the real system, next to node:child_process', { skip: nativeLoadError() !== undefined }, () => {
  let reaper: Reaper;
  const reaped: ExitInfo[] = [];

  before(() => {
    setChildSubreaper();
    assert.equal(isChildSubreaper(), true);
    reaper = startReaper();
    reaper.on('exit', (e) => reaped.push(e));
  });

  after(() => reaper.stop());

  /**
   * One round: three grandchildren reparented to us (exit 0, exit 7, SIGKILL) and three Node
   * children (execFile true, exit 3 at once, exit 3 at the same moment a grandchild exits), all
   * at the same time. Returns the Node children's pids.
   */
  async function round(i: number): Promise<number[]> {
    const nodePids: number[] = [];
    const jitter = (i % 5) * 0.01;
    const [g0, g7, gk, t, e3, e3late] = await Promise.all([
      sh(`sleep ${0.2 + jitter} >/dev/null & echo $!; exit 0`, nodePids),
      sh(`(sleep ${0.1 + jitter}; exit 7) >/dev/null & echo $!; exit 0`, nodePids),
      sh('sleep 5 >/dev/null & echo $!; exit 0', nodePids),
      execTrue(nodePids),
      sh('exit 3', nodePids),
      sh(`sleep ${0.2 + jitter}; exit 3`, nodePids),
    ]);
    if (i % 10 === 0) assert.equal(spawnSync('true').status, 0);
    assert.deepEqual([g0.code, g7.code, gk.code, t, e3.code, e3late.code], [0, 0, 0, 0, 3, 3]);
    const [p0, p7, pk] = [g0, g7, gk].map((r) => Number(r.out.trim()));
    process.kill(pk!, 'SIGKILL');
    const [x0, x7, xk] = await Promise.all([reaper.wait(p0!), reaper.wait(p7!), reaper.wait(pk!)]);
    assert.deepEqual([x0.exitStatus, x0.signal], [0, undefined]);
    assert.deepEqual([x7.exitStatus, x7.signal], [7, undefined]);
    assert.deepEqual([xk.exitStatus, xk.signal], [137, 9]);
    return nodePids;
  }

  test('a reparented grandchild is reaped with its real status; Node children keep theirs', { timeout: 10_000 }, async () => {
    const nodePids = await round(1);
    const stolen = reaped.filter((e) => nodePids.includes(e.pid));
    assert.deepEqual(stolen, [], 'the reaper reaped a child of libuv');
  });

  test('50 rounds, five at a time, without a lost or stolen exit', { timeout: 40_000 }, async () => {
    const t0 = Date.now();
    // Adversarial timing: also reap every millisecond, not only on SIGCHLD, so the reaper often
    // finds a Node child's zombie before libuv does (a naive wait(-1) loop loses all of them).
    const hammer = setInterval(() => reaper.reap(), 1);
    const nodePids: number[] = [];
    for (let i = 0; i < 50; i += 5) {
      const batch = await Promise.all([0, 1, 2, 3, 4].map((k) => round(i + k)));
      nodePids.push(...batch.flat());
    }
    clearInterval(hammer);
    const ms = Date.now() - t0;
    const stolen = reaped.filter((e) => nodePids.includes(e.pid));
    assert.deepEqual(stolen, []);
    assert.equal(nodeChildCount(), 0, 'every Node child was reaped by libuv');
    await new Promise((r) => setTimeout(r, 20));
    // No zombie left behind. (Living children may exist: tsx's esbuild service, for one.)
    const zombies = defaultSys()
      .listChildren()
      .filter((pid) => /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1')));
    assert.deepEqual(zombies, [], 'no zombie left');
    // 50 rounds x 6 processes through Node + 3 reparented grandchildren each.
    const { reaped: n, leftToNode, retries } = reaper.stats;
    console.error(
      `# reaper race: 50 rounds, ${nodePids.length} Node children ok, ${n} grandchildren reaped, ` +
        `Node zombie found first ${leftToNode}x, ${retries} retries, ${ms} ms`,
    );
  });
});
