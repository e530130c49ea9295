/**
 * @s3db/kysely: Kysely over s3db, a concurrency-safe SQLite database that
 * lives in S3. `new S3dbKysely<DB>({ s3db })` gives a Kysely instance whose
 * `transaction().execute(fn)` is a serializable s3db update: `fn` may run more
 * than once (re-run on the newer state when another writer commits first) and
 * is committed exactly once. See the README.
 *
 * @module
 */

export type { S3dbConnectionBuilder } from './connection-builder.js'
export { S3dbDialect, type S3dbDialectConfig } from './dialect.js'
export { KyselyMigrationError } from './errors.js'
export { S3dbKysely, type S3dbKyselyConfig } from './kysely.js'
export { migrateToLatest, type S3dbMigrateOptions } from './migrate.js'
export { SafeIntegersPlugin, type SafeIntegersPluginOptions } from './safe-integers-plugin.js'
export type { S3dbTransactionBuilder } from './transaction-builder.js'
