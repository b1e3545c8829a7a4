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
