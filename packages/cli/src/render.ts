/**
 * How query results are shown: table (default), JSON or CSV. Shared by `sql`
 * and `shell`.
 *
 * @module
 */
import { csv, table, toJson } from './output.js'
import { rowObjects, type StatementResult } from './sql-exec.js'

export type Mode = 'table' | 'json' | 'csv'

/** One statement's result as text in table mode. */
export function renderTable(result: StatementResult): string {
  if (result.columns) {
    const n = result.rows?.length ?? 0
    return `${table(result.columns, result.rows ?? [])}(${n} row${n === 1 ? '' : 's'})\n`
  }
  const n = result.changes ?? 0
  // Schema and maintenance statements change no rows: "0 rows changed" would mislead.
  if (n === 0 && /^\s*(create|drop|alter|pragma|vacuum|analyze|reindex)\b/i.test(result.sql)) {
    return 'ok\n'
  }
  return `${n} row${n === 1 ? '' : 's'} changed\n`
}

/**
 * Results in JSON or CSV mode: the rows of the last statement that returned
 * rows; in JSON, without any such statement, the write's changes and seq.
 */
export function renderData(
  mode: 'json' | 'csv',
  results: readonly StatementResult[],
  seq: number | undefined,
): string {
  const last = [...results].reverse().find((r) => r.columns)
  if (mode === 'csv') return last ? csv(last.columns ?? [], last.rows ?? []) : ''
  if (last) return `${toJson(rowObjects(last))}\n`
  const changes = results.reduce((n, r) => n + (r.changes ?? 0), 0)
  const lastInsertRowid = results.at(-1)?.lastInsertRowid
  return `${toJson({ changes, lastInsertRowid, seq })}\n`
}
