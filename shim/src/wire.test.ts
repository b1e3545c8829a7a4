import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNC_OPTIONS_PROTO, SHIM_PROTO, loadRoot } from '@flotilla/protos';
import { decodeMessage, encodeMessage } from '@flotilla/ttrpc';
import { timestamp } from './events.js';
import { GO_ZERO_TIME_SECONDS, decodeAny, decodeShimCgroup, encodeDeleteResponse, isRuncOptionsType } from './wire.js';

const root = loadRoot([SHIM_PROTO, RUNC_OPTIONS_PROTO]);

test('DeleteResponse by hand = the proto encoding (canonical, timestamp always present)', () => {
  const type = root.lookupType('containerd.task.v2.DeleteResponse');
  const at = new Date('2026-01-02T03:04:05.678Z');
  const ours = encodeDeleteResponse({ pid: 4242, exitStatus: 137, exitedAt: at });
  const theirs = encodeMessage(type, { pid: 4242, exit_status: 137, exited_at: timestamp(at) });
  assert.deepEqual(ours, theirs);
  const back = decodeMessage<{ pid: number; exit_status: number; exited_at: { seconds: string; nanos: number } }>(type, ours);
  assert.deepEqual(back, { pid: 4242, exit_status: 137, exited_at: { seconds: String(Math.floor(at.getTime() / 1000)), nanos: 678_000_000 } });
  // Zero pid and status are left out; a missing time is Go's zero time.Time.
  const zero = decodeMessage<{ pid: number; exited_at: { seconds: string } }>(type, encodeDeleteResponse({ pid: 0, exitStatus: 0, exitedAt: undefined }));
  assert.equal(zero.pid, 0);
  assert.equal(zero.exited_at.seconds, String(GO_ZERO_TIME_SECONDS));
});

test('runc Options Any from start stdin: shim_cgroup', () => {
  const opts = root.lookupType('containerd.runc.v1.Options');
  const value = encodeMessage(opts, { binary_name: 'crun', shim_cgroup: '/pods/p1', systemd_cgroup: true, io_uid: 1000 });
  const anyType = root.lookupType('google.protobuf.Any');
  const bytes = encodeMessage(anyType, { type_url: 'containerd.runc.v1.Options', value });
  const any = decodeAny(bytes);
  assert.equal(any.typeUrl, 'containerd.runc.v1.Options');
  assert.ok(isRuncOptionsType(any.typeUrl));
  assert.ok(isRuncOptionsType('type.googleapis.com/containerd.runc.v1.Options'));
  assert.ok(!isRuncOptionsType('containerd.runhcs.v1.Options'));
  assert.equal(decodeShimCgroup(any.value), '/pods/p1');
  assert.equal(decodeShimCgroup(encodeMessage(opts, { binary_name: 'x' })), '');
  assert.throws(() => decodeAny(Buffer.from([0x0a, 0x10, 0x41])), /truncated/);
});
