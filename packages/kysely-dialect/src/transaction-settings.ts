/**
 * How Kysely's transaction settings map onto s3db.
 *
 * s3db transactions are serializable (with the default `isolation` of
 * `S3db.open`): commits are totally ordered by a compare-and-swap and a
 * transaction that lost the race runs again on the newer state. Every
 * isolation level Kysely can ask for is therefore accepted; the weaker ones
 * ('read uncommitted', 'read committed', 'repeatable read', 'snapshot') get
 * serializable, which gives every guarantee they give. `accessMode('read only')`
 * runs the transaction as an `S3db.view` (a consistent snapshot; writes fail
 * with ReadOnlyError).
 *
 * @module
 */
import { InvalidArgumentError } from '@s3db/core'
import {
  type AccessMode,
  type IsolationLevel,
  TRANSACTION_ACCESS_MODES,
  TRANSACTION_ISOLATION_LEVELS,
  type TransactionSettings,
} from 'kysely'

/** Which s3db operation runs a transaction. */
export type TransactionMode = 'update' | 'view'

/** Validates Kysely transaction settings and picks the s3db operation that honours them. */
export function transactionMode(settings: TransactionSettings): TransactionMode {
  const { accessMode, isolationLevel } = settings
  if (accessMode !== undefined && !TRANSACTION_ACCESS_MODES.includes(accessMode as AccessMode)) {
    throw new InvalidArgumentError(
      `unknown transaction access mode ${JSON.stringify(accessMode)}: use 'read only' or 'read write'`,
    )
  }
  if (
    isolationLevel !== undefined &&
    !TRANSACTION_ISOLATION_LEVELS.includes(isolationLevel as IsolationLevel)
  ) {
    throw new InvalidArgumentError(
      `unknown transaction isolation level ${JSON.stringify(isolationLevel)}: s3db transactions are serializable, use 'serializable'`,
    )
  }
  return accessMode === 'read only' ? 'view' : 'update'
}
