/**
 * The error raised for filter strings that do not parse.
 *
 * Kept local to this package for now; it mirrors the project's shared error shape (a numeric
 * gRPC `code` and a message ending in the errdefs kind text) so it can be swapped later.
 */

/** gRPC status code InvalidArgument, the kind every filter syntax error carries. */
export const INVALID_ARGUMENT = 3;

/**
 * A filter string could not be parsed.
 *
 * The message reads `filters: parse error: [<input with marker>]: <reason>: invalid argument`,
 * where the marker `>|c|<` surrounds the offending character, or the whole input is shown bare
 * when the problem is at its end (as containerd prints it).
 */
export class FilterParseError extends Error {
  /** Always 3 (gRPC InvalidArgument). */
  readonly code = INVALID_ARGUMENT;
  /** The filter string that failed to parse. */
  readonly input: string;
  /** Index (UTF-16 code units) in `input` where the problem was found; `input.length` means its end. */
  readonly position: number;
  /** The bare description of the problem, without position or kind text. */
  readonly reason: string;

  constructor(input: string, position: number, reason: string) {
    super(`filters: parse error: ${markPosition(input, position)}: ${reason}: invalid argument`);
    this.name = 'FilterParseError';
    this.input = input;
    this.position = position;
    this.reason = reason;
  }
}

/** Renders `input` with the character at `position` marked, e.g. `[a >|=|< b]`, or `[input]` at the end. */
function markPosition(input: string, position: number): string {
  if (position < 0 || position >= input.length) return `[${input}]`;
  const cp = input.codePointAt(position) ?? 0;
  const width = cp > 0xffff ? 2 : 1;
  const before = input.slice(0, position);
  const at = input.slice(position, position + width);
  const after = input.slice(position + width);
  return `[${before} >|${at}|< ${after}]`;
}
