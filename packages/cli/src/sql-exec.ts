/**
 * Running user SQL in a transaction: decide read vs write with SQLite's own
 * verdict (better-sqlite3's `statement.readonly`, prepared inside a view) and
 * run the statements (see engine/process.ts for where).
 *
 * @module
 */
import type { Tx } from '@s3db/core'

export interface StatementResult {
  sql: string
  /** Present when the statement returned rows. */
  columns?: string[]
  rows?: unknown[][]
  changes?: number
  lastInsertRowid?: number | bigint
}

export function runStatement(tx: Tx, sql: string): StatementResult {
  // Integers as bigint: printed exactly, also beyond 2^53 (the printers take bigint).
  const stmt = tx.prepare(sql).safeIntegers()
  if (stmt.reader) {
    return { sql, columns: stmt.columns().map((c) => c.name), rows: stmt.values() }
  }
  const r = stmt.run()
  return { sql, changes: r.changes, lastInsertRowid: r.lastInsertRowid }
}

/** What {@link readIfReadOnly} found: the results, or the first statement that may write. */
export type ReadOutcome =
  | { kind: 'read'; results: StatementResult[] }
  | { kind: 'write'; first: string }

/**
 * Inside a view: runs the statements when all of them are read-only, deciding
 * with SQLite's own verdict (one store round trip for the view, not two). A
 * statement that cannot be prepared after a write (it may need a table the
 * write creates) counts as part of the write; before any write, its error is real.
 */
export function readIfReadOnly(tx: Tx, statements: readonly string[]): ReadOutcome {
  for (const sql of statements) {
    if (!tx.prepare(sql).readonly) return { kind: 'write', first: sql }
  }
  return { kind: 'read', results: statements.map((s) => runStatement(tx, s)) }
}

/** Rows as objects keyed by column name (for JSON). */
export function rowObjects(result: StatementResult): Record<string, unknown>[] {
  const columns = result.columns ?? []
  return (result.rows ?? []).map((row) =>
    Object.fromEntries(columns.map((c, i) => [c, row[i]] as const)),
  )
}
