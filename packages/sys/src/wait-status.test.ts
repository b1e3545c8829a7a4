import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeWaitStatus, exitedStatus, signaledStatus } from './wait-status.js';

test('exit codes and signals decode the way containerd reports them', () => {
  const at = new Date(0);
  assert.deepEqual(decodeWaitStatus(1, 0, at), { pid: 1, exitStatus: 0, exitedAt: at });
  assert.deepEqual(decodeWaitStatus(2, 0x300, at), { pid: 2, exitStatus: 3, exitedAt: at });
  assert.deepEqual(decodeWaitStatus(3, exitedStatus(255), at), { pid: 3, exitStatus: 255, exitedAt: at });
  assert.deepEqual(decodeWaitStatus(4, 9, at), { pid: 4, exitStatus: 137, signal: 9, exitedAt: at });
  assert.deepEqual(decodeWaitStatus(5, signaledStatus(11, true), at), {
    pid: 5,
    exitStatus: 139,
    signal: 11,
    coreDumped: true,
    exitedAt: at,
  });
  assert.throws(() => decodeWaitStatus(6, 0x137f), RangeError); // stopped by SIGSTOP
});
