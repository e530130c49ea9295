/**
 * The end-of-apply foreign key check.
 *
 * sqlite3changeset_apply defers every foreign key and, at the end, asks SQLite how many
 * violations are outstanding (SQLITE_DBSTATUS_DEFERRED_FKS). better-sqlite3 cannot read
 * that counter, so this module recomputes it from what the apply wrote: child rows it
 * inserted or whose foreign key columns it changed must have their parent, and parent
 * keys it deleted or changed must not be referenced any more. Starting from a database
 * without violations (SQLite enforces that whenever foreign keys are on), this finds
 * the same outstanding violations. User triggers and ON ... SET DEFAULT actions can
 * write rows the changeset does not name, so on databases that have either, every
 * child row is checked instead (reads every child table). So do CASCADE and SET NULL
 * actions when the rows they change can matter to another foreign key: a cascaded
 * delete of a row that is itself a parent (a grandchild left without it), or a
 * cascaded change to a table with a second foreign key. PRAGMA foreign_key_check
 * is not used: it compares keys with different affinity rules than enforcement does.
 *
 * @module
 */

import type { Database } from 'better-sqlite3'
import { RowReader } from './rowreader.js'
import { readTableLayout, type TableLayout } from './schema.js'
import { foldIdent, quoteIdent, rowValue } from './sql.js'
import { ValueStatement } from './stmt.js'
import type { Change, Field, Value } from './types.js'
import { valueFromPair } from './values.js'

interface ForeignKey {
  child: TableLayout
  parent: TableLayout
  /** Child column indexes (into child.columns). */
  from: number[]
  /** Parent column indexes (into parent.columns). */
  to: number[]
  parentExists: ValueStatement
  countChildren: ValueStatement
}

/** A change the apply performed, with the row's actual old values when they differed. */
export interface AppliedChange {
  readonly table: string
  readonly change: Change
  /** Old values actually removed (a DATA conflict resolved by 'replace'). */
  readonly actualOld?: readonly Value[]
}

/** Foreign keys of a database, by child and by parent table (folded names). */
export class ForeignKeys {
  private readonly db: Database
  readonly byChild = new Map<string, ForeignKey[]>()
  readonly byParent = new Map<string, ForeignKey[]>()
  private readonly readers = new Map<string, RowReader>()
  private readonly layouts = new Map<string, TableLayout>()
  /** Triggers or SET DEFAULT actions exist: rows outside the changeset may change. */
  private readonly fullCheck: boolean

