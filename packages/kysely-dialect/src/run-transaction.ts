/**
 * Runs a Kysely transaction callback as one s3db `update` (or `view`): each run
 * of the callback gets a fresh Kysely `Transaction` bound to that run's `Tx`, so
 * s3db can re-run it on conflict and commit exactly once.
 *
 * @module
 */
import { InvalidArgumentError, type S3db, type Tx } from '@s3db/core'
import {
  type DatabaseConnection,
  type KyselyProps,
  SingleConnectionProvider,
  Transaction,
} from 'kysely'
import { S3dbConnection } from './connection.js'
import { assertOutsideTransaction } from './reentrancy.js'
import type { TransactionMode } from './transaction-settings.js'

/** Options s3db's `update` accepts. */
export type UpdateOptions = NonNullable<Parameters<S3db['update']>[1]>

/** The S3dbConnection behind a connection Kysely handed out. */
export function asS3dbConnection(connection: DatabaseConnection): S3dbConnection {
  if (connection instanceof S3dbConnection) return connection
  throw new InvalidArgumentError(
    's3db: Kysely provided a connection the s3db driver did not create (was the connection provider replaced?)',
  )
}

/**
 * Runs `fn` in one s3db transaction. In 'update' mode `fn` may run more than
 * once; only the last run's effects are committed, and its value is returned.
 */
export async function runTransaction<DB, T>(
  props: KyselyProps,
  s3db: S3db,
  mode: TransactionMode,
  fn: (trx: Transaction<DB>) => Promise<T>,
  options: UpdateOptions = {},
): Promise<T> {
  assertOutsideTransaction(s3db)
  return props.executor.provideConnection(async (provided) => {
    const connection = asS3dbConnection(provided)
    const body = async (tx: Tx): Promise<T> => {
      const bound = connection.bind(tx)
      try {
        const executor = props.executor.withConnectionProvider(
          new SingleConnectionProvider(bound.connection),
        )
        return await fn(new Transaction<DB>({ ...props, executor }))
      } finally {
        bound.unbind()
      }
    }
    return mode === 'view'
      ? s3db.view(body, { signal: options.signal })
      : s3db.update(body, options)
  })
}
