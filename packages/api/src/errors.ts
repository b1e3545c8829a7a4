/**
 * The one error vocabulary of Flotilla: containerd's errdefs kinds, numbered as gRPC status codes.
 *
 * Code is checked by value (the `code` property), never by message or `instanceof`, because errors
 * cross process boundaries on the bus and arrive as plain data.
 */

/** gRPC status codes; containerd's errdefs kinds map onto these one to one. */
export enum Code {
  OK = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** The suffix containerd's errdefs appends when it wraps a kind ("namespace \"a\": not found"). */
const KIND_TEXT: Partial<Record<Code, string>> = {
  [Code.Canceled]: 'context canceled',
  [Code.Unknown]: 'unknown',
  [Code.InvalidArgument]: 'invalid argument',
  [Code.DeadlineExceeded]: 'context deadline exceeded',
  [Code.NotFound]: 'not found',
  [Code.AlreadyExists]: 'already exists',
  [Code.PermissionDenied]: 'permission denied',
  [Code.ResourceExhausted]: 'resource exhausted',
  [Code.FailedPrecondition]: 'failed precondition',
  [Code.Aborted]: 'aborted',
  [Code.OutOfRange]: 'out of range',
  [Code.Unimplemented]: 'not implemented',
  [Code.Internal]: 'internal',
  [Code.Unavailable]: 'unavailable',
  [Code.DataLoss]: 'data loss',
  [Code.Unauthenticated]: 'unauthenticated',
};

/** An error carrying one of the kinds above. */
export class FlotillaError extends Error {
  /** The kind, as a gRPC status code number. */
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = `FlotillaError(${Code[code] ?? code})`;
  }
}

/**
 * Builds an error of `code` whose message is `context: <kind text>`, the way containerd wraps
 * errdefs kinds, e.g. `kindError(Code.NotFound, 'namespace "a"')` → `namespace "a": not found`.
 */
export function kindError(code: Code, context: string, cause?: unknown): FlotillaError {
  const text = KIND_TEXT[code];
  const message = context ? (text ? `${context}: ${text}` : context) : (text ?? Code[code]);
  return new FlotillaError(code, message, cause === undefined ? undefined : { cause });
}

/** `context: not found`. */
export const notFound = (context: string, cause?: unknown) => kindError(Code.NotFound, context, cause);
/** `context: already exists`. */
export const alreadyExists = (context: string, cause?: unknown) => kindError(Code.AlreadyExists, context, cause);
/** `context: invalid argument`. */
export const invalidArgument = (context: string, cause?: unknown) => kindError(Code.InvalidArgument, context, cause);
/** `context: failed precondition`. */
export const failedPrecondition = (context: string, cause?: unknown) =>
  kindError(Code.FailedPrecondition, context, cause);
/** `context: unavailable`. */
export const unavailable = (context: string, cause?: unknown) => kindError(Code.Unavailable, context, cause);
/** `context: not implemented`. */
export const unimplemented = (context: string, cause?: unknown) => kindError(Code.Unimplemented, context, cause);
/** `context: internal`. */
export const internal = (context: string, cause?: unknown) => kindError(Code.Internal, context, cause);
/** `context: context deadline exceeded`. */
export const deadlineExceeded = (context: string, cause?: unknown) => kindError(Code.DeadlineExceeded, context, cause);
/** `context: context canceled`. */
export const canceled = (context: string, cause?: unknown) => kindError(Code.Canceled, context, cause);

/** Whether `n` is a known status code number. */
export function isCodeNumber(n: unknown): n is Code {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 16;
}

/**
 * The kind of any thrown value: its numeric `code` property when it is a known code, Canceled for
 * an AbortError, otherwise Unknown.
 */
export function codeOf(err: unknown): Code {
  if (err && typeof err === 'object') {
    const c = (err as { code?: unknown }).code;
    if (isCodeNumber(c)) return c;
    if ((err as { name?: unknown }).name === 'AbortError') return Code.Canceled;
    if ((err as { name?: unknown }).name === 'TimeoutError') return Code.DeadlineExceeded;
  }
  return Code.Unknown;
}

/** Whether `err` is of kind `code`. */
export function isCode(err: unknown, code: Code): boolean {
  return codeOf(err) === code;
}

/** The message of any thrown value. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** Turns any thrown value into a FlotillaError, keeping its kind and message and the original as cause. */
export function toFlotillaError(err: unknown): FlotillaError {
  if (err instanceof FlotillaError) return err;
  return new FlotillaError(codeOf(err), messageOf(err), { cause: err });
}
