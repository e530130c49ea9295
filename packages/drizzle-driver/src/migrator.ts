/**
 * Applies drizzle-kit migration folders (`drizzle-kit generate` output) to an
 * s3db database. The whole check-and-apply runs inside ONE update, so when
 * several processes deploy at once each migration is applied exactly once:
 * the losers of the commit race re-run the check on the new state and find
 * nothing left to do.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MigrationFailedError } from '@s3db/core'
import { type MigrationConfig, readMigrationFiles } from 'drizzle-orm/migrator'
import { type S3dbDatabase, sessionOf } from './driver.js'
import { assertOutsideTransaction } from './statement-runner.js'

/** Options of {@link migrate}. */
export interface S3dbMigrationConfig extends Pick<MigrationConfig, 'migrationsFolder'> {
  /** Table recording applied migrations (default `__drizzle_migrations`, as drizzle-kit). */
  migrationsTable?: string | undefined
  /** Cancels the migration while it waits, runs or commits. */
  signal?: AbortSignal | undefined
}

/** A migration {@link migrate} applied. */
export interface AppliedMigration {
  /** The journal tag, e.g. `0001_brave_hulk` (the file name without `.sql`). */
  tag: string
  /** SHA-256 of the migration file, as drizzle records it. */
  hash: string
  /** The journal's `when`: drizzle orders and skips migrations by it. */
  createdAt: number
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Migrations this call applied (empty when the database was up to date). */
  applied: AppliedMigration[]
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

/**
 * Applies the pending migrations of a drizzle-kit migrations folder, in one
 * serializable update with foreign key enforcement off (so drizzle-kit's table
 * rebuilds work); `PRAGMA foreign_key_check` must pass before the commit.
 * Compatible with drizzle's own migrators: same table, same rule (apply every
 * migration newer than the last one recorded).
 *
 * Any failing statement fails the whole call with MigrationFailedError and
 * nothing is published.
 */
export async function migrate(
  // biome-ignore lint/suspicious/noExplicitAny: any schema
  db: S3dbDatabase<any>,
  config: S3dbMigrationConfig,
): Promise<MigrateResult> {
  const migrations = readMigrationFiles(config)
  const tags = readTags(config.migrationsFolder, migrations.length)
  const table = quote(config.migrationsTable ?? '__drizzle_migrations')
  const s3db = sessionOf(db).client
  assertOutsideTransaction(s3db, 'migrate()')
  return s3db.update(
    async (tx) => {
      // Same table as drizzle's migrators, so databases move between drivers.
      tx.exec(
        `CREATE TABLE IF NOT EXISTS ${table} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`,
      )
      const last = tx.get<{ created_at: unknown }>(
        `SELECT created_at FROM ${table} ORDER BY created_at DESC LIMIT 1`,
      )
      const applied: AppliedMigration[] = []
      for (const [i, migration] of migrations.entries()) {
        if (last && Number(last.created_at) >= migration.folderMillis) continue
        const tag = tags[i] ?? migration.hash
        try {
          for (const statement of migration.sql) if (statement.trim()) tx.exec(statement)
          // An explicit id: drizzle leaves this non-rowid primary key NULL, and
          // rows with a NULL key cannot be replicated as a change.
          tx.run(
            `INSERT INTO ${table} (id, hash, created_at) VALUES ((SELECT coalesce(max(id), 0) + 1 FROM ${table}), ?, ?)`,
            [migration.hash, migration.folderMillis],
          )
        } catch (err) {
          throw new MigrationFailedError(i + 1, tag, { cause: err })
        }
        applied.push({ tag, hash: migration.hash, createdAt: migration.folderMillis })
      }
      return { applied }
    },
    { foreignKeys: false, signal: config.signal },
  )
}

/** Tags of the journal's entries, in readMigrationFiles' order (names for errors and results). */
function readTags(folder: string, count: number): string[] {
  try {
    const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as {
      entries: { tag: string }[]
    }
    return journal.entries.map((e) => e.tag).slice(0, count)
  } catch {
    return []
  }
}
