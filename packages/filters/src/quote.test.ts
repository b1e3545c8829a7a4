import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { UnquoteError, isQuoteDelimiter, unquote } from './quote.js';

describe('unquote', () => {
  it('returns the body of each delimiter style', () => {
    assert.equal(unquote('"plain"'), 'plain');
    assert.equal(unquote('/plain/'), 'plain');
    assert.equal(unquote('|plain|'), 'plain');
    assert.equal(unquote('""'), '');
  });

  it('decodes the single-character escapes', () => {
    assert.equal(unquote('"\\a\\b\\f\\n\\r\\t\\v\\\\"'), '\x07\b\f\n\r\t\v\\');
  });

  it('lets each style escape only its own delimiter', () => {
    assert.equal(unquote('"say \\"hi\\""'), 'say "hi"');
    assert.equal(unquote('/a\\/b/'), 'a/b');
    assert.equal(unquote('|a\\|b|'), 'a|b');
    assert.throws(() => unquote('"a\\/b"'), UnquoteError);
    assert.throws(() => unquote('"a\\|b"'), UnquoteError);
    assert.throws(() => unquote('/a\\"b/'), UnquoteError);
    assert.throws(() => unquote('|a\\/b|'), UnquoteError);
  });

  it('keeps other delimiters literally', () => {
    assert.equal(unquote('"a/b|c"'), 'a/b|c');
    assert.equal(unquote('/a"b|c/'), 'a"b|c');
    assert.equal(unquote('|a"b/c|'), 'a"b/c');
  });

  it('decodes hex, unicode and octal escapes, assembling bytes as UTF-8', () => {
    assert.equal(unquote('"\\x41\\x7a"'), 'Az');
    assert.equal(unquote('"\\u00e9\\u4e16"'), 'é世');
    assert.equal(unquote('"\\U0001F600"'), '😀');
    assert.equal(unquote('"\\101\\000\\177"'), 'A\0\x7f');
    assert.equal(unquote('"\\xc3\\xa9"'), 'é');
    assert.equal(unquote('"\\303\\251"'), 'é');
  });

  it('keeps non-ASCII text', () => {
    assert.equal(unquote('"héllo wörld 😀"'), 'héllo wörld 😀');
  });

  it('rejects malformed escapes with the offset of the backslash', () => {
    const offsetOf = (literal: string): number => {
      try {
        unquote(literal);
      } catch (err) {
        assert.ok(err instanceof UnquoteError);
        return err.offset;
      }
      assert.fail(`expected ${literal} to be rejected`);
    };
    assert.equal(offsetOf('"ab\\q"'), 3);
    assert.equal(offsetOf('"\\x4"'), 1);
    assert.equal(offsetOf('"\\xZZ"'), 1);
    assert.equal(offsetOf('"\\u12"'), 1);
    assert.equal(offsetOf('"\\U00110000"'), 1);
    assert.equal(offsetOf('"\\ud800"'), 1);
    assert.equal(offsetOf('"\\12"'), 1);
    assert.equal(offsetOf('"\\400"'), 1);
    assert.equal(offsetOf('"\\8"'), 1);
    assert.equal(offsetOf('"abc\\"'), 4);
  });

  it('rejects unterminated literals, raw newlines and inner delimiters', () => {
    assert.throws(() => unquote('"abc'), /not terminated/);
    assert.throws(() => unquote('"'), /not terminated/);
    assert.throws(() => unquote('"a\nb"'), /not terminated/);
    assert.throws(() => unquote('"a"b"'), /unescaped "/);
    assert.throws(() => unquote('abc'), /invalid quote/);
  });
});

describe('isQuoteDelimiter', () => {
  it('accepts exactly " / |', () => {
    assert.deepEqual(['"', '/', '|', "'", '`', 'a', undefined].map(isQuoteDelimiter), [true, true, true, false, false, false, false]);
  });
});
