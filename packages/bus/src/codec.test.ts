import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '@flotilla/api';
import { decodeBody, encodeBody } from './codec.js';

describe('codec', () => {
  it('round-trips plain objects, including byte arrays', () => {
    const value = {
      name: 'k8s.io',
      n: 42,
      neg: -7,
      big: 2 ** 40,
      ratio: 1.5,
      ok: true,
      nothing: null,
      list: ['a', 1, false, [2, 3]],
      nested: { labels: { 'containerd.io/gc.root': '2024-01-01' } },
      bytes: new Uint8Array([0, 1, 2, 254, 255]),
    };
    const back = decodeBody<typeof value>(encodeBody(value));
    assert.ok(back.bytes instanceof Uint8Array, 'bytes come back as a Uint8Array');
    assert.deepEqual(Array.from(back.bytes), [0, 1, 2, 254, 255]);
    const { bytes: _b, ...rest } = back;
    const { bytes: _v, ...expected } = value;
    assert.deepEqual(rest, expected);
  });

  it('round-trips a large byte array without loss', () => {
    const big = new Uint8Array(512 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 255;
    const back = decodeBody<Uint8Array>(encodeBody(big));
    assert.equal(back.length, big.length);
    assert.ok(Buffer.from(back).equals(Buffer.from(big)));
  });

  it('encodes undefined as an empty body and decodes an empty body to undefined', () => {
    const empty = encodeBody(undefined);
    assert.equal(empty.length, 0);
    assert.equal(decodeBody(new Uint8Array(0)), undefined);
    assert.equal(decodeBody(empty), undefined);
  });

  it('keeps null distinct from an empty body', () => {
    const b = encodeBody(null);
    assert.ok(b.length > 0);
    assert.equal(decodeBody(b), null);
  });

  it('encodes maps as msgpack maps with string keys (no records)', () => {
    const b = encodeBody({ a: 1 });
    // fixmap of one entry, fixstr "a", positive fixint 1: plain msgpack any language can read.
    assert.deepEqual(Array.from(b), [0x81, 0xa1, 0x61, 0x01]);
  });

  it('leaves out properties whose value is undefined (no msgpackr-private extension on the wire)', () => {
    const b = encodeBody({ name: 'a', parent: undefined, n: 1 });
    // {name: "a", n: 1}: fixmap(2) "name" "a" "n" 1 — nothing a Go or Python decoder would choke on.
    assert.deepEqual(Array.from(b), [0x82, 0xa4, 0x6e, 0x61, 0x6d, 0x65, 0xa1, 0x61, 0xa1, 0x6e, 0x01]);
    assert.deepEqual(decodeBody(b), { name: 'a', n: 1 });
    assert.ok(!Array.from(encodeBody({ nested: { x: undefined } })).includes(0xd4));
  });

  it('reads what other languages write: 64-bit ints, nil, str8/bin8/map16', () => {
    // A Go encoder writes int64 fields as 0xd3 even for small values; they must decode to numbers.
    assert.equal(decodeBody(Uint8Array.from([0xd3, 0, 0, 0, 0, 0, 0, 0, 0x7b])), 123);
    assert.equal(decodeBody(Uint8Array.from([0xcf, 0, 0, 0, 1, 0, 0, 0, 0])), 2 ** 32);
    assert.equal(decodeBody(Uint8Array.from([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), -1);
    // Beyond 2^53 precision would be lost: those stay exact as BigInt.
    assert.equal(decodeBody(Uint8Array.from([0xcf, 0, 0x20, 0, 0, 0, 0, 0, 1])), 2n ** 53n + 1n);
    const goStyle = Uint8Array.from([
      0xde, 0x00, 0x03, // map16 of 3
      0xd9, 0x03, 0x70, 0x69, 0x64, 0xd3, 0, 0, 0, 0, 0, 0, 0x30, 0x39, // str8 "pid": int64 12345
      0xa4, 0x64, 0x61, 0x74, 0x61, 0xc4, 0x02, 0xca, 0xfe, // "data": bin8 ca fe
      0xa6, 0x70, 0x61, 0x72, 0x65, 0x6e, 0x74, 0xc0, // "parent": nil
    ]);
    const v = decodeBody<{ pid: number; data: Uint8Array; parent: null }>(goStyle);
    assert.equal(v.pid, 12345);
    assert.equal(typeof v.pid, 'number');
    assert.deepEqual(Array.from(v.data), [0xca, 0xfe]);
    assert.equal(v.parent, null);
  });

  it('writes integers beyond 32 bits as float64 (readers must accept it for integer fields)', () => {
    const b = encodeBody(5 * 2 ** 30);
    assert.equal(b[0], 0xcb);
    assert.equal(decodeBody(b), 5 * 2 ** 30);
  });

  it('rejects malformed bodies with InvalidArgument (code 3)', () => {
    const bad = [
      [0x92, 0x01], // array of 2 with one element
      [0xa5, 0x61], // str of 5 with 1 byte
      [0x81], // map of 1 with nothing
      [0xdd, 0, 0, 0, 5], // array32 of 5, no elements
      [0x01, 0x02], // trailing bytes after a value
    ];
    for (const bytes of bad) {
      assert.throws(
        () => decodeBody(new Uint8Array(bytes)),
        (err: any) => err.code === Code.InvalidArgument && /malformed MessagePack/.test(err.message),
        `bytes ${bytes.join(',')}`,
      );
    }
  });
});
