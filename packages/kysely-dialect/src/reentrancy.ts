/**
 * Detects the outer Kysely instance being used inside one of its own
 * transaction callbacks, which would wait for the writer that the callback
 * itself holds.
 *
 * @module
 */
import { ReentrantTransactionError, type S3db } from '@s3db/core'
import { insideTransaction } from '@s3db/core/internal'

/** Throws ReentrantTransactionError when called inside a transaction callback on `s3db`. */
export function assertOutsideTransaction(s3db: S3db): void {
  const inside = insideTransaction.getStore()
  if (inside?.db === s3db) {
    throw new ReentrantTransactionError(
      `a query ran on the outer Kysely instance inside a transaction on the same database (a ${inside.mode === 'view' ? 'read-only' : 'read-write'} callback); it would wait for that transaction forever: run it on the \`trx\` argument of the callback instead`,
    )
  }
}
