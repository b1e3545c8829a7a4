/**
 * Quoted literals of the filter language.
 *
 * A quoted literal is delimited by `"…"`, `/…/` or `|…|` and uses Go string-literal escapes:
 * `\a \b \f \n \r \t \v \\`, the literal's own delimiter (`\"`, `\/`, `\|`), `\xNN` (a byte),
 * `\NNN` (three octal digits, a byte), `\uNNNN` and `\UNNNNNNNN` (a code point). Bytes produced
 * by `\x` and octal escapes are assembled as UTF-8, so `"\xc3\xa9"` is `é`. A raw newline is
 * not allowed inside a literal.
 */

/** A character that opens (and closes) a quoted literal. */
export type QuoteDelimiter = '"' | '/' | '|';

/** Whether `ch` opens a quoted literal. */
export function isQuoteDelimiter(ch: string | undefined): ch is QuoteDelimiter {
  return ch === '"' || ch === '/' || ch === '|';
}

/** A quoted literal is malformed; `offset` is where, counted from the opening delimiter. */
export class UnquoteError extends Error {
  /** Index within the literal (0 is the opening delimiter) of the offending character. */
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.name = 'UnquoteError';
    this.offset = offset;
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/**
 * Decodes a complete quoted literal, delimiters included (e.g. `"a\tb"` or `|^/tasks/|`).
 * Throws {@link UnquoteError} when the literal is malformed.
 */
export function unquote(literal: string): string {
  const delim = literal[0];
  if (!isQuoteDelimiter(delim)) throw new UnquoteError(0, 'invalid quote encountered');
  const end = literal.length - 1;
  if (end < 1 || literal[end] !== delim) throw new UnquoteError(0, 'quoted literal not terminated');

  const bytes = new ByteBuffer();
  let i = 1;
  while (i < end) {
    const ch = literal[i];
    if (ch === delim) throw new UnquoteError(i, `unescaped ${delim} inside quoted literal`);
    if (ch === '\n') throw new UnquoteError(i, 'quoted literal not terminated');
    if (ch !== '\\') {
      let j = i + 1;
      while (j < end && literal[j] !== '\\' && literal[j] !== delim && literal[j] !== '\n') j++;
      bytes.append(encoder.encode(literal.slice(i, j)));
      i = j;
      continue;
    }
    i = decodeEscape(literal, i, end, delim, bytes);
  }
  return decoder.decode(bytes.view());
}

/** Decodes the escape starting at the backslash `literal[at]`; returns the index after it. */
function decodeEscape(literal: string, at: number, end: number, delim: QuoteDelimiter, out: ByteBuffer): number {
  const kind = literal[at + 1];
  if (at + 1 >= end || kind === undefined) throw new UnquoteError(at, 'unfinished escape sequence');
  const simple = SIMPLE_ESCAPES[kind];
  if (simple !== undefined) {
    out.push(simple);
    return at + 2;
  }
  if (kind === delim) {
    out.push(delim.charCodeAt(0));
    return at + 2;
  }
  switch (kind) {
    case 'x':
      out.push(readDigits(literal, at, at + 2, 2, 16, end));
      return at + 4;
    case 'u':
    case 'U': {
      const width = kind === 'u' ? 4 : 8;
      const cp = readDigits(literal, at, at + 2, width, 16, end);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw new UnquoteError(at, `invalid code point in escape ${literal.slice(at, at + 2 + width)}`);
      }
      out.append(encoder.encode(String.fromCodePoint(cp)));
      return at + 2 + width;
    }
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
      const value = readDigits(literal, at, at + 1, 3, 8, end);
      if (value > 0xff) throw new UnquoteError(at, `octal escape out of range: ${literal.slice(at, at + 4)}`);
      out.push(value);
      return at + 4;
    }
    default:
      throw new UnquoteError(at, `invalid escape sequence \\${kind}`);
  }
}

/** Reads exactly `count` digits of `base` starting at `from` (not reaching `end`). */
function readDigits(literal: string, escapeAt: number, from: number, count: number, base: number, end: number): number {
  let value = 0;
  for (let k = 0; k < count; k++) {
    const pos = from + k;
    const digit = pos < end ? parseInt(literal[pos] ?? '', base) : NaN;
    if (Number.isNaN(digit)) {
      throw new UnquoteError(escapeAt, `invalid numeric escape sequence ${literal.slice(escapeAt, Math.min(pos + 1, end))}`);
    }
    value = value * base + digit;
  }
  return value;
}

/** A growable byte array. */
class ByteBuffer {
  private data = new Uint8Array(64);
  private length = 0;

  push(byte: number): void {
    this.reserve(1);
    this.data[this.length++] = byte;
  }

  append(chunk: Uint8Array): void {
    this.reserve(chunk.length);
    this.data.set(chunk, this.length);
    this.length += chunk.length;
  }

  view(): Uint8Array {
    return this.data.subarray(0, this.length);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    const grown = new Uint8Array(Math.max(this.data.length * 2, this.length + extra));
    grown.set(this.view());
    this.data = grown;
  }
}
