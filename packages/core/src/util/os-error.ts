/**
 * Turns the operating system's errors about local files into s3db's typed
 * errors, so a full disk or a read-only directory reads as what it is and not
 * as a raw `ENOSPC` or `EACCES` from somewhere inside the engine.
 *
 * @module
 */
import {
  AccessDeniedError,
  InvalidArgumentError,
  LocalStorageFullError,
  S3dbError,
} from '../errors.js'

/** The errno code of a Node.js system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * The typed error for an OS error met while `action` (e.g. "write", "lock")
 * on `path`; other errors (and errors already typed) are returned unchanged.
 */
export function fromOsError(err: unknown, action: string, path: string): unknown {
  if (err instanceof S3dbError) return err
  switch (errnoOf(err)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new LocalStorageFullError(path, { cause: err })
    case 'EACCES':
    case 'EPERM':
      return new AccessDeniedError(
        `permission denied to ${action} ${path}; give the user running s3db (uid ${process.getuid?.() ?? '?'}) access to it`,
        { cause: err },
      )
    case 'EROFS':
      return new AccessDeniedError(
        `cannot ${action} ${path}: its file system is mounted read-only; remount it read-write or use another path`,
        { cause: err },
      )
    case 'ELOOP':
      return symlinkRefused(path, err)
    default:
      return err
  }
}

/**
 * The typed error for a better-sqlite3 error about the local replica file at
 * `path` (SQLITE_FULL: the disk is full); other errors are returned unchanged.
 */
export function fromSqliteError(err: unknown, path: string): unknown {
  if (err instanceof S3dbError) return err
  if ((err as { code?: unknown } | undefined)?.code === 'SQLITE_FULL') {
    return new LocalStorageFullError(path, { cause: err })
  }
  return err
}

/** s3db never follows a symlink where it expects its own file. */
export function symlinkRefused(path: string, cause?: unknown): S3dbError {
  return new InvalidArgumentError(
    `refusing ${path}: it is a symlink where s3db keeps its own file, and s3db never follows those; remove the link`,
    cause === undefined ? undefined : { cause },
  )
}

/** Where s3db expected a regular file of its own, something else (a FIFO, a device, a directory) is. */
export function notRegularFile(path: string): S3dbError {
  return new InvalidArgumentError(
    `refusing ${path}: s3db keeps a regular file there, but it is not one (a directory, FIFO or device); remove it`,
  )
}
