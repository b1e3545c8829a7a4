import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Scanner, type Token } from './scanner.js';

/** Scans everything in field context, switching to value context after an operator. */
function tokens(input: string): [string, string, number][] {
  const scanner = new Scanner(input);
  const out: [string, string, number][] = [];
  let valueNext = false;
  for (;;) {
    const t: Token = valueNext ? scanner.nextValue() : scanner.next();
    out.push([t.kind, t.text, t.pos]);
    if (t.kind === 'eof' || t.kind === 'illegal') return out;
    valueNext = t.kind === 'operator';
  }
}

describe('Scanner', () => {
  it('splits fields, separators, operators and values', () => {
    assert.deepEqual(tokens('labels.foo==bar,name'), [
      ['field', 'labels', 0],
      ['separator', '.', 6],
      ['field', 'foo', 7],
      ['operator', '==', 10],
      ['value', 'bar', 12],
      ['separator', ',', 15],
      ['field', 'name', 16],
      ['eof', '', 20],
    ]);
  });

  it('skips whitespace and reads values up to a comma or whitespace', () => {
    assert.deepEqual(tokens(' a != x.y/z:1 , b'), [
      ['field', 'a', 1],
      ['operator', '!=', 3],
      ['value', 'x.y/z:1', 6],
      ['separator', ',', 14],
      ['field', 'b', 16],
      ['eof', '', 17],
    ]);
  });

  it('reads quoted literals of every style, escapes included', () => {
    assert.deepEqual(tokens('"a\\"b".c~=|x\\|y|'), [
      ['quoted', '"a\\"b"', 0],
      ['separator', '.', 6],
      ['field', 'c', 7],
      ['operator', '~=', 8],
      ['quoted', '|x\\|y|', 10],
      ['eof', '', 16],
    ]);
    assert.deepEqual(tokens('a~=/^\\/x/'), [
      ['field', 'a', 0],
      ['operator', '~=', 1],
      ['quoted', '/^\\/x/', 3],
      ['eof', '', 9],
    ]);
  });

  it('scans operator characters greedily', () => {
    assert.deepEqual(tokens('a!~=b').slice(1, 2), [['operator', '!~=', 1]]);
  });

  it('reports unterminated quotes as illegal', () => {
    const t = new Scanner('a=="abc').next();
    assert.equal(t.kind, 'field');
    const s = new Scanner('"abc\\"');
    const q = s.next();
    assert.equal(q.kind, 'illegal');
    assert.equal(q.error, 'quoted literal not terminated');
    assert.equal(q.pos, 0);
  });

  it('reports other characters as unexpected, and peek does not consume', () => {
    const s = new Scanner('?x');
    assert.deepEqual(s.peek(), { kind: 'unexpected', pos: 0, text: '?' });
    assert.deepEqual(s.next(), { kind: 'unexpected', pos: 0, text: '?' });
    assert.equal(s.next().text, 'x');
  });
});
