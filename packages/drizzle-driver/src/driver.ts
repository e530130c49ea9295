/**
 * `drizzle(s3db, config)`: a drizzle-orm SQLite database (async mode) over an
 * s3db database.
 *
 * @module
 */
import { InvalidArgumentError, type RunResult, type S3db } from '@s3db/core'
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import { entityKind } from 'drizzle-orm/entity'
import { DefaultLogger, type Logger } from 'drizzle-orm/logger'
import {
  createTableRelationsHelpers,
  type ExtractTablesWithRelations,
  extractTablesRelationalConfig,
  type RelationalSchemaConfig,
  type TablesRelationalConfig,
} from 'drizzle-orm/relations'
import { BaseSQLiteDatabase, SQLiteAsyncDialect } from 'drizzle-orm/sqlite-core'
import type { DrizzleConfig } from 'drizzle-orm/utils'
import { S3dbSession, type S3dbTransaction, type S3dbTransactionConfig } from './session.js'

const sessions = new WeakMap<object, S3dbSession<Record<string, unknown>, TablesRelationalConfig>>()

/** @internal The session of a database made by {@link drizzle} (for migrate and pushSchema). */
export function sessionOf(
  // biome-ignore lint/suspicious/noExplicitAny: any schema
  db: S3dbDatabase<any>,
): S3dbSession<Record<string, unknown>, TablesRelationalConfig> {
  const session = sessions.get(db)
  if (!session) {
    throw new InvalidArgumentError('expected a database made by drizzle() from @s3db/drizzle')
  }
  return session
}

/** Options of {@link drizzle}: drizzle's usual `schema`, `logger` and `casing`. */
export type S3dbDrizzleConfig<TSchema extends Record<string, unknown> = Record<string, never>> =
  Pick<DrizzleConfig<TSchema>, 'schema' | 'logger' | 'casing'>

/**
 * A drizzle database over s3db. Queries outside a transaction are reads
 * (views) or single-statement writes (updates); `transaction()` is one
 * serializable, retrying `S3db.update`; `batch()` is one update.
 */
export class S3dbDatabase<
  TSchema extends Record<string, unknown> = Record<string, never>,
> extends BaseSQLiteDatabase<'async', RunResult, TSchema> {
  static override readonly [entityKind]: string = 'S3dbDatabase'

  /** The s3db database this drizzle instance runs on. */
  declare readonly $client: S3db
  readonly #session: S3dbSession<TSchema, ExtractTablesWithRelations<TSchema>>

  /** @internal Use {@link drizzle}. */
  constructor(
    dialect: SQLiteAsyncDialect,
    session: S3dbSession<TSchema, ExtractTablesWithRelations<TSchema>>,
    schema: RelationalSchemaConfig<ExtractTablesWithRelations<TSchema>> | undefined,
  ) {
    super('async', dialect, session, schema)
    this.#session = session
    sessions.set(this, session)
    Object.defineProperty(this, '$client', { value: session.client, enumerable: false })
  }

  /**
   * Runs `fn` as a serializable transaction (one `S3db.update`) and resolves
   * with its value once the commit is durable in the store.
   *
   * **`fn` may run more than once**: when another writer commits first, it
   * re-runs on the newer state. Keep side effects (HTTP calls, emails, counters
   * in memory) out of it. `tx` is valid only until `fn` settles; use `tx`, not
   * the outer `db`, inside `fn`. `tx.rollback()` publishes nothing and makes the
   * call reject with drizzle's TransactionRollbackError (without re-running);
   * any other error is rethrown once s3db confirmed it was not caused by a
   * stale replica. Nested `tx.transaction()` calls are savepoints.
   */
  override transaction<T>(
    fn: (tx: S3dbTransaction<TSchema, ExtractTablesWithRelations<TSchema>>) => Promise<T>,
    config?: S3dbTransactionConfig,
  ): Promise<T> {
    return this.#session.transaction(fn, config)
  }

  /**
   * Runs the queries in order as one update: all commit together (one
   * changeset, one compare-and-swap) or none does. Like a transaction, the
   * batch re-runs on conflict.
   */
  batch<U extends BatchItem<'sqlite'>, T extends Readonly<[U, ...U[]]>>(
    batch: T,
  ): Promise<BatchResponse<T>> {
    return this.#session.batch(batch) as Promise<BatchResponse<T>>
  }
}

/**
 * Creates a drizzle database over an open s3db database.
 *
 * @example
 * ```ts
 * const s3db = await S3db.open(store, 'app/db/')
 * const db = drizzle(s3db, { schema })
 * await db.transaction(async (tx) => {
 *   // may run more than once: no side effects here
 *   await tx.update(accounts).set({ balance: sql`balance - 10` }).where(eq(accounts.id, 1))
 * })
 * ```
 */
export function drizzle<TSchema extends Record<string, unknown> = Record<string, never>>(
  client: S3db,
  config: S3dbDrizzleConfig<TSchema> = {},
): S3dbDatabase<TSchema> & { $client: S3db } {
  const dialect = new SQLiteAsyncDialect({ casing: config.casing })
  let logger: Logger | undefined
  if (config.logger === true) logger = new DefaultLogger()
  else if (config.logger !== false) logger = config.logger
  let schema: RelationalSchemaConfig<TablesRelationalConfig> | undefined
  if (config.schema) {
    const tables = extractTablesRelationalConfig(config.schema, createTableRelationsHelpers)
    schema = {
      fullSchema: config.schema,
      schema: tables.tables,
      tableNamesMap: tables.tableNamesMap,
    }
  }
  type Schema = ExtractTablesWithRelations<TSchema>
  const typedSchema = schema as RelationalSchemaConfig<Schema> | undefined
  const session = new S3dbSession<TSchema, Schema>(client, dialect, typedSchema, { logger })
  return new S3dbDatabase<TSchema>(dialect, session, typedSchema)
}
