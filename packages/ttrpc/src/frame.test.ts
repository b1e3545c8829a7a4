import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '@flotilla/api';
import {
  Flags,
  FrameReader,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  decodeHeader,
  encodeFrame,
  encodeHeader,
  type Frame,
  type FrameHeader,
} from './frame.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './wire.js';
import { fromKeyValues, toKeyValues } from './metadata.js';
import { encodeMessage, decodeMessage } from './codec.js';
import { echoRoot, hex } from './test-fixtures.js';

// Golden bytes below are computed by hand from containerd-facts §1.1–1.4 (big-endian header;
// protobuf tags = field number << 3 | wire type), not produced by this code.

test('header: big-endian length and stream id, then type and flags', () => {
  assert.deepEqual(encodeHeader({ length: 0x2a, streamId: 1, type: MessageType.Request, flags: 0 }), hex('0000002a 00000001 01 00'));
  assert.deepEqual(
    encodeHeader({ length: 0x01020304, streamId: 0x7fffffff, type: MessageType.Data, flags: Flags.RemoteClosed | Flags.NoData }),
    hex('01020304 7fffffff 03 05'),
  );
  assert.deepEqual(decodeHeader(hex('00400000 00000003 02 00')), { length: 4 << 20, streamId: 3, type: 2, flags: 0 });
  assert.equal(HEADER_LENGTH, 10);
  assert.equal(MAX_MESSAGE_LENGTH, 4194304);
});

test('flag and type values', () => {
  assert.deepEqual([MessageType.Request, MessageType.Response, MessageType.Data], [1, 2, 3]);
  assert.deepEqual([Flags.RemoteClosed, Flags.RemoteOpen, Flags.NoData], [1, 2, 4]);
  // close-send of a client stream: empty Data with remote-closed|no-data
  assert.deepEqual(encodeFrame(3, MessageType.Data, Flags.RemoteClosed | Flags.NoData, Buffer.alloc(0)), hex('00000000 00000003 03 05'));
});

const CONNECT_REQUEST_GOLDEN = hex(
  [
    '0a17', Buffer.from('containerd.task.v2.Task').toString('hex'), // service = 1
    '1207', Buffer.from('Connect').toString('hex'), // method = 2
    '1a05 0a03616263', // payload = 3: ConnectRequest{id: "abc"}
    '20 8094ebdc03', // timeout_nano = 4: 1e9 as varint
    '2a25 0a1a', Buffer.from('containerd-namespace-ttrpc').toString('hex'), '1207', Buffer.from('default').toString('hex'), // metadata = 5
  ].join(''),
);

test('Request encodes as Go does (golden)', () => {
  const bytes = encodeRequest({
    service: 'containerd.task.v2.Task',
    method: 'Connect',
    payload: hex('0a03616263'),
    timeout_nano: 1e9,
    metadata: toKeyValues({ 'containerd-namespace-ttrpc': 'default' }),
  });
  assert.equal(CONNECT_REQUEST_GOLDEN.length, 0x56);
  assert.deepEqual(bytes, CONNECT_REQUEST_GOLDEN);
  const frame = encodeFrame(1, MessageType.Request, 0, bytes);
  assert.deepEqual(frame.subarray(0, 10), hex('00000056 00000001 01 00'));

  const back = decodeRequest(CONNECT_REQUEST_GOLDEN);
  assert.equal(back.service, 'containerd.task.v2.Task');
  assert.equal(back.method, 'Connect');
  assert.deepEqual(back.payload, hex('0a03616263'));
  assert.equal(back.hasPayload, true);
  assert.equal(back.timeout_nano, 1e9);
  assert.deepEqual(fromKeyValues(back.metadata), { 'containerd-namespace-ttrpc': ['default'] });
});

test('Request: empty payload, no deadline and no metadata are left out (Go omits proto3 defaults)', () => {
  const bytes = encodeRequest({ service: 's', method: 'm', payload: Buffer.alloc(0) });
  assert.deepEqual(bytes, hex('0a0173 12016d'));
  const back = decodeRequest(bytes);
  assert.equal(back.hasPayload, false);
  assert.equal(back.timeout_nano, 0);
  assert.deepEqual(back.metadata, []);
  // A negative remaining time (deadline already passed) survives as a negative int64.
  assert.equal(decodeRequest(encodeRequest({ service: 's', method: 'm', timeout_nano: -5 })).timeout_nano, -5);
});

test('Response encodes as Go does: no status on success, status{code,message} on failure (golden)', () => {
  // Go's ttrpc server leaves the status out on success (nil *spb.Status); seen from the real shim.
  assert.deepEqual(encodeResponse({ payload: hex('0864') }), hex('1202 0864'));
  assert.deepEqual(encodeResponse({ status: { code: 0, message: '' } }), Buffer.alloc(0));
  // An explicit empty status (other implementations) decodes as OK.
  assert.deepEqual(decodeResponse(hex('0a00 1202 0864')).status, { code: 0, message: '', details: [] });
  const msg = 'container not created: not found';
  const golden = Buffer.concat([hex('0a24 0805 1220'), Buffer.from(msg)]);
  assert.deepEqual(encodeResponse({ status: { code: Code.NotFound, message: msg } }), golden);
  assert.deepEqual(decodeResponse(golden), { status: { code: 5, message: msg, details: [] }, payload: Buffer.alloc(0) });
  // A Response without status decodes to no status, which the client treats as OK.
  assert.equal(decodeResponse(hex('1202 0864')).status, undefined);
});

