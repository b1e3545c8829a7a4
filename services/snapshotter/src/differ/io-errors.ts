/**
 * Turning operating-system failures met while applying or producing a layer into errors that carry
 * one of Flotilla's error kinds, so a caller on the other side of the bus can tell a bad layer
 * (InvalidArgument) from a full disk (ResourceExhausted) or a broken host (Internal).
 */
import { Code, FlotillaError, kindError } from '@flotilla/api';

export { errnoName, systemError, type SystemError } from '@flotilla/sys';
import { errnoName } from '@flotilla/sys';

/** Errors that mean the layer asks for something the tree cannot hold (a bad layer, not a bad host). */
const LAYER_CONFLICTS = new Set(['ENOTDIR', 'EISDIR', 'EEXIST', 'ELOOP', 'ENAMETOOLONG', 'ENOTEMPTY', 'EINVAL', 'EMLINK']);

/** The error kind for an errno name met while writing a layer into a tree. */
export function kindOfErrno(name: string | undefined): Code {
  switch (name) {
    case undefined:
      return Code.Internal;
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
      return Code.ResourceExhausted;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return Code.PermissionDenied;
    case 'ENOENT':
      return Code.NotFound;
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
    case 'ENOSYS':
      return Code.Unimplemented;
    default:
      return LAYER_CONFLICTS.has(name) ? Code.InvalidArgument : Code.Internal;
  }
}

/**
 * Wraps a failure of `op` on `what` (a display path) into a FlotillaError. Errors that already carry
 * a kind are passed through unchanged.
 */
export function ioFailure(op: string, what: string, err: unknown, code?: Code): FlotillaError {
  if (err instanceof FlotillaError) return err;
  const name = errnoName(err);
  const detail = name ?? (err instanceof Error ? err.message : String(err));
  return kindError(code ?? kindOfErrno(name), `${op} ${JSON.stringify(what)}: ${detail}`, err);
}
