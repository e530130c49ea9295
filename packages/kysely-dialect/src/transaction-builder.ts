/**
 * `S3dbKysely#transaction()`: Kysely's TransactionBuilder whose `execute(fn)`
 * runs `fn` as an s3db update (re-run on conflict, committed once) or, with
 * `setAccessMode('read only')`, as a view.
 *
 * @module
 */
import type { S3db } from '@s3db/core'
import {
  type AccessMode,
  type IsolationLevel,
  type KyselyProps,
  type Transaction,
  TransactionBuilder,
} from 'kysely'
import { runTransaction } from './run-transaction.js'
import { transactionMode } from './transaction-settings.js'

interface BuilderProps extends KyselyProps {
  readonly accessMode?: AccessMode
  readonly isolationLevel?: IsolationLevel
}

/**
 * Configures and runs a serializable s3db transaction. `execute(fn)` may call
 * `fn` more than once (when another writer commits first, `fn` runs again on
 * the newer state): keep side effects such as HTTP calls or emails out of it.
 */
export class S3dbTransactionBuilder<DB> extends TransactionBuilder<DB> {
  readonly #props: BuilderProps
  readonly #s3db: S3db

  /** @internal Created by {@link S3dbKysely.transaction}. */
  constructor(props: BuilderProps, s3db: S3db) {
    super(props)
    this.#props = props
    this.#s3db = s3db
  }

  /** 'read only' runs the transaction as a view (a consistent snapshot; writes fail with ReadOnlyError). */
  override setAccessMode(accessMode: AccessMode): S3dbTransactionBuilder<DB> {
    return new S3dbTransactionBuilder({ ...this.#props, accessMode }, this.#s3db)
  }

  /**
   * Every level is accepted and runs serializable (what s3db provides with the
   * default `isolation` of `S3db.open`), which gives all the guarantees of the
   * weaker levels.
   */
  override setIsolationLevel(isolationLevel: IsolationLevel): S3dbTransactionBuilder<DB> {
    return new S3dbTransactionBuilder({ ...this.#props, isolationLevel }, this.#s3db)
  }

  /**
   * Runs `fn` in a transaction and resolves with its value once the commit is
   * durable. If `fn` throws, nothing is committed and the error is rethrown.
   * `fn` may run more than once; only its last run is committed.
   */
  override async execute<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    const { accessMode, isolationLevel, ...props } = this.#props
    const mode = transactionMode({ accessMode, isolationLevel })
    return runTransaction(props, this.#s3db, mode, fn)
  }
}
