/**
 * Every error s3db raises on purpose is an {@link S3dbError} with a stable
 * {@link S3dbError.code}. Match on `code` (or `instanceof` the subclass); messages
 * are for humans and may change.
 *
 * @module
 */

/** Stable machine-readable error codes. */
export type S3dbErrorCode =
  | 'NotFound'
  | 'PreconditionFailed'
  | 'InvalidArgument'
  | 'StoreUnavailable'
  | 'AccessDenied'
  | 'BucketNotFound'
  | 'Aborted'
  | 'WriteConflict'
  | 'CommitIndeterminate'
  | 'SchemaTooNew'
  | 'FormatTooNew'
  | 'Corrupt'
  | 'NoPrimaryKey'
  | 'ApplyConflict'
  | 'LocalCacheLocked'
  | 'SeqMismatch'
  | 'AlreadyExists'
  | 'Closed'
  | 'ReentrantTransaction'
  | 'ReadOnly'
  | 'MigrationFailed'
  | 'LocalReplicaFailed'
  | 'LocalStorageFull'
  | 'UnsupportedRuntime'
  | 'UnsafeInteger'
  | 'ManifestTooLarge'
  | 'HistoryUnavailable'
  | 'SchemaMismatch'

/** Options shared by every s3db error constructor. */
export interface S3dbErrorOptions {
  cause?: unknown
}

/** Base class of all errors s3db raises on purpose. */
export class S3dbError extends Error {
  readonly code: S3dbErrorCode

  constructor(code: S3dbErrorCode, message: string, options?: S3dbErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }
}

/** The key does not exist in the store. */
export class NotFoundError extends S3dbError {
  readonly key: string
  constructor(key: string, options?: S3dbErrorOptions) {
    super('NotFound', `object not found: ${key}`, options)
    this.key = key
  }
}

/** No database exists at the prefix (its manifest is missing). */
export class DatabaseNotFoundError extends NotFoundError {
  readonly prefix: string
  constructor(prefix: string, options?: S3dbErrorOptions) {
    super(`${prefix}manifest.json`, options)
    this.prefix = prefix
    this.message = `no database at ${prefix} (no manifest.json there); create it with S3db.init, or open without createIfMissing: false`
  }
}

/**
 * A conditional write lost: the object's ETag no longer matched `ifMatch`, or an
 * `ifNoneMatch` create found the key already present. S3's 412 and its 409
 * ConditionalRequestConflict both map here.
 */
export class PreconditionFailedError extends S3dbError {
  readonly key: string
  constructor(key: string, options?: S3dbErrorOptions) {
    super('PreconditionFailed', `conditional write lost on ${key}: the object changed`, options)
    this.key = key
  }
}

/** A caller passed something s3db cannot accept (bad key, prefix, URL, option). */
export class InvalidArgumentError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('InvalidArgument', message, options)
  }
}

/**
 * The store failed in a way that may be transient (network, 5xx, throttling).
 * `maybeApplied` is true when the request had been sent and the store may have
 * applied it although no success was seen: callers must not assume it failed.
 */
export class StoreUnavailableError extends S3dbError {
  readonly maybeApplied: boolean
  readonly retryable: boolean
  constructor(
    message: string,
    options: S3dbErrorOptions & { maybeApplied: boolean; retryable?: boolean },
  ) {
    super('StoreUnavailable', message, options)
    this.maybeApplied = options.maybeApplied
    this.retryable = options.retryable ?? true
  }
}

/**
 * The store refused the credentials or the request (HTTP 403 and the like), or
 * the operating system refused s3db access to a local file or directory (EACCES,
 * EPERM, or a read-only file system: EROFS) of the filesystem store or the local
 * replica. Not transient: fix the permissions, ownership or mount.
 */
export class AccessDeniedError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('AccessDenied', message, options)
  }
}

/** The bucket does not exist (or is not visible with these credentials). */
export class BucketNotFoundError extends S3dbError {
  readonly bucket: string
  constructor(bucket: string, options?: S3dbErrorOptions) {
    super(
      'BucketNotFound',
      `bucket "${bucket}" does not exist; create it or fix the bucket name`,
      options,
    )
    this.bucket = bucket
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortedError extends S3dbError {
  constructor(message = 'operation aborted', options?: S3dbErrorOptions) {
    super('Aborted', message, options)
  }
}

/** Stored data is malformed: a manifest, snapshot or changeset that cannot be trusted. */
export class CorruptError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('Corrupt', message, options)
  }
}

