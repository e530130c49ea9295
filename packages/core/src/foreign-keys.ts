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
import { ForeignKeys } from './changeset/fkcheck.js'
import { type ChangeCapture, decodeChangeset } from './changeset/index.js'
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
 * Throws the error SQLite's COMMIT would raise (SQLITE_CONSTRAINT_FOREIGNKEY)
 * when the transaction's changes so far (its captured changeset) leave a
 * deferred foreign key violated. Uses the same check as applying a changeset
 * (changeset/fkcheck.ts): only the rows written are looked at, with SQLite's
 * own comparison rules, where `PRAGMA foreign_key_check` would scan every
 * child table on every commit.
 */
export function assertDeferredForeignKeys(db: Database.Database, capture: ChangeCapture): void {
  const bytes = capture.changeset()
  if (!bytes) return
  const applied = decodeChangeset(bytes).tables.flatMap((t) =>
    t.changes.map((change) => ({ table: t.name, change })),
  )
  const count = new ForeignKeys(db).violations(applied)
  if (count === 0) return
  throw new Database.SqliteError(
    `FOREIGN KEY constraint failed: ${count} deferred foreign key violation(s) at the end of the transaction; nothing was published`,
    'SQLITE_CONSTRAINT_FOREIGNKEY',
  )
}

/**
 * After a write run with foreign keys off (table-rebuilding migrations, whose
 * DDL the changeset does not describe): throws InvalidArgument when `PRAGMA
 * foreign_key_check` finds a violation, naming the first.
 */
export function assertForeignKeysAfterEnforcementOff(db: Database.Database): void {
  const violations = db.pragma('foreign_key_check') as {
    table: string
    rowid: number | null
    parent: string
  }[]
  if (violations.length === 0) return
  const first = violations[0]!
  throw new InvalidArgumentError(
    `foreign key check failed after the write ran with foreign keys off: ${violations.length} violation(s), first in table "${first.table}" (rowid ${first.rowid}) referencing "${first.parent}"; nothing was published`,
  )
}
