/** Unit test of the soak's memory verdict input (the soak itself is not run here: `npm run soak`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { floors, fullGcs, heapMedians } from './soak.js';

const series = (values: (number | undefined)[], every: number) => values.map((value, i) => ({ run: i * every, value }));

describe('soak floors', () => {
  it('compares the lowest sample of the last quarter with the lowest of the third (the 3/4 sample in both)', () => {
    // Runs 0..100 every 10: third quarter = runs 50, 60, 70; last = 80, 90, 100.
    // A heap that grows during the warm-up half, then a GC sawtooth: flat.
    assert.deepEqual(floors(series([60, 70, 80, 90, 100, 90, 95, 100, 91, 96, 100], 10), 100), { first: 90, last: 91 });
    // Steady growth: the floors grow too.
    assert.deepEqual(floors(series([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 10), 100), { first: 50, last: 80 });
    // Samples only at 0 and 100: the last one before the third quarter, against the end.
    assert.deepEqual(floors(series([5, 7], 100), 100), { first: 5, last: 7 });
    // Runs 0..4 every 1: third quarter = runs 2, 3; last = 3, 4.
    assert.deepEqual(floors(series([9, 9, 4, 6, 8], 1), 4), { first: 4, last: 6 });
  });

  it('has no verdict when a sample is missing (the process went away)', () => {
    assert.deepEqual(floors(series([1, undefined, 3], 1), 2), {});
    assert.deepEqual(floors([], 10), {});
  });
});

describe('soak heap verdict', () => {
  it('reads the live heap a Mark-Compact leaves from --trace-gc lines', () => {
    const text = [
      '[29211:0x3be8fca0]    10699 ms: Mark-Compact 13.4 (29.2) -> 9.5 (28.5) MB, 2.73 / 0.01 ms  (+ 5.0 ms in 69 steps since start of marking)',
      '[29215:0x9898c80]     8203 ms: Mark-Compact (reduce) 8.8 (16.2) -> 7.1 (9.7) MB, 4.40 / 0.02 ms',
      '[29211:0x3be8fca0]    10700 ms: Scavenge 13.4 (29.2) -> 9.5 (28.5) MB, 0.5 / 0.0 ms',
      '{"level":30,"msg":"not a gc line"}',
    ].join('\n');
    assert.deepEqual(fullGcs(text), [
      { pid: 29211, afterMb: 9.5 },
      { pid: 29215, afterMb: 7.1 },
    ]);
  });

  it('compares the median of the last quarter with the median of the third, warm-up half left out', () => {
    const pts = [
      { run: 100, mb: 30 }, // warm-up: ignored
      { run: 600, mb: 10 },
      { run: 700, mb: 11 },
      { run: 750, mb: 12 },
      { run: 800, mb: 11 },
      { run: 1000, mb: 12 },
    ];
    assert.deepEqual(heapMedians(pts, 1000), { first: 11, last: 11 });
    assert.deepEqual(heapMedians([{ run: 900, mb: 5 }], 1000), { first: undefined, last: 5 });
  });
});
