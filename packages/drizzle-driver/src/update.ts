/**
 * The one way this driver starts an s3db update.
 *
 * @module
 */
import type { S3db, Tx, UpdateOptions } from '@s3db/core'
import { isS3dbError } from '@s3db/core'

/**
 * `S3db.update`, but when the callback's last run threw and the update then
 * failed with a different, non-s3db error, the callback's error is the one
 * reported: @s3db/core can mask it while discarding the failed run (a table
 * created and written in that run makes it fail with "no such table").
 * Nothing was published either way.
 */
export async function updateKeepingError<T>(
  client: S3db,
  fn: (tx: Tx) => Promise<T>,
  options: UpdateOptions,
): Promise<T> {
  let thrown: { error: unknown } | undefined
  try {
    return await client.update(async (tx) => {
      thrown = undefined
      try {
        return await fn(tx)
      } catch (error) {
        thrown = { error }
        throw error
      }
    }, options)
  } catch (err) {
    if (thrown && err !== thrown.error && !isS3dbError(err)) throw thrown.error
    throw err
  }
}
