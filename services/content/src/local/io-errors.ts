/** File system failures as error kinds, with the operation as context. */
import { Code, FlotillaError, codeOf, kindError, messageOf } from '@flotilla/api';

/** Wraps a file system error from `context` in the error kind closest to its errno. */
export function ioError(context: string, err: unknown): FlotillaError {
  if (err instanceof FlotillaError || codeOf(err) !== Code.Unknown) return err as FlotillaError;
  const errno = (err as NodeJS.ErrnoException)?.code;
  const code =
    errno === 'ENOSPC' || errno === 'EDQUOT' || errno === 'EMFILE' || errno === 'ENFILE'
      ? Code.ResourceExhausted
      : errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS'
        ? Code.PermissionDenied
        : errno === 'ENOENT'
          ? Code.NotFound
          : Code.Internal;
  return kindError(code, `${context}: ${messageOf(err)}`, err);
}

/** Whether `err` is a Node errno error with code `errno`. */
export function isErrno(err: unknown, errno: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === errno;
}
