/**
 * Foreign keys that SQLite would only check at COMMIT: deferred constraints
 * (`DEFERRABLE INITIALLY DEFERRED`, `PRAGMA defer_foreign_keys`) and writes run
 * with enforcement off (table-rebuilding migrations). s3db publishes before the
 * local COMMIT, so it checks them itself first: a transaction that COMMIT would
 * refuse must never reach the store.
 *
 * @module
 */
import Database from 'better-sqlite3'
import { InvalidArgumentError } from './errors.js'

const DEFERRED = /\bDEFERRABLE\s+INITIALLY\s+DEFERRED\b/i

/** Whether any table of `db` declares a deferred foreign key (cached per schema version). */
export function hasDeferredForeignKeys(db: Database.Database): boolean {
  const version = db.pragma('schema_version', { simple: true }) as number
  const cached = cache.get(db)
  if (cached?.version === version) return cached.deferred
  const rows = db
    .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND sql IS NOT NULL")
    .all() as { sql: string }[]
  const deferred = rows.some((r) => DEFERRED.test(r.sql))
  cache.set(db, { version, deferred })
  return deferred
}

const cache = new WeakMap<Database.Database, { version: number; deferred: boolean }>()

/**
 * Throws when `PRAGMA foreign_key_check` finds a violation, naming the first.
 * 'deferred': the error SQLite's COMMIT would raise (SQLITE_CONSTRAINT_FOREIGNKEY).
 * 'enforcement-off' (a write run with foreign keys off, as table-rebuilding
 * migrations are): InvalidArgument, since no statement of it failed.
 */
export function assertForeignKeys(
  db: Database.Database,
  kind: 'deferred' | 'enforcement-off',
): void {
  const violations = db.pragma('foreign_key_check') as {
    table: string
    rowid: number | null
    parent: string
  }[]
  if (violations.length === 0) return
  const first = violations[0]!
  const detail = `${violations.length} violation(s), first in table "${first.table}" (rowid ${first.rowid}) referencing "${first.parent}"; nothing was published`
  if (kind === 'enforcement-off') {
    throw new InvalidArgumentError(
      `foreign key check failed after the write ran with foreign keys off: ${detail}`,
    )
  }
  throw new Database.SqliteError(
    `FOREIGN KEY constraint failed: foreign key check failed before commit, ${detail}`,
    'SQLITE_CONSTRAINT_FOREIGNKEY',
  )
}
