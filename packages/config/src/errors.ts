/** gRPC status code InvalidArgument: bad config values and unparsable files. */
export const INVALID_ARGUMENT = 3;
/** gRPC status code NotFound: an explicitly given config file does not exist. */
export const NOT_FOUND = 5;
/** gRPC status code PermissionDenied: the config file cannot be read. */
export const PERMISSION_DENIED = 7;

/**
 * An error from this package. Check `code` (a gRPC status code number, as in `@flotilla/api`),
 * not `instanceof`: InvalidArgument (3) for bad values, NotFound (5) for a missing explicit file.
 */
export class ConfigError extends Error {
  /** gRPC status code of the failure. */
  readonly code: number;
  constructor(code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ConfigError';
  }
}
