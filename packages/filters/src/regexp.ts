/**
 * Go RE2 regular expressions, translated to JavaScript.
 *
 * `~=` values are Go `regexp` patterns. This module rewrites the RE2 syntax into an equivalent
 * JavaScript pattern compiled in Unicode (`u`) mode, so that the result matches what Go would:
 *
 * - `.` does not match `\n` unless `(?s)`; `\s` is ASCII `[\t\n\f\r ]`; `\A`, `\z` anchor the text.
 * - `(?m)` makes `^`/`$` match around `\n` only (JavaScript would also use `\r`, U+2028, U+2029).
 * - `(?P<name>…)`, `\Q…\E`, `\x{10FFFF}`, octal escapes, POSIX classes (`[[:alpha:]]`),
 *   `\pL`/`\p{Greek}`, escaped punctuation (`\:`), literal `{`/`}`/`]`, and the `U` flag.
 * - Flags (`i`, `m`, `s`, `U`) may be set at the start of the pattern (e.g. `(?i)abc`); a change
 *   of flags anywhere else is rejected, as JavaScript in Node 20 cannot scope flags.
 *
 * Constructs RE2 itself rejects (lookaround, backreferences, `\C`) are rejected too.
 */

/** A pattern is not a valid (or supported) RE2 expression. */
export class RegexpSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegexpSyntaxError';
  }
}

/** The JavaScript form of an RE2 pattern. */
export interface TranslatedRegexp {
  /** Source for `new RegExp`. */
  readonly source: string;
  /** Flags for `new RegExp`: `u`, plus `i` for `(?i)`. */
  readonly flags: string;
}

/** Compiles a Go RE2 pattern into a JavaScript RegExp; throws {@link RegexpSyntaxError}. */
export function compileRegexp(pattern: string): RegExp {
  const { source, flags } = translateRegexp(pattern);
  try {
    return new RegExp(source, flags);
  } catch (err) {
    const detail = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(err);
    throw new RegexpSyntaxError(`invalid regular expression ${quoteRe(pattern)}: ${detail}`);
  }
}

