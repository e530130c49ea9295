/**
 * Runs Kysely's compiled queries on an s3db transaction handle, producing the
 * same results as Kysely's own SQLite driver (rows for statements that return
 * rows; `numAffectedRows` and `insertId` for the others).
 *
 * @module
 */
import type { Statement, Tx } from '@s3db/core'
import type { CompiledQuery, QueryResult } from 'kysely'
import { safeIntegersChoiceOf } from './safe-integers-plugin.js'

/** Executes `query` on `tx` like Kysely's SqliteConnection does on a better-sqlite3 database. */
export function executeOn<R>(tx: Tx, query: CompiledQuery): QueryResult<R> {
  return executePrepared(tx.prepare<R>(query.sql), query)
}

/**
 * Executes an already prepared statement (`query` supplies the parameters and,
 * through SafeIntegersPlugin, how integers are read).
 */
export function executePrepared<R>(stmt: Statement<R>, query: CompiledQuery): QueryResult<R> {
  const params = query.parameters as unknown[]
  withIntegerChoice(stmt, query)
  if (stmt.reader) return { rows: stmt.all(params) }
  const { changes, lastInsertRowid } = stmt.run(params)
  return {
    insertId: lastInsertRowid != null ? BigInt(lastInsertRowid) : undefined,
    numAffectedRows: changes != null ? BigInt(changes) : undefined,
    rows: [],
  }
}

/** Yields the rows of `query` on `tx` in chunks of `chunkSize`, reading them lazily. */
export function* iterateOn<R>(tx: Tx, query: CompiledQuery, chunkSize: number): Generator<R[]> {
  const rows = withIntegerChoice(tx.prepare<R>(query.sql), query).iterate(
    query.parameters as unknown[],
  )
  let chunk: R[] = []
  try {
    for (const row of rows) {
      chunk.push(row)
      if (chunk.length >= chunkSize) {
        yield chunk
        chunk = []
      }
    }
    if (chunk.length > 0) yield chunk
  } finally {
    // Ends the statement early when the consumer stops (frees the connection).
    rows.return?.()
  }
}

/** Applies a SafeIntegersPlugin's choice for `query` to `stmt` (none: the database's default). */
function withIntegerChoice<R>(stmt: Statement<R>, query: CompiledQuery): Statement<R> {
  const choice = safeIntegersChoiceOf(query)
  return choice === undefined ? stmt : stmt.safeIntegers(choice)
}
