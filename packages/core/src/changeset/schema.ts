/**
 * Reads the column layout of the tables in `main` the way the session extension sees
 * them: generated columns are left out, PRIMARY KEY ordinals come from table_xinfo.
 *
 * @module
 */

import type { Database } from 'better-sqlite3'

/** One table's layout as the changeset format describes it. */
export interface TableLayout {
  /** Name as declared. */
  readonly name: string
  /** Non-generated columns in declaration order. */
  readonly columns: readonly string[]
  /** PRIMARY KEY ordinal per column (0 = not in the key); all zero when there is none. */
  readonly pk: readonly number[]
  /** Indexes into `columns` of the PRIMARY KEY columns, in column order. */
  readonly pkColumns: readonly number[]
  /** Default value expressions (SQL text or null) per column, for ALTER TABLE ADD COLUMN. */
  readonly defaults: readonly (string | null)[]
  readonly withoutRowid: boolean
}

interface XInfoRow {
  name: string
  dflt_value: string | null
  pk: number | bigint
  hidden: number | bigint
}

/** Layout of `main.<name>`, or undefined when no such (ordinary) table exists. */
export function readTableLayout(db: Database, name: string): TableLayout | undefined {
  const list = db
    .prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?")
    .safeIntegers(false)
    .get(name) as { name: string; type: string; wr: number } | undefined
  if (list === undefined || (list.type !== 'table' && list.type !== 'shadow')) return undefined
  return layoutOf(db, list.name, list.wr === 1)
}

/**
 * Layouts of every ordinary (and shadow) table in `main`, excluding SQLite's own
 * `sqlite_` tables (no triggers can be put on them). Virtual tables are skipped:
 * their writes are not row changes of a table (the session extension ignores them too).
 */
export function readAllLayouts(db: Database): TableLayout[] {
  const tables = db
    .prepare(
      "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'shadow') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .safeIntegers(false)
    .all() as { name: string; type: string; wr: number }[]
  return tables.map((t) => layoutOf(db, t.name, t.wr === 1))
}

function layoutOf(db: Database, name: string, withoutRowid: boolean): TableLayout {
  const rows = db
    .prepare("SELECT name, dflt_value, pk, hidden FROM pragma_table_xinfo(?, 'main') ORDER BY cid")
    .safeIntegers(false)
    .all(name) as XInfoRow[]
  const columns: string[] = []
  const pk: number[] = []
  const pkColumns: number[] = []
  const defaults: (string | null)[] = []
  for (const r of rows) {
    if (Number(r.hidden) !== 0) continue
    const ordinal = Number(r.pk)
    if (ordinal > 0) pkColumns.push(columns.length)
    columns.push(r.name)
    pk.push(ordinal)
    defaults.push(r.dflt_value)
  }
  return { name, columns, pk, pkColumns, defaults, withoutRowid }
}

/** True when both layouts describe the same changeset table (columns and key). */
export function sameLayout(a: TableLayout, b: TableLayout): boolean {
  if (a.columns.length !== b.columns.length) return false
  for (let i = 0; i < a.columns.length; i++) {
    if (a.columns[i] !== b.columns[i] || a.pk[i] !== b.pk[i]) return false
  }
  return true
}
