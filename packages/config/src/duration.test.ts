import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from './duration.js';

test('parseDuration accepts Go-style durations', () => {
  assert.equal(parseDuration('100ms'), 100);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('0s'), 0);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('+2s'), 2000);
  assert.equal(parseDuration('250us'), 0.25);
  assert.equal(parseDuration('500000ns'), 0.5);
});

test('parseDuration rejects bad input with code 3', () => {
  for (const bad of ['', 'abc', '10', '1x', '1s2', ' 1s', '1s ', '-1s', 's', '1.s.s', '1e3s']) {
    assert.throws(
      () => parseDuration(bad),
      (err: Error & { code?: number }) => err.code === 3 && err.message.includes(JSON.stringify(bad)),
      `expected ${JSON.stringify(bad)} to be rejected`,
    );
  }
});
