import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RegexpSyntaxError, compileRegexp, translateRegexp } from './regexp.js';

/** Asserts which of `inputs` the RE2 pattern matches (unanchored, like Go's MatchString). */
function check(pattern: string, matches: string[], misses: string[]): void {
  const re = compileRegexp(pattern);
  for (const s of matches) assert.equal(re.test(s), true, `${pattern} should match ${JSON.stringify(s)}`);
  for (const s of misses) assert.equal(re.test(s), false, `${pattern} should not match ${JSON.stringify(s)}`);
}

describe('compileRegexp', () => {
  it('searches unanchored unless anchored', () => {
    check('ask', ['task', 'asking'], ['ASK', 'as k']);
    check('^/tasks/', ['/tasks/exit'], ['x/tasks/']);
    check('exit$', ['/tasks/exit'], ['/tasks/exit\n', 'exited']);
  });

  it('does not let . match a newline unless (?s)', () => {
    check('^a.b$', ['axb', 'a😀b'], ['a\nb', 'ab']);
    check('(?s)^a.b$', ['a\nb', 'axb'], ['ab']);
  });

  it('supports leading flags i, m, s, U', () => {
    check('(?i)^abc$', ['ABC', 'aBc'], ['abd']);
    check('(?im)^b$', ['a\nB\nc'], ['a\nbc']);
    check('(?m)^b$', ['a\nb\nc'], ['a\rb\rc']);
    check('(?i)(?s)^A.$', ['a\n'], []);
    assert.deepEqual(translateRegexp('(?U)a+b*?').source, 'a+?b*');
    assert.equal('aaa'.match(compileRegexp('(?U)a+'))?.[0], 'a');
    assert.equal('aaa'.match(compileRegexp('a+'))?.[0], 'aaa');
    assert.equal('aaa'.match(compileRegexp('a+?'))?.[0], 'a');
  });

  it('accepts flag groups that change nothing, and (?:…)', () => {
    check('a(?:b|c)(?-s:d)', ['abd', 'acd'], ['ad']);
  });

  it('rejects flag changes after the start', () => {
    assert.throws(() => compileRegexp('a(?i)b'), RegexpSyntaxError);
    assert.throws(() => compileRegexp('(?i:a)b'), RegexpSyntaxError);
    assert.throws(() => compileRegexp('(?i-)a'), RegexpSyntaxError);
  });

  it('uses ASCII \\s and supports \\A and \\z', () => {
    check('^\\s$', [' ', '\t', '\n', '\f', '\r'], ['\v', '\u00a0', '\u2003']);
    check('^\\S$', ['a', '\u00a0'], [' ']);
    check('\\Aab\\z', ['ab'], ['xab', 'ab\n']);
    check('\\bfoo\\b', ['a foo b'], ['afoob']);
    check('^\\d+\\w*\\W$', ['12ab!'], ['ab!']);
  });

  it('supports named groups in both spellings', () => {
    check('^(?P<first>a)(?<second>b)$', ['ab'], ['a']);
    assert.throws(() => compileRegexp('(?P<a>x)(?P<a>y)'), /duplicate capture group name/);
    assert.throws(() => compileRegexp('(?P<a-b>x)'), /invalid named capture/);
  });

  it('supports \\Q…\\E literals', () => {
    check('^\\Qa.b*c\\E$', ['a.b*c'], ['axbbc']);
    check('^\\Q(x', ['(x'], ['x']);
  });

  it('supports hex, octal and control escapes', () => {
    check('^\\x41\\x{1F600}\\101\\0$', ['A😀A\0'], []);
    check('^\\a\\f\\t\\n\\r\\v$', ['\x07\f\t\n\r\v'], []);
  });

  it('treats escaped punctuation and stray braces/brackets as literals', () => {
    check('^\\:\\#\\-\\_\\/\\"$', [':#-_/"'], []);
    check('^a{,2}$', ['a{,2}'], ['aa']);
    check('^{x}]$', ['{x}]'], []);
    check('^a{2}$', ['aa'], ['a', 'aaa']);
    check('^a{2,}$', ['aa', 'aaaa'], ['a']);
    check('^a{1,2}$', ['a', 'aa'], ['aaa']);
  });

  it('translates character classes', () => {
    check('^[]a]+$', [']a]'], ['b']);
    check('^[^]a]$', ['b'], [']', 'a']);
    check('^[a-c-]$', ['b', '-'], ['d']);
    check('^[\\d\\s]+$', ['1 2\t'], ['a']);
    check('^[^\\d]$', ['a', '\n'], ['1']);
    check('^[[:alpha:][:digit:]_]+$', ['ab_12'], ['a-b']);
    check('^[[:^alpha:]]$', ['1', '-'], ['a']);
    check('^[a\\S]$', ['a', 'b'], [' ']);
    check('^[^a\\S]$', [' ', '\t'], ['a', 'b']);
    check('^[\\[\\]\\\\]+$', ['[]\\'], ['a']);
    check('^[[:punct:]]+$', ['!/:@[`{~'], ['a', ' ']);
  });

  it('supports Unicode classes', () => {
    check('^\\pL+$', ['héllo', 'мир'], ['a1']);
    check('^\\p{Greek}+$', ['αβγ'], ['abc']);
    check('^\\PL$', ['1'], ['a']);
    check('^\\p{^Lu}$', ['a'], ['A']);
    check('^[\\p{Lu}\\d]+$', ['AB12'], ['ab']);
  });

  it('rejects what RE2 rejects', () => {
    for (const bad of ['[a', '(ab', 'ab)', '*a', 'a**', '(?=a)', '(?!a)', '(?<=a)', '(?<!a)', '(a)\\1', '\\k<a>', '\\C', '\\8', '\\', 'a{2,1}', 'a{1001}', '[z-a]', '[[:bogus:]]', '\\p{NoSuchScript}', '[\\b]', '\\x{110000}']) {
      assert.throws(() => compileRegexp(bad), RegexpSyntaxError, `expected ${JSON.stringify(bad)} to be rejected`);
    }
  });

  it('reports the original pattern in errors', () => {
    assert.throws(() => compileRegexp('[a'), { message: 'invalid regular expression `[a`: missing closing ]' });
    assert.throws(() => compileRegexp('a**'), { message: 'invalid regular expression `a**`: Nothing to repeat' });
  });
});
