import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Selector, allOf, anyOf, matchEverything, type Adaptor, type FieldValue } from './filter.js';

/** An adaptor over a flat table of path → value; missing paths are absent. */
function table(entries: Record<string, string>): Adaptor & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    field(path: string[]): FieldValue {
      calls.push(path);
      const key = path.join('.');
      return Object.hasOwn(entries, key) ? { value: entries[key] as string, present: true } : { value: '', present: false };
    },
  };
}

describe('Selector', () => {
  const obj = table({ name: 'foo', empty: '' });

  it('tests presence without an operator', () => {
    assert.equal(new Selector(['name'], undefined, '').match(obj), true);
    assert.equal(new Selector(['empty'], undefined, '').match(obj), true);
    assert.equal(new Selector(['missing'], undefined, '').match(obj), false);
  });

  it('== needs the field present and equal', () => {
    assert.equal(new Selector(['name'], '==', 'foo').match(obj), true);
    assert.equal(new Selector(['name'], '==', 'bar').match(obj), false);
    assert.equal(new Selector(['missing'], '==', '').match(obj), false);
    assert.equal(new Selector(['empty'], '==', '').match(obj), true);
  });

  it('!= compares the reported value, so a missing field differs from any non-empty value', () => {
    assert.equal(new Selector(['name'], '!=', 'bar').match(obj), true);
    assert.equal(new Selector(['name'], '!=', 'foo').match(obj), false);
    assert.equal(new Selector(['missing'], '!=', 'foo').match(obj), true);
    assert.equal(new Selector(['missing'], '!=', '').match(obj), false);
  });

  it('~= tests the reported value, which is empty for a missing field', () => {
    assert.equal(new Selector(['name'], '~=', '^f', /^f/u).match(obj), true);
    assert.equal(new Selector(['name'], '~=', '^b', /^b/u).match(obj), false);
    assert.equal(new Selector(['missing'], '~=', 'x', /x/u).match(obj), false);
    assert.equal(new Selector(['missing'], '~=', '^$', /^$/u).match(obj), true);
  });

  it('requires a pattern for ~=', () => {
    assert.throws(() => new Selector(['a'], '~=', 'x'), TypeError);
  });

  it('hands the adaptor a copy of its path', () => {
    const spy = table({ 'a.b': 'x' });
    const s = new Selector(['a', 'b'], '==', 'x');
    assert.equal(s.match(spy), true);
    (spy.calls[0] as string[]).push('mutated');
    assert.equal(s.match(spy), true);
    assert.deepEqual(s.path, ['a', 'b']);
  });
});

describe('combinators', () => {
  const obj = table({ a: '1', b: '2' });
  const yes = new Selector(['a'], '==', '1');
  const no = new Selector(['b'], '==', '1');

  it('allOf needs every filter', () => {
    assert.equal(allOf([yes, yes]).match(obj), true);
    assert.equal(allOf([yes, no]).match(obj), false);
  });

  it('anyOf needs one filter', () => {
    assert.equal(anyOf([no, yes]).match(obj), true);
    assert.equal(anyOf([no, no]).match(obj), false);
  });

  it('matchEverything matches anything', () => {
    assert.equal(matchEverything.match(obj), true);
    assert.equal(matchEverything.match(table({})), true);
  });
});
