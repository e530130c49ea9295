/**
 * `S3dbKysely#connection()`: everything the callback runs is one atomic s3db
 * update. The callback cannot be re-run (its queries may have been mixed with
 * anything), so a lost commit race fails with WriteConflictError instead.
 *
 * @module
 */
import type { S3db } from '@s3db/core'
import { insideTransaction } from '@s3db/core/internal'
import {
  type AbortableOperationOptions,
  ConnectionBuilder,
  Kysely,
  type KyselyProps,
  SingleConnectionProvider,
} from 'kysely'
import { assertOutsideTransaction } from './reentrancy.js'
import { asS3dbConnection } from './run-transaction.js'

/**
 * Runs a callback on one connection, which for s3db means inside one held
 * (not re-runnable) update: committed when the callback returns, rolled back
 * when it throws, WriteConflictError when another writer committed first.
 * Kysely transactions begun inside it are savepoints.
 */
export class S3dbConnectionBuilder<DB> extends ConnectionBuilder<DB> {
  readonly #props: KyselyProps
  readonly #s3db: S3db

  /** @internal Created by {@link S3dbKysely.connection}. */
  constructor(props: KyselyProps, s3db: S3db) {
    super(props)
    this.#props = props
    this.#s3db = s3db
  }

  /**
   * Runs `fn` with a Kysely bound to one held update and commits when it
   * returns (rolls back when it throws). Resolves once the commit is durable.
   */
  override async execute<T>(
    fn: (db: Kysely<DB>) => Promise<T>,
    options?: AbortableOperationOptions,
  ): Promise<T> {
    const props = this.#props
    const s3db = this.#s3db
    assertOutsideTransaction(s3db)
    return props.executor.provideConnection(async (provided) => {
      const connection = asS3dbConnection(provided)
      await connection.begin({}, options?.signal)
      let result: T
      try {
        const executor = props.executor.withConnectionProvider(
          new SingleConnectionProvider(provided),
        )
        const db = new Kysely<DB>({ ...props, executor })
        // Marks the callback as inside a transaction on s3db, so using the outer
        // instance in it fails at once instead of waiting for this update.
        result = await insideTransaction.run({ db: s3db, mode: 'update' }, () => fn(db))
      } catch (err) {
        await connection.rollback()
        throw err
      }
      await connection.commit()
      return result
    }, options)
  }
}