test('metadata: keys lower-cased on send, multi-values kept in order', () => {
  assert.deepEqual(toKeyValues({ 'X-Multi': ['a', 'b'], k: 'v' }), [
    { key: 'x-multi', value: 'a' },
    { key: 'x-multi', value: 'b' },
    { key: 'k', value: 'v' },
  ]);
  assert.deepEqual(fromKeyValues([{ key: 'a', value: '1' }, { key: 'a', value: '2' }]), { a: ['1', '2'] });
});

test('typed codec: decode → encode round-trips bytes exactly (defaults stripped, empty sub-messages kept)', () => {
  const root = echoRoot();
  const req = root.lookupType('flotilla.ttrpc.test.v1.EchoRequest');
  const obj = decodeMessage(req, hex('0a026869 1005'));
  assert.deepEqual(obj, { text: 'hi', sleep_ms: '5', code: 0, blob: Buffer.alloc(0), count: 0 });
  assert.deepEqual(encodeMessage(req, obj), hex('0a026869 1005'));
  assert.deepEqual(encodeMessage(req, { text: '', sleep_ms: 0, code: 0 }), Buffer.alloc(0));
});

function collect(): { frames: Frame[]; over: FrameHeader[]; reader: FrameReader } {
  const frames: Frame[] = [];
  const over: FrameHeader[] = [];
  const reader = new FrameReader({ frame: (f) => frames.push(f), oversize: (h, err) => (assert.equal(err.code, Code.ResourceExhausted), over.push(h)) });
  return { frames, over, reader };
}

const three = Buffer.concat([
  encodeFrame(1, MessageType.Request, 0, CONNECT_REQUEST_GOLDEN),
  encodeFrame(3, MessageType.Data, 0, Buffer.alloc(0)),
  encodeFrame(5, MessageType.Response, 0, hex('1202 0864')),
]);

function check(frames: Frame[]): void {
  assert.deepEqual(
    frames.map((f) => [f.streamId, f.type, f.flags, f.payload.length]),
    [
      [1, 1, 0, CONNECT_REQUEST_GOLDEN.length],
      [3, 3, 0, 0],
      [5, 2, 0, 4],
    ],
  );
  assert.deepEqual(frames[0]!.payload, CONNECT_REQUEST_GOLDEN);
  assert.deepEqual(frames[2]!.payload, hex('1202 0864'));
}

test('reader: coalesced frames in one chunk', () => {
  const { frames, reader } = collect();
  reader.push(three);
  check(frames);
  assert.equal(reader.pending, 0);
});

test('reader: frames split byte by byte and at random points', () => {
  const a = collect();
  for (const b of three) a.reader.push(Buffer.from([b]));
  check(a.frames);
  for (let seed = 1; seed <= 50; seed++) {
    const c = collect();
    let off = 0;
    let x = seed;
    while (off < three.length) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (x % 23);
      c.reader.push(three.subarray(off, off + n));
      off += n;
    }
    check(c.frames);
  }
});

test('reader: an oversized frame is discarded without buffering and reported once; later frames still arrive', () => {
  const { frames, over, reader } = collect();
  const len = MAX_MESSAGE_LENGTH + 1;
  reader.push(encodeHeader({ length: len, streamId: 9, type: MessageType.Request, flags: 0 }));
  const chunk = Buffer.alloc(1 << 20, 0xab);
  let left = len;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    reader.push(chunk.subarray(0, n));
    left -= n;
    assert.ok(reader.pending <= 1, 'discarded bytes are not kept');
    if (left > 0) assert.equal(over.length, 0);
  }
  assert.deepEqual(over, [{ length: len, streamId: 9, type: 1, flags: 0 }]);
  reader.push(three);
  check(frames);
});

test('reader: a frame of exactly 4 MiB is accepted', () => {
  const { frames, over, reader } = collect();
  reader.push(encodeFrame(1, MessageType.Data, 0, Buffer.alloc(MAX_MESSAGE_LENGTH, 1)));
  assert.equal(over.length, 0);
  assert.equal(frames[0]!.payload.length, MAX_MESSAGE_LENGTH);
});

test('sender refuses an oversized message with ResourceExhausted', () => {
  assert.throws(
    () => encodeFrame(1, MessageType.Request, 0, Buffer.alloc(MAX_MESSAGE_LENGTH + 1)),
    (err: { code?: number; message?: string }) =>
      err.code === Code.ResourceExhausted && err.message === 'message length 4194305 exceed maximum message size of 4194304',
  );
});
