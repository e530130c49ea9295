/**
 * `drizzle-kit push` for s3db: diff the live schema against the drizzle schema
 * with drizzle-kit's programmatic API and apply the difference, all inside ONE
 * update (introspection included), so concurrent pushes cannot interleave.
 *
 * @module
 */
import { InvalidArgumentError } from '@s3db/core'
import { type S3dbDatabase, sessionOf } from './driver.js'
import { assertOutsideTransaction } from './statement-runner.js'

/** Options of {@link pushSchema}. */
export interface PushSchemaOptions {
  /**
   * Apply even when drizzle-kit warns that data would be lost (dropped tables
   * or columns, ...). Default false: such a push fails and changes nothing.
   */
  allowDataLoss?: boolean | undefined
  /** Compute and return the statements without applying them. */
  dryRun?: boolean | undefined
  /** Cancels the push while it waits, runs or commits. */
  signal?: AbortSignal | undefined
}

/** What {@link pushSchema} found and did. */
export interface PushSchemaResult {
  /** The SQL statements that bring the database to the schema (empty: already in sync). */
  statements: string[]
  /** drizzle-kit's warnings (data loss, ...). */
  warnings: string[]
  hasDataLoss: boolean
  /** Whether the statements were committed. */
  applied: boolean
}

type KitApi = typeof import('drizzle-kit/api')

async function loadKit(): Promise<KitApi> {
  try {
    // Ignored by bundlers: drizzle-kit is optional and only needed to push.
    return await import(/* webpackIgnore: true */ /* turbopackIgnore: true */ 'drizzle-kit/api')
  } catch (err) {
    throw new InvalidArgumentError(
      'pushSchema needs drizzle-kit: install it (npm i -D drizzle-kit) or use migrate() with a migrations folder',
      { cause: err },
    )
  }
}

/**
 * Makes the database's schema match `schema` (the module exporting your
 * drizzle tables, e.g. `import * as schema from './schema'`), like
 * `drizzle-kit push`. Runs in one update with foreign keys off (table
 * rebuilds), checked with `PRAGMA foreign_key_check` before commit. Needs
 * drizzle-kit installed. Prefer {@link migrate} with generated, reviewed
 * migrations in production.
 */
export async function pushSchema(
  // biome-ignore lint/suspicious/noExplicitAny: any schema
  db: S3dbDatabase<any>,
  schema: Record<string, unknown>,
  options: PushSchemaOptions = {},
): Promise<PushSchemaResult> {
  const session = sessionOf(db)
  assertOutsideTransaction(session.client, 'pushSchema()')
  const kit = await loadKit()
  return session.inUpdate(
    async (scope) => {
      const tx = session.transactionOn(scope)
      // drizzle-kit types its argument as a libsql database; it only calls
      // all()/run() with raw SQL, which every async SQLite drizzle database has.
      const plan = await kit.pushSQLiteSchema(schema, tx as never)
      const result = {
        statements: plan.statementsToExecute,
        warnings: plan.warnings,
        hasDataLoss: plan.hasDataLoss,
        applied: false,
      }
      if (options.dryRun || plan.statementsToExecute.length === 0) return result
      if (plan.hasDataLoss && !options.allowDataLoss) {
        throw new InvalidArgumentError(
          `pushSchema would lose data (${plan.warnings.join('; ')}); nothing was changed. Pass { allowDataLoss: true } to apply anyway, or write a migration`,
        )
      }
      // Not plan.apply(): it runs DDL through all(), which better-sqlite3 rejects.
      for (const statement of plan.statementsToExecute) scope.tx.exec(statement)
      return { ...result, applied: true }
    },
    options.signal,
    false,
  )
}
