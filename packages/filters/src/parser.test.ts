import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { adaptObject, parseFilter, parseFilters, type Filter } from './index.js';

interface Item {
  name: string;
  other?: string;
  labels?: Record<string, string>;
}

const corpus: Item[] = [
  { name: 'foo', labels: { foo: 'true' } },
  { name: 'bar' },
  { name: 'foo', labels: { foo: 'present', 'more complex label': 'present' } },
  { name: 'bar', labels: { bar: 'true' } },
  { name: 'fooer', labels: { 'more complex label with \\ and "': 'present' } },
  { name: 'fooer', labels: { 'more complex label with \\ and ".post': 'present' } },
  { name: 'baz', other: 'too complex, yo' },
  { name: 'bazo', other: 'abc' },
  { name: 'compound', labels: { foo: 'omg_asdf.asdf-qwer' } },
];

/** Indexes of the corpus entries the filter matches. */
function matching(filter: Filter): number[] {
  return corpus.flatMap((item, index) => (filter.match(adaptObject(item)) ? [index] : []));
}

const all = corpus.map((_, i) => i);

describe('parseFilter: matching', () => {
  const cases: [string, number[]][] = [
    ['', all],
    ['name', all],
    ['other', [6, 7]],
    ['labels.foo', [0, 2, 8]],
    ['labels.foo,name', [0, 2, 8]],
    ['labels.foo==true', [0]],
    ['labels.foo==omg_asdf.asdf-qwer', [8]],
    ['name==bar', [1, 3]],
    ['name!=bar', [0, 2, 4, 5, 6, 7, 8]],
    ['name==bar,labels.bar', [3]],
    ['other=="too complex, yo"', [6]],
    ['other~=[abc]+,name!=foo', [6, 7]],
    ['other~=/[abc]+/,name!=foo', [6, 7]],
    ['other~=/[abc]{1,2}/,name!=foo', [6, 7]],
    ['other~=/[abc]{0,1}"\\//,name!=foo', []],
    ['name==bar,labels.bar==true', [3]],
    ['name==bar,labels.bar==wrong', []],
    ['name==foo,labels."more complex label"', [2]],
    ['labels."more complex label with \\\\ and \\""==present', [4]],
    ['labels."more complex label with \\\\ and \\"".post==present', [5]],
    ['name~=^foo', [0, 2, 4, 5]],
    ['name~=|^ba[rz]$|', [1, 3, 6]],
    ['name~="^(foo|bar)$"', [0, 1, 2, 3]],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} matches ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(matching(parseFilter(input)), expected);
    });
  }

  it('ignores whitespace around tokens', () => {
    assert.deepEqual(matching(parseFilter('  name == bar ,  labels . bar  ')), [3]);
    assert.deepEqual(matching(parseFilter('\tlabels.foo ~= |^p| ')), [2]);
  });

  it('ANDs comma-separated selectors', () => {
    assert.deepEqual(matching(parseFilter('name~=^foo,labels.foo')), [0, 2]);
    assert.deepEqual(matching(parseFilter('name~=^foo,labels.foo,labels.foo==true')), [0]);
  });

  it('accepts unquoted values with / : . - and other punctuation', () => {
    const f = parseFilter('image==docker.io/library/busybox:1.36-musl@sha256:ab');
    assert.equal(f.match(adaptObject({ image: 'docker.io/library/busybox:1.36-musl@sha256:ab' })), true);
    assert.equal(f.match(adaptObject({ image: 'docker.io/library/busybox:1.36' })), false);
  });

  it('accepts field names with digits, underscores and hyphens', () => {
    const f = parseFilter('labels.io.cri-containerd.kind==sandbox,snapshot_key,x2');
    assert.equal(
      f.match(adaptObject({ labels: { 'io.cri-containerd.kind': 'sandbox' }, snapshot_key: 'k', x2: 'y' })),
      true,
    );
    assert.equal(f.match(adaptObject({ labels: { 'io.cri-containerd.kind': 'container' }, snapshot_key: 'k', x2: 'y' })), false);
  });

  it('reads labels with dotted keys, bare or quoted', () => {
    const obj = adaptObject({ labels: { 'com.example.key': 'v', com: 'top' } });
    assert.equal(parseFilter('labels."com.example.key"==v').match(obj), true);
    assert.equal(parseFilter('labels.com.example.key==v').match(obj), true);
    assert.equal(parseFilter('labels.com==top').match(obj), true);
    assert.equal(parseFilter('labels."com.example"').match(obj), false);
  });

  it('decodes each quote style and its escapes', () => {
    const obj = (v: string) => adaptObject({ v });
    assert.equal(parseFilter('v=="a\\tb\\n\\"c\\"\\\\"').match(obj('a\tb\n"c"\\')), true);
    assert.equal(parseFilter('v=="\\x41\\u00e9\\101\\U0001F600"').match(obj('Aé' + 'A😀')), true);
    assert.equal(parseFilter('v=="\\xc3\\xa9"').match(obj('é')), true);
    assert.equal(parseFilter('v~=/^a\\/b$/').match(obj('a/b')), true);
    assert.equal(parseFilter('v~=|^a\\|b$|').match(obj('a|b')), true);
    assert.throws(() => parseFilter('v~=|^a[|]b$|'), { code: 3 }, 'an unescaped | ends the literal early');
  });

  it('quoted values may contain commas, spaces and the other delimiters', () => {
    const f = parseFilter('v=="a, b|c/d"');
    assert.equal(f.match(adaptObject({ v: 'a, b|c/d' })), true);
  });
});

