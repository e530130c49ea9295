/**
 * Kysely migrations inside ONE s3db update: Kysely's Migrator reads which
 * migrations ran and applies the pending ones in the same serializable
 * transaction, so concurrent deploys apply each migration exactly once (the
 * loser of the commit race re-runs the whole check-and-apply and finds nothing
 * left to do).
 *
 * @module
 */
import {
  type MigrationProvider,
  type MigrationResult,
  Migrator,
  type MigratorProps,
} from 'kysely/migration'
import { KyselyMigrationError } from './errors.js'
import { kyselyPropsOf, type S3dbKysely } from './kysely.js'
import { runTransaction } from './run-transaction.js'

/** Options of {@link migrateToLatest}: Kysely's Migrator options, plus s3db's. */
export interface S3dbMigrateOptions
  extends Omit<MigratorProps, 'db' | 'provider' | 'disableTransactions'> {
  /**
   * `false`: run with foreign key enforcement off (for migrations that rebuild
   * tables; SQLite cannot switch it inside a transaction) and fail, applying
   * nothing, if `PRAGMA foreign_key_check` finds violations before commit.
   */
  foreignKeys?: false | undefined
  /** Cancels the migration run (nothing is applied). */
  signal?: AbortSignal | undefined
}

/**
 * Applies every pending migration of `provider` (any Kysely MigrationProvider,
 * e.g. FileMigrationProvider) in one s3db update, and returns what this call
 * applied (empty when another process already did).
 *
 * Migrations' `up` functions may run more than once (when another writer
 * commits first, the whole run is repeated on the newer state); only the last
 * run is committed. Throws {@link KyselyMigrationError} naming the failing
 * migration instead of returning Kysely's `{ error }` result set; nothing of
 * the run is applied then.
 */
export async function migrateToLatest(
  // biome-ignore lint/suspicious/noExplicitAny: migrations work on any database type
  db: S3dbKysely<any>,
  provider: MigrationProvider,
  options: S3dbMigrateOptions = {},
): Promise<MigrationResult[]> {
  const { foreignKeys, signal, ...migratorOptions } = options
  return runTransaction(
    kyselyPropsOf(db),
    db.s3db,
    'update',
    async (trx) => {
      const migrator = new Migrator({ ...migratorOptions, db: trx, provider })
      const { error, results = [] } = await migrator.migrateToLatest()
      if (error !== undefined) {
        const failed = results.find((r) => r.status === 'Error')
        throw new KyselyMigrationError(failed?.migrationName, results, error)
      }
      return results
    },
    { foreignKeys, signal },
  )
}