/**
 * An object is larger than the caller allowed it to be (`maxBytes` of a store
 * read): refused before or while reading, so it never fills memory. The object
 * cannot be what it should be, hence `Corrupt`.
 */
export class ObjectTooLargeError extends CorruptError {
  readonly key: string
  readonly limit: number
  constructor(key: string, limit: number, options?: S3dbErrorOptions) {
    super(
      `object ${key} is larger than the ${limit} bytes it may have, so it was not read; it is damaged or not s3db's (restore it or push a good copy)`,
      options,
    )
    this.key = key
    this.limit = limit
  }
}

/** A transaction wrote to a table that has no PRIMARY KEY; nothing was published. */
export class NoPrimaryKeyError extends S3dbError {
  readonly table: string
  constructor(table: string, options?: S3dbErrorOptions) {
    super(
      'NoPrimaryKey',
      `table "${table}" has no PRIMARY KEY, so its rows cannot be replicated; add a PRIMARY KEY (or make it WITHOUT ROWID with one) before writing to it`,
      options,
    )
    this.table = table
  }
}

/**
 * Kinds of changeset apply conflicts: sqlite3changeset_apply's five conflict types, and
 * SCHEMA for a changeset table that is missing in the target or laid out differently.
 */
export type ApplyConflictKind =
  | 'DATA'
  | 'NOTFOUND'
  | 'CONFLICT'
  | 'CONSTRAINT'
  | 'FOREIGN_KEY'
  | 'SCHEMA'

/**
 * Applying a changeset met a conflict its policy did not resolve (by default every
 * conflict aborts); the apply was rolled back, nothing changed.
 */
export class ApplyConflictError extends S3dbError {
  readonly kind: ApplyConflictKind
  /** The table of the conflicting change ('' for FOREIGN_KEY, which is changeset-wide). */
  readonly table: string
  constructor(kind: ApplyConflictKind, table: string, message: string, options?: S3dbErrorOptions) {
    super('ApplyConflict', message, options)
    this.kind = kind
    this.table = table
  }
}

/** Throws {@link AbortedError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new AbortedError(
      signal.reason instanceof Error ? signal.reason.message : 'operation aborted',
      { cause: signal.reason },
    )
  }
}

/** True when `err` is an {@link S3dbError}, optionally with the given code. */
export function isS3dbError(err: unknown, code?: S3dbErrorCode): err is S3dbError {
  return err instanceof S3dbError && (code === undefined || err.code === code)
}

/** Another writer kept winning: the transaction was retried `maxRetries` times and never committed. */
export class WriteConflictError extends S3dbError {
  readonly attempts: number
  constructor(attempts: number, message?: string, options?: S3dbErrorOptions) {
    super(
      'WriteConflict',
      message ??
        `write lost the commit race ${attempts} times to other writers and was not committed; retry later, raise maxRetries, or reduce contention on the same rows`,
      options,
    )
    this.attempts = attempts
  }
}

/**
 * The store failed in a way that leaves it unknowable whether the write
 * committed (the outcome was already compacted away, or the store stayed
 * unreachable). Check the data before retrying a non-idempotent write.
 */
export class CommitIndeterminateError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('CommitIndeterminate', message, options)
  }
}

/** The database's schema is newer than this app's migrations know. */
export class SchemaTooNewError extends S3dbError {
  readonly databaseVersion: number
  readonly appVersion: number
  constructor(databaseVersion: number, appVersion: number) {
    super(
      'SchemaTooNew',
      `the database is at schema version ${databaseVersion} but this app's migrations stop at ${appVersion}; deploy the newer app (or mark the newer migrations compatible)`,
    )
    this.databaseVersion = databaseVersion
    this.appVersion = appVersion
  }
}

/** The database moved since the copy being pushed was pulled. */
export class SeqMismatchError extends S3dbError {
  readonly expectedSeq: number
  readonly actualSeq: number
  constructor(expectedSeq: number, actualSeq: number) {
    super(
      'SeqMismatch',
      actualSeq === expectedSeq
        ? `the database is still at seq ${actualSeq}, but its contents were replaced since this copy was pulled (another client pushed or migrated); pull again and redo the edit, or push with force to overwrite their writes`
        : `the database is at seq ${actualSeq}, not ${expectedSeq} as when this copy was pulled: someone wrote since; pull again and redo the edit, or push with force to overwrite their writes`,
    )
    this.expectedSeq = expectedSeq
    this.actualSeq = actualSeq
  }
}