describe('parseFilter: regular expressions', () => {
  it('handles |…| so slashes need no escaping', () => {
    const f = parseFilter('topic~=|^/tasks/|');
    assert.equal(f.match(adaptObject({ topic: '/tasks/exit' })), true);
    assert.equal(f.match(adaptObject({ topic: '/images/create' })), false);
  });

  it('handles /…/ with escaped slashes', () => {
    const f = parseFilter('namespace==k8s.io,topic~=/^\\/images\\//');
    assert.equal(f.match(adaptObject({ namespace: 'k8s.io', topic: '/images/update' })), true);
    assert.equal(f.match(adaptObject({ namespace: 'default', topic: '/images/update' })), false);
    assert.equal(f.match(adaptObject({ namespace: 'k8s.io', topic: '/tasks/exit' })), false);
  });

  it('uses RE2 semantics (unanchored search, inline flags, escaped punctuation)', () => {
    const v = (s: string) => adaptObject({ v: s });
    assert.equal(parseFilter('v~=oo').match(v('foobar')), true);
    assert.equal(parseFilter('v~=(?i)^FOO').match(v('foobar')), true);
    assert.equal(parseFilter('v~=^FOO').match(v('foobar')), false);
    assert.equal(parseFilter('v~=^a\\:b$').match(v('a:b')), true);
    assert.equal(parseFilter('v~=^[[:digit:]]+$').match(v('123')), true);
    assert.equal(parseFilter('v~=^[[:digit:]]+$').match(v('12a')), false);
  });
});

describe('parseFilters', () => {
  it('ORs the filter strings', () => {
    assert.deepEqual(matching(parseFilters(['name==bar', 'labels.foo==true'])), [0, 1, 3]);
    assert.deepEqual(matching(parseFilters(['name==nothing', 'other'])), [6, 7]);
  });

  it('with one string behaves like parseFilter', () => {
    assert.deepEqual(matching(parseFilters(['name==bar,labels.bar'])), [3]);
  });

  it('matches everything for an empty list or empty strings', () => {
    assert.deepEqual(matching(parseFilters([])), all);
    assert.deepEqual(matching(parseFilters([''])), all);
    assert.deepEqual(matching(parseFilters(['name==nothing', ''])), all);
    assert.equal(parseFilters([]).match(adaptObject({})), true);
  });

  it('fails when any string is malformed', () => {
    assert.throws(() => parseFilters(['name==bar', 'name==']), { code: 3 });
  });
});