  constructor(db: Database) {
    this.db = db
    /** Child tables (folded) whose rows foreign key actions change or delete. */
    const actedOn = new Set<string>()
    let fullCheck =
      (db
        .prepare("SELECT count(*) FROM main.sqlite_schema WHERE type = 'trigger'")
        .pluck()
        .get() as number) > 0
    const tables = db
      .prepare(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .pluck()
      .all() as string[]
    for (const name of tables) {
      const rows = db
        .prepare(
          'SELECT id, seq, "table" AS parent, "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?)',
        )
        .safeIntegers(false)
        .all(name) as {
        id: number
        seq: number
        parent: string
        from: string
        to: string | null
        on_update: string
        on_delete: string
      }[]
      if (rows.some((r) => r.on_update === 'SET DEFAULT' || r.on_delete === 'SET DEFAULT'))
        fullCheck = true
      if (rows.some((r) => changesRows(r.on_update) || changesRows(r.on_delete)))
        actedOn.add(foldIdent(name))
      if (rows.length === 0) continue
      const child = this.layout(name)
      if (child === undefined) continue
      const groups = new Map<number, typeof rows>()
      for (const r of rows) {
        const g = groups.get(r.id) ?? []
        g.push(r)
        groups.set(r.id, g)
      }
      for (const g of groups.values()) {
        g.sort((a, b) => a.seq - b.seq)
        const parent = this.layout(g[0]!.parent)
        if (parent === undefined) continue // a dangling FK: SQLite reports it as a DML error
        const from = g.map((r) => child.columns.indexOf(r.from))
        const toNames =
          g[0]!.to === null
            ? parent.pkColumns
                .slice()
                .sort((a, b) => parent.pk[a]! - parent.pk[b]!)
                .map((i) => parent.columns[i]!)
            : g.map((r) => r.to!)
        const to = toNames.map((n) =>
          parent.columns.findIndex((c) => foldIdent(c) === foldIdent(n)),
        )
        if (from.some((i) => i < 0) || to.some((i) => i < 0) || from.length !== to.length) continue
        const fk = this.makeKey(child, parent, from, to)
        push(this.byChild, foldIdent(child.name), fk)
        push(this.byParent, foldIdent(parent.name), fk)
      }
    }
    for (const t of actedOn) {
      if (this.byParent.has(t) || (this.byChild.get(t)?.length ?? 0) > 1) fullCheck = true
    }
    this.fullCheck = fullCheck
  }

  get empty(): boolean {
    return this.byChild.size === 0
  }

  private layout(name: string): TableLayout | undefined {
    const key = foldIdent(name)
    let L = this.layouts.get(key)
    if (L === undefined) {
      L = readTableLayout(this.db, name)
      if (L !== undefined) this.layouts.set(key, L)
    }
    return L
  }

  private makeKey(
    child: TableLayout,
    parent: TableLayout,
    from: number[],
    to: number[],
  ): ForeignKey {
    const pCols = to.map((i) => quoteIdent(parent.columns[i]!))
    const cCols = from.map((i) => quoteIdent(child.columns[i]!))
    const parentExists = new ValueStatement(
      this.db,
      (p) =>
        `SELECT 1 FROM main.${quoteIdent(parent.name)} WHERE ${pCols.map((c, i) => `${c} = ${p(i)}`).join(' AND ')} LIMIT 1`,
    )
    const countChildren = new ValueStatement(
      this.db,
      (p) =>
        `SELECT count(*) FROM main.${quoteIdent(child.name)} WHERE ${rowValue(cCols)} = ${rowValue(cCols.map((_, i) => p(i)))}`,
    )
    return { child, parent, from, to, parentExists, countChildren }
  }

  private reader(L: TableLayout): RowReader {
    const key = foldIdent(L.name)
    let r = this.readers.get(key)
    if (r === undefined) {
      r = new RowReader(this.db, L)
      this.readers.set(key, r)
    }
    return r
  }

  /** Outstanding violations involving the rows `applied` wrote (see the module doc). */
  violations(applied: readonly AppliedChange[]): number {
    if (this.fullCheck) return this.allViolations()
    let n = 0
    for (const a of applied) {
      const key = foldIdent(a.table)
      const asChild = this.byChild.get(key)
      if (asChild !== undefined) n += this.childViolations(a, asChild)
      const asParent = this.byParent.get(key)
      if (asParent !== undefined) n += this.parentViolations(a, asParent)
    }
    return n
  }

  /** Every child row of every foreign key whose parent is missing. */
  private allViolations(): number {
    let n = 0
    for (const fks of this.byChild.values()) {
      for (const fk of fks) {
        const cols = fk.from.map((i) => quoteIdent(fk.child.columns[i]!))
        // Exact values: text as bytes (invalid UTF-8 must not turn into U+FFFD).
        const exact = cols.map(
          (c) => `typeof(${c}), iif(typeof(${c}) = 'text', CAST(${c} AS BLOB), ${c})`,
        )
        const rows = this.db
          .prepare(
            `SELECT ${exact.join(', ')} FROM main.${quoteIdent(fk.child.name)} WHERE ${cols.map((c) => `${c} IS NOT NULL`).join(' AND ')}`,
          )
          .raw(true)
          .safeIntegers(true)
          .all() as unknown[][]
        for (const row of rows) {
          const key: Value[] = []
          for (let i = 0; i < row.length; i += 2) key.push(valueFromPair(row[i], row[i + 1]))
          if (fk.parentExists.get(key) === undefined) n++
        }
      }
    }
    return n
  }

  private childViolations(a: AppliedChange, fks: readonly ForeignKey[]): number {
    const c = a.change
    if (c.op === 'DELETE') return 0
    const L = fks[0]!.child
    const relevant =
      c.op === 'INSERT' ? fks : fks.filter((fk) => fk.from.some((i) => c.new[i] !== undefined))
    if (relevant.length === 0) return 0
    const pk = L.pkColumns.map((i) => (c.op === 'INSERT' ? c.new[i] : c.old[i]) as Value)
    const row = this.reader(L).read(pk)
    if (row === undefined) return 0
    let n = 0
    for (const fk of relevant) {
      const values = fk.from.map((i) => row[i]!)
      if (values.some((v) => v === null)) continue
      if (fk.parentExists.get(values) === undefined) n++
    }
    return n
  }

  private parentViolations(a: AppliedChange, fks: readonly ForeignKey[]): number {
    const c = a.change
    if (c.op === 'INSERT') return 0
    const old: readonly Field[] = a.actualOld ?? c.old
    let n = 0
    for (const fk of fks) {
      if (c.op === 'UPDATE' && !fk.to.some((i) => c.new[i] !== undefined)) continue
      const values = fk.to.map((i) => old[i])
      if (values.some((v) => v === null || v === undefined)) continue
      if (fk.parentExists.get(values) !== undefined) continue
      const row = fk.countChildren.get(values)
      n += Number(row?.[0] ?? 0)
    }
    return n
  }
}

/** An ON DELETE / ON UPDATE action that writes child rows (CASCADE, SET NULL). */
function changesRows(action: string): boolean {
  return action === 'CASCADE' || action === 'SET NULL'
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}
