import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code, FlotillaError, alreadyExists, notFound } from '@flotilla/api';
import { H_ERROR, H_ERROR_CODE, errorFromHeaders, isNoResponders, newHeaders, setErrorHeaders } from './headers.js';

describe('headers', () => {
  it('round-trips an error kind and message', () => {
    for (const err of [notFound('namespace "a"'), alreadyExists('image "x"'), new FlotillaError(Code.Unavailable, 'gone')]) {
      const h = newHeaders();
      setErrorHeaders(h, err);
      assert.equal(h.get(H_ERROR_CODE), String(err.code));
      const back = errorFromHeaders(h);
      assert.ok(back instanceof FlotillaError);
      assert.equal(back.code, err.code);
      assert.equal(back.message, err.message);
    }
  });

  it('uses the NATS services header names', () => {
    assert.equal(H_ERROR_CODE, 'Nats-Service-Error-Code');
    assert.equal(H_ERROR, 'Nats-Service-Error');
    const h = newHeaders();
    setErrorHeaders(h, notFound('namespace "a"'));
    assert.equal(h.get('Nats-Service-Error-Code'), '5');
    assert.equal(h.get('Nats-Service-Error'), 'namespace "a": not found');
  });

  it('strips CR and LF from messages', () => {
    const h = newHeaders();
    setErrorHeaders(h, new FlotillaError(Code.InvalidArgument, 'line one\r\nline two\nline three\rend'));
    const back = errorFromHeaders(h)!;
    assert.equal(back.code, Code.InvalidArgument);
    assert.equal(back.message, 'line one line two line three end');
    assert.doesNotMatch(h.get(H_ERROR), /[\r\n]/);
  });

  it('maps a plain Error to Unknown (2) and OK to Unknown', () => {
    const h = newHeaders();
    setErrorHeaders(h, new Error('boom'));
    assert.equal(errorFromHeaders(h)?.code, Code.Unknown);
    assert.equal(errorFromHeaders(h)?.message, 'boom');
    const ok = newHeaders();
    setErrorHeaders(ok, { code: 0, message: 'not really ok' });
    assert.equal(errorFromHeaders(ok)?.code, Code.Unknown);
  });

  it('reads no error from headers without an error code, and unknown codes as Unknown', () => {
    assert.equal(errorFromHeaders(undefined), undefined);
    assert.equal(errorFromHeaders(newHeaders()), undefined);
    const h = newHeaders();
    h.set(H_ERROR_CODE, '99');
    const e = errorFromHeaders(h)!;
    assert.equal(e.code, Code.Unknown);
    assert.equal(e.message, 'unknown error');
    assert.equal(isNoResponders(undefined), false);
    assert.equal(isNoResponders(newHeaders()), false);
  });
});