describe('parseFilter: malformed input', () => {
  // [input, exact message]
  const cases: [string, string][] = [
    ['topic==', 'filters: parse error: [topic==]: expected value or quoted: invalid argument'],
    ['topic== ', 'filters: parse error: [topic== ]: expected value or quoted: invalid argument'],
    ['a==,b', 'filters: parse error: [a== >|,|< b]: expected value or quoted: invalid argument'],
    ['image~=,id?=?fbaq', 'filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted: invalid argument'],
    ['a=="foo', 'filters: parse error: [a== >|"|< foo]: quoted literal not terminated: invalid argument'],
    ['a~=|foo', 'filters: parse error: [a~= >|||< foo]: quoted literal not terminated: invalid argument'],
    ['a~=/foo\\/', 'filters: parse error: [a~= >|/|< foo\\/]: quoted literal not terminated: invalid argument'],
    ['"abc==x', 'filters: parse error: [ >|"|< abc==x]: quoted literal not terminated: invalid argument'],
    ['a=="x\ny"', 'filters: parse error: [a== >|"|< x\ny"]: quoted literal not terminated: invalid argument'],
    ['==b', 'filters: parse error: [ >|=|< =b]: expected field or quoted: invalid argument'],
    ['!=b', 'filters: parse error: [ >|!|< =b]: expected field or quoted: invalid argument'],
    ['name==foo,', 'filters: parse error: [name==foo,]: expected field or quoted: invalid argument'],
    [',', 'filters: parse error: [ >|,|< ]: expected field or quoted: invalid argument'],
    ['a,,b', 'filters: parse error: [a, >|,|< b]: expected field or quoted: invalid argument'],
    ['labels.', 'filters: parse error: [labels.]: expected field or quoted: invalid argument'],
    ['.labels', 'filters: parse error: [ >|.|< labels]: expected field or quoted: invalid argument'],
    ['a..b', 'filters: parse error: [a. >|.|< b]: expected field or quoted: invalid argument'],
    [
      'labels.?"more complex label"==present',
      'filters: parse error: [labels. >|?|< "more complex label"==present]: expected field or quoted: invalid argument',
    ],
    ['a=b', 'filters: parse error: [a >|=|< b]: unsupported operator "=": invalid argument'],
    ['a===b', 'filters: parse error: [a >|=|< ==b]: unsupported operator "===": invalid argument'],
    ['a!b', 'filters: parse error: [a >|!|< b]: unsupported operator "!": invalid argument'],
    ['a~b', 'filters: parse error: [a >|~|< b]: unsupported operator "~": invalid argument'],
    ['a>b', 'filters: parse error: [a >|>|< b]: expected an operator ("=="|"!="|"~="): invalid argument'],
    ['a@=b', 'filters: parse error: [a >|@|< =b]: expected an operator ("=="|"!="|"~="): invalid argument'],
    ['a b', 'filters: parse error: [a  >|b|< ]: expected an operator ("=="|"!="|"~="): invalid argument'],
    ['a==b c', 'filters: parse error: [a==b  >|c|< ]: unexpected input: c: invalid argument'],
    ['a==b"x" "y"', 'filters: parse error: [a==b"x"  >|"|< y"]: unexpected input: "y": invalid argument'],
    [
      'labels.|foo|==omg_asdf.asdf-qwer',
      'filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered: invalid argument',
    ],
    ['/name/==x', 'filters: parse error: [ >|/|< name/==x]: invalid quote encountered: invalid argument'],
    ['name==|x|', 'filters: parse error: [name== >|||< x|]: invalid quote encountered: invalid argument'],
    ['name!=/x/', 'filters: parse error: [name!= >|/|< x/]: invalid quote encountered: invalid argument'],
    ['a=="\\q"', 'filters: parse error: [a==" >|\\|< q"]: unquoting failed: invalid escape sequence \\q: invalid argument'],
    ['a=="\\/"', 'filters: parse error: [a==" >|\\|< /"]: unquoting failed: invalid escape sequence \\/: invalid argument'],
    ['a=="\\x4"', 'filters: parse error: [a==" >|\\|< x4"]: unquoting failed: invalid numeric escape sequence \\x4: invalid argument'],
    ['a=="\\400"', 'filters: parse error: [a==" >|\\|< 400"]: unquoting failed: octal escape out of range: \\400: invalid argument'],
    [
      'topic~=[a',
      'filters: parse error: [topic~= >|[|< a]: invalid regular expression `[a`: missing closing ]: invalid argument',
    ],
    [
      'topic~=|(ab|',
      'filters: parse error: [topic~= >|||< (ab|]: invalid regular expression `(ab`: missing closing ): invalid argument',
    ],
    [
      'topic~=*a',
      'filters: parse error: [topic~= >|*|< a]: invalid regular expression `*a`: Nothing to repeat: invalid argument',
    ],
    [
      'topic~=(?=x)',
      'filters: parse error: [topic~= >|(|< ?=x)]: invalid regular expression `(?=x)`: invalid or unsupported Perl syntax: (?=: invalid argument',
    ],
    [
      'topic~=(a)\\1',
      'filters: parse error: [topic~= >|(|< a)\\1]: invalid regular expression `(a)\\1`: invalid escape sequence (backreferences are not supported): \\1: invalid argument',
    ],
    ['  ', 'filters: parse error: [  ]: expected field or quoted: invalid argument'],
  ];
  for (const [input, message] of cases) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseFilter(input), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal((err as { code?: unknown }).code, 3);
        assert.equal(err.message, message);
        return true;
      });
    });
  }

  it('exposes the input, position and reason on the error', () => {
    assert.throws(() => parseFilter('topic=='), {
      name: 'FilterParseError',
      code: 3,
      input: 'topic==',
      position: 7,
      reason: 'expected value or quoted',
    });
  });
});
