/**
 * Exact lookups of a row by PRIMARY KEY, the query sessionGenerateChangeset() and
 * sessionSeekToRow() run: `SELECT cols FROM t WHERE (pk...) IS (?...)`.
 *
 * @module
 */

import type { Database, Statement } from 'better-sqlite3'
import type { TableLayout } from './schema.js'
import { quoteIdent, rowValue } from './sql.js'
import type { Value } from './types.js'
import { isRawText, maybeLossy, textFromBytes, toParam } from './values.js'

/** Reads current rows of one table by key. Statements are prepared once and reused. */
export class RowReader {
  private readonly db: Database
  private readonly layout: TableLayout
  private readonly byMask = new Map<string, Statement>()
  private readonly exactByCols = new Map<string, Statement>()
  private readonly params: unknown[]
  private readonly allColumns: string
  private main: Statement | undefined

  constructor(db: Database, layout: TableLayout) {
    this.db = db
    this.layout = layout
    this.params = new Array(layout.pkColumns.length)
    this.allColumns = layout.columns.map(quoteIdent).join(', ')
  }

  /** Select statement whose key parameters are wrapped in CAST where mask[i] is '1'. */
  private statement(mask: string, cols: string): Statement {
    const key = `${mask}|${cols}`
    const cache = cols === this.allColumns ? this.byMask : this.exactByCols
    let st = cache.get(key)
    if (st === undefined) {
      const L = this.layout
      const pk = L.pkColumns.map((i) => quoteIdent(L.columns[i]!))
      const params = L.pkColumns.map((_, i) => (mask[i] === '1' ? 'CAST(? AS TEXT)' : '?'))
      st = this.db
        .prepare(
          `SELECT ${cols} FROM main.${quoteIdent(L.name)} WHERE ${rowValue(pk)} IS ${rowValue(params)}`,
        )
        .raw(true)
        .safeIntegers(true)
      cache.set(key, st)
    }
    return st
  }

  /** Current values of the row whose PRIMARY KEY is `pk` (column order), or undefined. */
  read(pk: readonly Value[]): Value[] | undefined {
    let raw = false
    for (let i = 0; i < pk.length; i++) {
      const v = pk[i]!
      this.params[i] = toParam(v)
      if (isRawText(v)) raw = true
    }
    const mask = raw ? pk.map((v) => (isRawText(v) ? '1' : '0')).join('') : ''
    let st = this.main
    if (raw) st = this.statement(mask, this.allColumns)
    else if (st === undefined) {
      st = this.statement('', this.allColumns)
      this.main = st
    }
    const row = st.get(...this.params) as Value[] | undefined
    if (row === undefined) return undefined
    let lossy: number[] | undefined
    for (let i = 0; i < row.length; i++) {
      if (!maybeLossy(row[i])) continue
      lossy ??= []
      lossy.push(i)
    }
    if (lossy !== undefined) {
      const cols = lossy
        .map((i) => `CAST(${quoteIdent(this.layout.columns[i]!)} AS BLOB)`)
        .join(', ')
      const bytes = this.statement(mask, cols).get(...this.params) as Buffer[]
      lossy.forEach((col, j) => {
        row[col] = textFromBytes(bytes[j]!)
      })
    }
    return row
  }
}