/** Rewrites a Go RE2 pattern into JavaScript syntax; throws {@link RegexpSyntaxError}. */
export function translateRegexp(pattern: string): TranslatedRegexp {
  return new Translator(pattern).run();
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

/** One element of a character class: either a single code point or a ready-made set. */
type ClassItem = { cp: number } | { set: string } | { complement: string };

/** ASCII `\s` as RE2 defines it, in class-body form. */
const PERL_SPACE = '\\t\\n\\f\\r ';

/** POSIX class bodies (ASCII only, as in RE2). */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '\\x21-\\x7E',
  lower: 'a-z',
  print: '\\x20-\\x7E',
  punct: '\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** Characters that must be escaped to be literal in a `u`-mode JavaScript pattern. */
const JS_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

const MAX_REPEAT = 1000;

class Translator {
  private i = 0;
  private out = '';
  private readonly flags: Flags = { i: false, m: false, s: false, U: false };
  private depth = 0;
  private readonly names = new Set<string>();
  /** True until the first non-flag construct: flags set here apply to the whole pattern. */
  private leading = true;

  constructor(private readonly src: string) {}

  run(): TranslatedRegexp {
    while (this.i < this.src.length) this.step();
    if (this.depth > 0) this.fail('missing closing )');
    // `.`, `^` and `$` are already rewritten for `s` and `m`; only case folding needs a flag.
    return { source: this.out, flags: this.flags.i ? 'iu' : 'u' };
  }

  private fail(message: string): never {
    throw new RegexpSyntaxError(`invalid regular expression ${quoteRe(this.src)}: ${message}`);
  }

  /** Translates one construct outside a character class. */
  private step(): void {
    const c = this.src[this.i] as string;
    if (c === '(' && this.src[this.i + 1] === '?') {
      this.perlGroup();
      return;
    }
    this.leading = false;
    switch (c) {
      case '\\':
        this.escape();
        return;
      case '[':
        this.charClass();
        return;
      case '(':
        this.depth++;
        this.out += '(';
        this.i++;
        return;
      case ')':
        if (this.depth === 0) this.fail('unexpected )');
        this.depth--;
        this.out += ')';
        this.i++;
        return;
      case '.':
        this.out += this.flags.s ? '[^]' : '[^\\n]';
        this.i++;
        return;
      case '^':
        this.out += this.flags.m ? '(?<![^\\n])' : '^';
        this.i++;
        return;
      case '$':
        this.out += this.flags.m ? '(?![^\\n])' : '$';
        this.i++;
        return;
      case '*':
      case '+':
      case '?':
        this.out += c;
        this.i++;
        this.greediness();
        return;
      case '{': {
        const repeat = /\{(\d+)(?:(,)(\d*))?\}/y;
        repeat.lastIndex = this.i;
        const m = repeat.exec(this.src);
        if (!m) {
          this.out += '\\{';
          this.i++;
          return;
        }
        const min = Number(m[1]);
        const max = m[2] === undefined ? min : m[3] === '' ? undefined : Number(m[3]);
        if (min > MAX_REPEAT || (max !== undefined && (max > MAX_REPEAT || max < min))) {
          this.fail(`invalid repeat count: ${m[0]}`);
        }
        this.out += m[0];
        this.i += m[0].length;
        this.greediness();
        return;
      }
      case '|':
        this.out += '|';
        this.i++;
        return;
      default: {
        const cp = this.src.codePointAt(this.i) as number;
        this.out += literal(cp, false);
        this.i += cp > 0xffff ? 2 : 1;
      }
    }
  }

  /** After a quantifier: a trailing `?` makes it lazy; the `U` flag swaps the meaning. */
  private greediness(): void {
    let lazy = false;
    if (this.src[this.i] === '?') {
      lazy = true;
      this.i++;
    }
    if (this.flags.U) lazy = !lazy;
    if (lazy) this.out += '?';
  }

  /** `(?…)`: named groups, non-capturing groups and flag settings. */
  private perlGroup(): void {
    const start = this.i;
    const rest = this.src.slice(start + 2);
    const named = /^(?:P<|<(?![=!]))([^>]*)>/.exec(rest);
    if (named) {
      const name = named[1] as string;
      if (!/^[A-Za-z0-9_]+$/.test(name)) this.fail(`invalid named capture: ${this.src.slice(start, start + 2 + named[0].length)}`);
      if (this.names.has(name)) this.fail(`duplicate capture group name: ${name}`);
      this.names.add(name);
      this.leading = false;
      // Names only matter for extraction, which filters never do; a plain group avoids
      // JavaScript's stricter identifier rules for group names.
      this.out += '(';
      this.depth++;
      this.i = start + 2 + named[0].length;
      return;
    }
    const flagged = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(rest);
    if (!flagged || (flagged[2] !== undefined && flagged[2] === '')) {
      this.fail(`invalid or unsupported Perl syntax: ${this.src.slice(start, start + 3)}`);
    }
    const next: Flags = { ...this.flags };
    for (const f of flagged[1] as string) next[f as keyof Flags] = true;
    for (const f of flagged[2] ?? '') next[f as keyof Flags] = false;
    const changed = (Object.keys(next) as (keyof Flags)[]).some((k) => next[k] !== this.flags[k]);
    const opensGroup = flagged[3] === ':';
    if (changed) {
      if (!this.leading || opensGroup) {
        this.fail(`flag changes are only supported at the start of the pattern: ${this.src.slice(start, start + 2 + flagged[0].length)}`);
      }
      Object.assign(this.flags, next);
    }
    if (opensGroup) {
      this.leading = false;
      this.out += '(?:';
      this.depth++;
    }
    this.i = start + 2 + flagged[0].length;
  }

  /** A backslash escape outside a character class. */
  private escape(): void {
    const kind = this.src[this.i + 1];
    switch (kind) {
      case 'A':
        this.out += '(?<![^])';
        this.i += 2;
        return;
      case 'z':
        this.out += '(?![^])';
        this.i += 2;
        return;
      case 'b':
      case 'B':
        this.out += '\\' + kind;
        this.i += 2;
        return;
      case 's':
        this.out += `[${PERL_SPACE}]`;
        this.i += 2;
        return;
      case 'S':
        this.out += `[^${PERL_SPACE}]`;
        this.i += 2;
        return;
      case 'Q': {
        const close = this.src.indexOf('\\E', this.i + 2);
        const text = this.src.slice(this.i + 2, close < 0 ? undefined : close);
        for (const ch of text) this.out += literal(ch.codePointAt(0) as number, false);
        this.i = close < 0 ? this.src.length : close + 2;
        return;
      }
    }
    const item = this.classEscape();
    if ('cp' in item) this.out += literal(item.cp, false);
    else if ('set' in item) this.out += item.set.startsWith('\\') ? item.set : `[${item.set}]`;
    else this.out += `[^${item.complement}]`;
  }

  /**
   * Escapes valid both inside and outside classes (`\d`, `\pL`, `\x41`, `\n`, `\.` …).
   * `this.i` is at the backslash; it is left after the escape.
   */
  private classEscape(): ClassItem {
    const at = this.i;
    const kind = this.src[at + 1];
    if (kind === undefined) this.fail('trailing backslash at end of expression');
    this.i = at + 2;
    switch (kind) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        return { set: '\\' + kind };
      case 's':
        return { set: PERL_SPACE };
      case 'S':
        return { complement: PERL_SPACE };
      case 'p':
      case 'P':
        return { set: this.unicodeClass(kind === 'P') };
      case 'a':
        return { cp: 0x07 };
      case 'f':
        return { cp: 0x0c };
      case 't':
        return { cp: 0x09 };
      case 'n':
        return { cp: 0x0a };
      case 'r':
        return { cp: 0x0d };
      case 'v':
        return { cp: 0x0b };
      case 'x':
        return { cp: this.hexEscape(at) };
    }
    if (kind >= '0' && kind <= '7') return { cp: this.octalEscape(at) };
    const cp = kind.codePointAt(0) as number;
    if (cp < 0x80 && !/[A-Za-z0-9]/.test(kind)) return { cp };
    return this.fail(`invalid escape sequence: \\${kind}`);
  }

  /** `\x41` or `\x{1F600}`; `this.i` is after the `x`. */
  private hexEscape(at: number): number {
    const braced = /\{([0-9A-Fa-f]+)\}/y;
    braced.lastIndex = this.i;
    const m = braced.exec(this.src) ?? /[0-9A-Fa-f]{2}/y.exec(this.src.slice(this.i));
    if (!m) this.fail(`invalid escape sequence: ${this.src.slice(at, this.i + 2)}`);
    const digits = m[1] ?? m[0];
    const cp = parseInt(digits, 16);
    if (digits.length > 8 || cp > 0x10ffff) this.fail(`invalid escape sequence: ${this.src.slice(at, this.i + m[0].length)}`);
    this.i += m[0].length;
    return cp;
  }

  /** Octal `\0`, `\12`, `\123`; a lone `\1`…`\7` would be a backreference, which RE2 lacks. */
  private octalEscape(at: number): number {
    const m = /[0-7]{1,3}/y;
    m.lastIndex = at + 1;
    const digits = (m.exec(this.src) as RegExpExecArray)[0];
    if (digits.length === 1 && digits !== '0') this.fail(`invalid escape sequence (backreferences are not supported): \\${digits}`);
    this.i = at + 1 + digits.length;
    return parseInt(digits, 8);
  }

  /** `\pL`, `\p{Greek}`, `\p{^Lu}`, `\PL`; `this.i` is after the `p`/`P`. */
  private unicodeClass(negated: boolean): string {
    let name: string;
    if (this.src[this.i] === '{') {
      const close = this.src.indexOf('}', this.i);
      if (close < 0) this.fail(`invalid character class range: ${this.src.slice(this.i - 2)}`);
      name = this.src.slice(this.i + 1, close);
      this.i = close + 1;
    } else {
      const cp = this.src.codePointAt(this.i);
      if (cp === undefined) this.fail('invalid character class range: \\p');
      name = String.fromCodePoint(cp);
      this.i += name.length;
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    if (!/^[A-Za-z_]+$/.test(name)) this.fail(`invalid character class range: \\p{${name}}`);
    const property = name === 'Any' || /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`;
    return `\\${negated ? 'P' : 'p'}{${property}}`;
  }

  /** A bracketed character class, `this.i` at its `[`. */
  private charClass(): void {
    this.i++;
    let negated = false;
    if (this.src[this.i] === '^') {
      negated = true;
      this.i++;
    }
    let body = '';
    const complements: string[] = [];
    let first = true;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail('missing closing ]');
      if (c === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === '[' && this.src[this.i + 1] === ':') {
        const posix = /\[:(\^?)([a-z]+):\]/y;
        posix.lastIndex = this.i;
        const m = posix.exec(this.src);
        if (m) {
          const set = POSIX_CLASSES[m[2] as string];
          if (set === undefined) this.fail(`invalid character class range: ${m[0]}`);
          if (m[1]) complements.push(set);
          else body += set;
          this.i += m[0].length;
          continue;
        }
      }
      const lo = this.classAtom();
      if (!('cp' in lo)) {
        if ('set' in lo) body += lo.set;
        else complements.push(lo.complement);
        continue;
      }
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== undefined && this.src[this.i + 1] !== ']') {
        const dash = this.i;
        this.i++;
        const hi = this.classAtom();
        if (!('cp' in hi) || hi.cp < lo.cp) {
          this.fail(`invalid character class range: ${this.src.slice(dash - 1, this.i)}`);
        }
        body += `${literal(lo.cp, true)}-${literal(hi.cp, true)}`;
      } else {
        body += literal(lo.cp, true);
      }
    }
    if (complements.length === 0) {
      this.out += `[${negated ? '^' : ''}${body}]`;
      return;
    }
    // JavaScript (without the `v` flag) cannot nest a negated set inside a class: build a union.
    const alternatives = [...(body ? [`[${body}]`] : []), ...complements.map((c) => `[^${c}]`)];
    const union = `(?:${alternatives.join('|')})`;
    this.out += negated ? `(?:(?!${union})[^])` : union;
  }

  /** One class member: a code point or a set escape. */
  private classAtom(): ClassItem {
    if (this.src[this.i] === '\\') return this.classEscape();
    const cp = this.src.codePointAt(this.i) as number;
    this.i += cp > 0xffff ? 2 : 1;
    return { cp };
  }
}

/** A code point as a literal in `u`-mode pattern source. */
function literal(cp: number, inClass: boolean): string {
  const ch = String.fromCodePoint(cp);
  if (JS_SYNTAX.has(ch) || (inClass && ch === '-')) return '\\' + ch;
  if (cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff)) return `\\u{${cp.toString(16)}}`;
  return ch;
}

function quoteRe(pattern: string): string {
  return '`' + pattern + '`';
}
