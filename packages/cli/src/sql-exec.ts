/**
 * Running user SQL through the engine: decide read vs write with SQLite's own
 * verdict (better-sqlite3's `statement.readonly`, prepared inside a view), run
 * reads as one view and writes as one update.
 *
 * @module
 */
import type { S3db, Tx } from '@s3db/core'

export interface StatementResult {
  sql: string
  /** Present when the statement returned rows. */
  columns?: string[]
  rows?: unknown[][]
  changes?: number
  lastInsertRowid?: number | bigint
}

export function runStatement(tx: Tx, sql: string): StatementResult {
  const stmt = tx.prepare(sql)
  if (stmt.reader) {
    return { sql, columns: stmt.columns().map((c) => c.name), rows: stmt.values() }
  }
  const r = stmt.run()
  return { sql, changes: r.changes, lastInsertRowid: r.lastInsertRowid }
}

/**
 * The first statement that may write, or undefined when all are read-only.
 * A statement that cannot be prepared after a write (it may need a table the
 * write creates) counts as part of the write; before any write, its error is real.
 */
export async function firstWrite(
  db: S3db,
  statements: readonly string[],
  signal?: AbortSignal,
): Promise<string | undefined> {
  return db.view(
    (tx) => {
      for (const sql of statements) {
        if (!tx.prepare(sql).readonly) return sql
      }
      return undefined
    },
    { signal },
  )
}

/** Runs statements as one view (all read-only) or one update. */
export async function execute(
  db: S3db,
  statements: readonly string[],
  write: boolean,
  signal?: AbortSignal,
): Promise<{ results: StatementResult[]; seq: number | undefined }> {
  if (!write) {
    const results = await db.view((tx) => statements.map((s) => runStatement(tx, s)), { signal })
    return { results, seq: undefined }
  }
  // May run more than once (another writer won the commit race): results are the last run's.
  const results = await db.update((tx) => statements.map((s) => runStatement(tx, s)), { signal })
  return { results, seq: db.stats().seq }
}

/** Rows as objects keyed by column name (for JSON). */
export function rowObjects(result: StatementResult): Record<string, unknown>[] {
  const columns = result.columns ?? []
  return (result.rows ?? []).map((row) =>
    Object.fromEntries(columns.map((c, i) => [c, row[i]] as const)),
  )
}
