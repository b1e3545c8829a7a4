/**
 * Tokenizer for filter strings.
 *
 * Whitespace between tokens is skipped. Positions are UTF-16 indexes into the input.
 */

import { isQuoteDelimiter } from './quote.js';

/** What a token is. */
export type TokenKind =
  /** End of input. */
  | 'eof'
  /** A bare field name: letters, digits, `_` and `-`. */
  | 'field'
  /** A quoted literal, delimiters included (decode with `unquote`). */
  | 'quoted'
  /** A bare value: everything up to a comma or whitespace. Only produced by `nextValue`. */
  | 'value'
  /** `,` between selectors or `.` between fields. */
  | 'separator'
  /** A run of operator characters (`=`, `!`, `~`), not necessarily a valid operator. */
  | 'operator'
  /** Malformed input (e.g. an unterminated quote); see `error`. */
  | 'illegal'
  /** A single character that starts no token. */
  | 'unexpected';

/** One token of a filter string. */
export interface Token {
  /** What the token is. */
  readonly kind: TokenKind;
  /** Where the token starts in the input. */
  readonly pos: number;
  /** The token's source text (empty at end of input). */
  readonly text: string;
  /** For `illegal` tokens, what is wrong. */
  readonly error?: string;
}

/** Whitespace as Go's `unicode.IsSpace` sees it. */
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const CONTROL = /[\x00-\x1f\x7f]/;
const FIELD_CHAR = /[A-Za-z0-9_-]/;
const OPERATOR_CHAR = /[=!~]/;

/** Produces tokens from a filter string on demand; the parser decides which context applies. */
export class Scanner {
  private offset = 0;

  /** @param input the complete filter string */
  constructor(readonly input: string) {}

  /** The next token in field/operator context, consuming it. */
  next(): Token {
    this.skipSpace();
    const start = this.offset;
    const ch = this.input[start];
    if (ch === undefined) return { kind: 'eof', pos: start, text: '' };
    if (isLoneSurrogate(this.input, start)) return this.illegal(start, 1, 'invalid UTF-16 character');
    if (isQuoteDelimiter(ch)) return this.quoted(start);
    if (ch === ',' || ch === '.') return this.take('separator', start, start + 1);
    if (OPERATOR_CHAR.test(ch)) return this.take('operator', start, this.runEnd(start, (c) => OPERATOR_CHAR.test(c)));
    if (FIELD_CHAR.test(ch)) return this.take('field', start, this.runEnd(start, (c) => FIELD_CHAR.test(c)));
    if (ch === '\0') return this.illegal(start, 1, 'unexpected null');
    return this.take('unexpected', start, start + charWidth(this.input, start));
  }

  /** The next token where a value is expected (after an operator), consuming it. */
  nextValue(): Token {
    this.skipSpace();
    const start = this.offset;
    const ch = this.input[start];
    if (ch === undefined) return { kind: 'eof', pos: start, text: '' };
    if (isQuoteDelimiter(ch)) return this.quoted(start);
    if (ch === ',') return this.take('separator', start, start + 1);
    const end = this.runEnd(start, (c, at) => c !== ',' && !SPACE.test(c) && !CONTROL.test(c) && !isLoneSurrogate(this.input, at));
    if (end === start) return this.next();
    return this.take('value', start, end);
  }

  /** The token `next()` would return, without consuming it. */
  peek(): Token {
    const saved = this.offset;
    const token = this.next();
    this.offset = saved;
    return token;
  }

  private skipSpace(): void {
    while (this.offset < this.input.length && SPACE.test(this.input[this.offset] ?? '')) this.offset++;
  }

  private runEnd(start: number, accept: (ch: string, at: number) => boolean): number {
    let end = start;
    while (end < this.input.length && accept(this.input[end] ?? '', end)) end++;
    return end;
  }

  private take(kind: TokenKind, start: number, end: number): Token {
    this.offset = end;
    return { kind, pos: start, text: this.input.slice(start, end) };
  }

  private illegal(start: number, width: number, error: string): Token {
    this.offset = start + width;
    return { kind: 'illegal', pos: start, text: this.input.slice(start, start + width), error };
  }

  /** Scans a quoted literal opening at `start`; escapes are validated later by `unquote`. */
  private quoted(start: number): Token {
    const delim = this.input[start];
    let i = start + 1;
    for (;;) {
      const ch = this.input[i];
      if (ch === undefined || ch === '\n') return this.illegal(start, i - start, 'quoted literal not terminated');
      if (ch === '\\') {
        const escaped = this.input[i + 1];
        if (escaped === undefined || escaped === '\n') {
          return this.illegal(start, i + 1 - start, 'quoted literal not terminated');
        }
        i += 2;
        continue;
      }
      if (ch === delim) return this.take('quoted', start, i + 1);
      i++;
    }
  }
}

function charWidth(s: string, at: number): number {
  return (s.codePointAt(at) ?? 0) > 0xffff ? 2 : 1;
}

function isLoneSurrogate(s: string, at: number): boolean {
  const c = s.charCodeAt(at);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(at + 1);
    return !(d >= 0xdc00 && d <= 0xdfff);
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const b = s.charCodeAt(at - 1);
    return !(b >= 0xd800 && b <= 0xdbff);
  }
  return false;
}
