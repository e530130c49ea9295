/**
 * @s3db/drizzle: a Drizzle ORM driver for s3db. `drizzle(s3db, { schema })`
 * gives drizzle's SQLite API (async) over a database that lives in S3 or a
 * filesystem store; `db.transaction()` is a serializable transaction that
 * re-runs on conflict, `db.batch()` one atomic commit, and `migrate()` applies
 * drizzle-kit migration folders exactly once under concurrent deploys.
 *
 * @module
 */

export { bigintInteger } from './bigint-integer.js'
export { drizzle, S3dbDatabase, type S3dbDrizzleConfig } from './driver.js'
export {
  type AppliedMigration,
  type MigrateResult,
  migrate,
  type S3dbMigrationConfig,
} from './migrator.js'
export { type PushSchemaOptions, type PushSchemaResult, pushSchema } from './push.js'
export {
  S3dbPreparedQuery,
  S3dbSession,
  S3dbTransaction,
  type S3dbTransactionConfig,
} from './session.js'
