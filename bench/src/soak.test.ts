/** Unit test of the soak's memory verdict input (the soak itself is not run here: `npm run soak`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { floors } from './soak.js';

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
