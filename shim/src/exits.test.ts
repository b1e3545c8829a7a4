import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ExitInfo } from '@flotilla/sys';
import { ExitRouter } from './exits.js';

const exit = (pid: number, exitStatus = 0): ExitInfo => ({ pid, exitStatus, exitedAt: new Date() });

test('exits route to their watcher; an early exit inside a window is found by watch()', async () => {
  const reaper = new EventEmitter();
  const router = new ExitRouter(reaper as never);
  const seen: ExitInfo[] = [];
  router.watch(10, (e) => seen.push(e));
  reaper.emit('exit', exit(10, 1));
  reaper.emit('exit', exit(10, 2)); // routed once only
  assert.deepEqual(seen.map((e) => e.exitStatus), [1]);

  // A process that is over before its pid is known (runc exec --detach of `true`).
  await router.during(async () => {
    reaper.emit('exit', exit(20, 3));
    reaper.emit('exit', exit(21, 0)); // one of runc's own helpers
    await new Promise<void>((resolve) =>
      router.watch(20, (e) => {
        seen.push(e);
        resolve();
      }),
    );
  });
  assert.deepEqual(seen.map((e) => e.pid), [10, 20]);

  // Outside any window an unknown exit is dropped, and the window's leftovers are gone.
  reaper.emit('exit', exit(30));
  let late = false;
  router.watch(21, () => (late = true));
  router.watch(30, () => (late = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(late, false);
  router.unwatch(21);
  router.unwatch(30);
  assert.equal(router.watching, 0);
});
