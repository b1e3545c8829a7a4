/**
 * Parser for containerd's filter language.
 *
 * ```
 * selectors := selector ("," selector)*
 * selector  := fieldpath [operator value]
 * fieldpath := field ("." field)*
 * field     := "quoted" | [A-Za-z0-9_-]+
 * operator  := "==" | "!=" | "~="
 * value     := "quoted" | [^,\s]+            after == or !=
 *            | "quoted" | /quoted/ | |quoted| | [^,\s]+   after ~=
 * ```
 *
 * As in containerd, `/…/` and `|…|` quoting is accepted only for `~=` values (so regular
 * expressions need no extra escaping); field names and `==`/`!=` values quote with `"…"`.
 * Whitespace between tokens is ignored. The empty string matches everything.
 */

import { FilterParseError } from './errors.js';
import { Selector, allOf, anyOf, matchEverything, type Filter, type Operator } from './filter.js';
import { UnquoteError, unquote } from './quote.js';
import { RegexpSyntaxError, compileRegexp } from './regexp.js';
import { Scanner, type Token } from './scanner.js';

/**
 * Parses one filter string (comma-separated selectors, all of which must match).
 * The empty string yields a filter matching everything.
 * Throws {@link FilterParseError} (`code` 3, InvalidArgument) on malformed input.
 */
export function parseFilter(input: string): Filter {
  if (input === '') return matchEverything;
  return new Parser(input).parse();
}

/**
 * Parses several filter strings into one filter matching when any of them matches, as
 * containerd does for the `filters` field of List and Subscribe requests.
 * An empty list yields a filter matching everything.
 * Throws {@link FilterParseError} (`code` 3, InvalidArgument) if any string is malformed.
 */
export function parseFilters(inputs: readonly string[]): Filter {
  if (inputs.length === 0) return matchEverything;
  const filters = inputs.map(parseFilter);
  return filters.length === 1 ? (filters[0] as Filter) : anyOf(filters);
}

const OPERATORS: ReadonlySet<string> = new Set<Operator>(['==', '!=', '~=']);

class Parser {
  private readonly scanner: Scanner;

  constructor(private readonly input: string) {
    this.scanner = new Scanner(input);
  }

  parse(): Filter {
    const selectors = [this.selector()];
    for (;;) {
      const token = this.scanner.next();
      if (token.kind === 'eof') break;
      if (token.kind === 'separator' && token.text === ',') {
        selectors.push(this.selector());
        continue;
      }
      this.fail(token, `unexpected input: ${token.text}`);
    }
    return selectors.length === 1 ? (selectors[0] as Selector) : allOf(selectors);
  }

  private selector(): Selector {
    const path = this.fieldpath();
    const after = this.scanner.peek();
    if (after.kind === 'eof' || (after.kind === 'separator' && after.text === ',')) {
      return new Selector(path, undefined, '');
    }
    const operator = this.operator();
    const token = this.scanner.nextValue();
    const value = this.value(token, operator);
    if (operator !== '~=') return new Selector(path, operator, value);
    try {
      return new Selector(path, operator, value, compileRegexp(value));
    } catch (err) {
      if (err instanceof RegexpSyntaxError) this.fail(token, err.message);
      throw err;
    }
  }

  private fieldpath(): string[] {
    const path = [this.field()];
    for (;;) {
      const next = this.scanner.peek();
      if (next.kind !== 'separator' || next.text !== '.') return path;
      this.scanner.next();
      path.push(this.field());
    }
  }

  private field(): string {
    const token = this.scanner.next();
    switch (token.kind) {
      case 'field':
        return token.text;
      case 'quoted':
        if (!token.text.startsWith('"')) this.fail(token, 'invalid quote encountered');
        return this.unquote(token);
      case 'illegal':
        return this.fail(token, token.error ?? 'illegal input');
      default:
        return this.fail(token, 'expected field or quoted');
    }
  }

  private operator(): Operator {
    const token = this.scanner.next();
    if (token.kind === 'operator') {
      if (OPERATORS.has(token.text)) return token.text as Operator;
      this.fail(token, `unsupported operator "${token.text}"`);
    }
    if (token.kind === 'illegal') this.fail(token, token.error ?? 'illegal input');
    return this.fail(token, 'expected an operator ("=="|"!="|"~=")');
  }

  private value(token: Token, operator: Operator): string {
    switch (token.kind) {
      case 'value':
        return token.text;
      case 'quoted':
        if (operator !== '~=' && !token.text.startsWith('"')) this.fail(token, 'invalid quote encountered');
        return this.unquote(token);
      case 'illegal':
        return this.fail(token, token.error ?? 'illegal input');
      default:
        return this.fail(token, 'expected value or quoted');
    }
  }

  private unquote(token: Token): string {
    try {
      return unquote(token.text);
    } catch (err) {
      if (err instanceof UnquoteError) {
        throw new FilterParseError(this.input, token.pos + err.offset, `unquoting failed: ${err.message}`);
      }
      throw err;
    }
  }

  private fail(token: Token, reason: string): never {
    throw new FilterParseError(this.input, token.pos, reason);
  }
}
