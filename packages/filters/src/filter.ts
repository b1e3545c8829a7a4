/**
 * Filters and the adaptor contract they match against.
 */

/** What an adaptor reports for one field path. */
export interface FieldValue {
  /** The field's value as a string; `''` when the field is absent. */
  value: string;
  /** Whether the field is present on the object. */
  present: boolean;
}

/**
 * Maps field paths onto an object. `field(['labels', 'a.b'])` returns the value at that path
 * and whether it is present; how a path maps to the object is up to the adaptor.
 */
export interface Adaptor {
  /** Looks up one field path (at least one element; never mutated by callers' filters). */
  field(path: string[]): FieldValue;
}

/** A parsed filter: decides whether an object, seen through an adaptor, matches. */
export interface Filter {
  /** True when the object behind `adaptor` matches. */
  match(adaptor: Adaptor): boolean;
}

/** A selector's comparison: equality, inequality, or regular-expression match. */
export type Operator = '==' | '!=' | '~=';

/** The filter that matches everything (an empty filter string or an empty list). */
export const matchEverything: Filter = Object.freeze({ match: () => true });

/**
 * One `fieldpath[op value]` selector.
 *
 * Semantics follow containerd's `filters` package exactly:
 * - no operator: the field is present;
 * - `==`: present and equal;
 * - `!=`: the reported value differs (an absent field reports `''`, so it matches unless the
 *   value compared against is `''`);
 * - `~=`: the reported value matches the regular expression (also tested when absent, as `''`).
 */
export class Selector implements Filter {
  /**
   * @param path the field path, one element per field
   * @param operator the comparison, or `undefined` for a presence test
   * @param value the value compared against (`''` for a presence test)
   * @param pattern the compiled regular expression, required for `~=`
   */
  constructor(
    readonly path: readonly string[],
    readonly operator: Operator | undefined,
    readonly value: string,
    readonly pattern?: RegExp,
  ) {
    if (operator === '~=' && !pattern) throw new TypeError('a ~= selector needs a compiled pattern');
  }

  /** @inheritdoc */
  match(adaptor: Adaptor): boolean {
    const field = adaptor.field([...this.path]);
    switch (this.operator) {
      case undefined:
        return field.present;
      case '==':
        return field.present && field.value === this.value;
      case '!=':
        return field.value !== this.value;
      case '~=':
        return (this.pattern as RegExp).test(field.value);
    }
  }
}

/** A filter that matches when every one of `filters` matches (comma-joined selectors). */
export function allOf(filters: readonly Filter[]): Filter {
  const list = [...filters];
  return { match: (adaptor) => list.every((f) => f.match(adaptor)) };
}

/** A filter that matches when any one of `filters` matches (several filter strings). */
export function anyOf(filters: readonly Filter[]): Filter {
  const list = [...filters];
  return { match: (adaptor) => list.some((f) => f.match(adaptor)) };
}