/** A database already exists at this prefix. */
export class AlreadyExistsError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('AlreadyExists', message, options)
  }
}

/** The S3db instance was closed. */
export class ClosedError extends S3dbError {
  constructor() {
    super('Closed', 'this S3db instance is closed')
  }
}

/** An update or view was started from inside another one's callback on the same database. */
export class ReentrantTransactionError extends S3dbError {
  constructor(message: string) {
    super('ReentrantTransaction', message)
  }
}

/** A write was attempted in a read-only context (a view). */
export class ReadOnlyError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('ReadOnly', message, options)
  }
}

/**
 * A past state that is not retained any more (older than the retention window,
 * removed by GC, or before a snapshot switch that recorded no history, such as
 * one made by the Go client). Nothing was read or written.
 */
export class HistoryUnavailableError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('HistoryUnavailable', message, options)
  }
}

/** A restore would change the schema version and was not allowed to; nothing was written. */
export class SchemaMismatchError extends S3dbError {
  constructor(message: string, options?: S3dbErrorOptions) {
    super('SchemaMismatch', message, options)
  }
}

/** A migration failed; nothing of it was committed. */
export class MigrationFailedError extends S3dbError {
  readonly version: number
  constructor(version: number, name: string, options?: S3dbErrorOptions) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(
      'MigrationFailed',
      `migration ${version} (${name}) failed and was not applied${cause}`,
      options,
    )
    this.version = version
  }
}

/**
 * The disk (or the user's quota) holding a local file of s3db is full: ENOSPC or
 * EDQUOT while writing to the filesystem store or the local replica. What was
 * being written was removed again (no half-written object or temp file is left);
 * free space and retry.
 */
export class LocalStorageFullError extends S3dbError {
  /** The file or directory being written. */
  readonly path: string
  constructor(path: string, options?: S3dbErrorOptions) {
    super(
      'LocalStorageFull',
      `no space left on the disk (or quota) holding ${path}; nothing was half-written: free space and retry`,
      options,
    )
    this.path = path
  }
}

/** The running Node.js is older than s3db supports: upgrade Node. */
export class UnsupportedRuntimeError extends S3dbError {
  /** The lowest supported Node.js version, e.g. `22.12.0`. */
  readonly required: string
  /** The running Node.js version. */
  readonly actual: string
  constructor(required: string, actual: string) {
    super(
      'UnsupportedRuntime',
      `@s3db/core needs Node.js ${required} or newer, but this is Node.js ${actual}: upgrade Node (its native SQLite module crashes older versions)`,
    )
    this.required = required
    this.actual = actual
  }
}

/**
 * A query read an INTEGER value beyond JavaScript's safe integer range
 * (Number.MIN_SAFE_INTEGER..MAX_SAFE_INTEGER) as a number. A number cannot hold
 * it exactly, so instead of returning a rounded value the read fails; read such
 * values as `bigint` instead (the `safeIntegers` option of `S3db.open`, or
 * `tx.prepare(sql).safeIntegers()` for one statement).
 */
export class UnsafeIntegerError extends S3dbError {
  /** The result column that held the value (its name or alias in the result). */
  readonly column: string
  /** The table the column comes from, when SQLite knows it (not for expressions). */
  readonly table: string | undefined
  constructor(
    column: string,
    table: string | undefined,
    options?: S3dbErrorOptions & {
      /** What to do instead, when the usual remedy (read it as a bigint) does not apply. */
      remedy?: string | undefined
    },
  ) {
    const where = table ? `column "${column}" (table "${table}")` : `result column "${column}"`
    super(
      'UnsafeInteger',
      `${where} holds an integer outside -(2^53-1)..2^53-1, which a JavaScript number cannot hold exactly, so it was not read (no rounded value is returned); ${options?.remedy ?? 'read it as a bigint: open the database with safeIntegers: true, or use tx.prepare(sql).safeIntegers() for one statement (Kysely: SafeIntegersPlugin; Drizzle: a bigint-mode column)'}`,
      options,
    )
    this.column = column
    this.table = table
  }
}
