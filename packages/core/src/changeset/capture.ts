/**
 * Change capture for better-sqlite3, which is built without the session extension.
 *
 * TEMP triggers on every table call one JS function (see triggers.ts for why each
 * trigger fires when it does). Per touched row the function records, at first touch
 * only, the row's original state: its values, or "absent". Everything lives in JS
 * memory, so a ROLLBACK TO keeps the records, exactly like the session extension's
 * hash table: a record only says what the row looked like at the start. At the end,
 * {@link ChangeCapture.changeset} reads every touched row's current values and emits
 * original -> final (FORMAT.md), in the session extension's row order.
 *
 * @module
 */

import type { Database, Statement } from 'better-sqlite3'
import { InvalidArgumentError, NoPrimaryKeyError } from '../errors.js'
import { type OrderEntry, type RowKey, rowKey, SessionHashOrder, sessionHash } from './order.js'
import { RowReader } from './rowreader.js'
import { readAllLayouts, sameLayout, type TableLayout } from './schema.js'
import { foldIdent, quoteIdent } from './sql.js'
import {
  CODE_SLOTS,
  captureTriggers,
  F_EXACT,
  F_PARTIAL,
  K_DELETE,
  K_INSERT,
  K_NEWKEY,
  K_NOPK,
  K_OLD,
  MAX_FUNCTION_ARGS,
  Q_NEED_EXACT,
} from './triggers.js'
import { OP_DELETE, OP_INSERT, OP_UPDATE, type Value, valueEquals } from './types.js'
import { maybeLossy, valueFromPair } from './values.js'
import { ChangesetWriter } from './writer.js'

/** Internal tuning knobs (tests use them to exercise rare paths on small tables). */
export interface ChangeCaptureOptions {
  /** Largest argument count per function call in the triggers (default 1000, SQLite's limit). */
  maxFunctionArgs?: number
}

interface Entry extends OrderEntry {
  /** PRIMARY KEY values in column order. */
  pk: Value[]
  /** Row values at first touch, or null when the row did not exist. */
  original: Value[] | null
}

/** Capture state of one table (kept by name across schema changes until reset). */
class TableState {
  readonly slot: number
  layout: TableLayout | undefined
  readonly rows = new Map<RowKey, Entry>()
  readonly order = new SessionHashOrder<Entry>()
  /** Already in the capture's table order. */
  listed = false
  reader: RowReader | undefined

  constructor(slot: number, layout: TableLayout) {
    this.slot = slot
    this.layout = layout
  }

  clear(): void {
    this.rows.clear()
    this.order.clear()
    this.listed = false
  }
}

let instances = 0

/**
 * Records what transactions change on a better-sqlite3 connection and produces the
 * SQLite changeset of it. Lifecycle: construct once per connection; per transaction
 * {@link reset}, run statements calling {@link syncSchema} after each write,
 * {@link changeset} before COMMIT; {@link close} when done.
 *
 * Side effects on the connection: `PRAGMA recursive_triggers = ON` (REPLACE evictions
 * must fire delete triggers; restored by close), a function named `_s3db_capture_<n>`
 * and TEMP triggers named `_s3db_cap_<n>_...`.
 *
 * Schema changes: SQLite refuses `ALTER TABLE ... DROP COLUMN` of a column a trigger
 * names, TEMP triggers included. Run such statements inside {@link withoutTriggers}
 * ({@link isTriggerConflict} recognises the refusal; the refused statement had no
 * effect, so running it again is safe). A transaction that changes the schema should be
 * published as a snapshot: after DDL the changeset is best effort (columns added by
 * ALTER TABLE get their default in original rows, as the session extension does;
 * tables dropped or re-keyed are left out).
 */
export class ChangeCapture {
  private readonly db: Database
  private readonly fn: string
  private readonly prefix: string
  private readonly maxArgs: number
  private readonly versionStmt: Statement
  private readonly previousRecursiveTriggers: number
  private schemaVersion = -1
  private readonly byName = new Map<string, TableState>()
  private readonly slots: TableState[] = []
  /** Tables in the order of their first touch (the session extension's table order). */
  private listed: TableState[] = []
  private anyTouched = false
  /** See {@link incomplete}. */
  private lost = false
  private suspended = 0
  /** The old key of the UPDATE being recorded (its new key comes next, when it moves). */
  private updatedKey: unknown[] | undefined
  private closed = false
  private needExact = false
  private pending: unknown[] = []
  private readonly mask: Uint8Array[] = []
  /** Reused output buffer (changeset() copies the result out). */
  private readonly writer = new ChangesetWriter()

  constructor(db: Database, options?: ChangeCaptureOptions) {
    this.db = db
    const n = ++instances
    this.fn = `_s3db_capture_${n}`
    this.prefix = `_s3db_cap_${n}_`
    this.maxArgs = options?.maxFunctionArgs ?? MAX_FUNCTION_ARGS
    if (!Number.isInteger(this.maxArgs) || this.maxArgs < 3 || this.maxArgs > MAX_FUNCTION_ARGS) {
      throw new InvalidArgumentError(
        `maxFunctionArgs must be an integer in 3..${MAX_FUNCTION_ARGS}`,
      )
    }
    this.versionStmt = db.prepare('PRAGMA main.schema_version').pluck().safeIntegers(false)
    this.previousRecursiveTriggers = Number(db.pragma('recursive_triggers', { simple: true }))
    db.pragma('recursive_triggers = ON')
    // directOnly: the schema (views, main-schema triggers) cannot call it; TEMP triggers can.
    db.function(
      this.fn,
      { safeIntegers: true, varargs: true, directOnly: true, deterministic: false },
      (...args: unknown[]) => this.onCall(args),
    )
    this.rebuild()
  }

  /**
   * Re-installs the triggers when `PRAGMA schema_version` moved since the last call.
   * Returns true when the schema changed. Cheap (one pragma read) otherwise.
   */
  syncSchema(): boolean {
    this.assertOpen()
    if (this.versionStmt.get() === this.schemaVersion) return false
    this.rebuild()
    return true
  }

  /** Forgets everything recorded (start of a transaction, or after a rollback). */
  reset(): void {
    for (const t of this.listed) t.clear()
    this.listed = []
    this.anyTouched = false
    this.lost = false
    this.needExact = false
    this.pending = []
  }

  /**
   * True when changes since {@link reset} escaped the record: writes made by
   * {@link withoutTriggers}, or records dropped because their table was dropped or
   * re-keyed (even if a rollback later undid that). The changeset is then
   * incomplete: publish the transaction as a snapshot.
   */
  get incomplete(): boolean {
    return this.lost
  }

  /** True when a row was touched since {@link reset} (even if the net effect is nil). */
  get touched(): boolean {
    return this.anyTouched
  }

  /**
   * The changeset of everything recorded since {@link reset}: original -> current state
   * of every touched row, or null when the net effect is empty. Reads current rows, so
   * call it inside the still-open transaction. Does not reset.
   */
  changeset(): Uint8Array | null {
    this.assertOpen()
    if (!this.anyTouched) return null
    const w = this.writer
    w.clear()
    for (const t of this.listed) {
      const L = t.layout
      if (L === undefined || t.order.size === 0) continue
      t.reader ??= new RowReader(this.db, L)
      this.emitTable(w, t, L, t.reader)
    }
    return w.length === 0 ? null : w.finish()
  }

  private emitTable(w: ChangesetWriter, t: TableState, L: TableLayout, reader: RowReader): void {
    const start = w.length
    w.tableHeader(L.name, L.pk)
    const headerEnd = w.length
    const nCol = L.columns.length
    let changed = this.mask[t.slot]
    if (changed === undefined || changed.length < nCol) {
      changed = new Uint8Array(nCol)
      this.mask[t.slot] = changed
    }
    t.order.forEach((e) => {
      const current = reader.read(e.pk)
      const original = e.original
      if (current !== undefined) {
        if (original === null) {
          w.changeHeader(OP_INSERT, false)
          for (const v of current) w.value(v)
          return
        }
        let any = false
        for (let i = 0; i < nCol; i++) {
          const c = valueEquals(original[i], current[i]) ? 0 : 1
          changed[i] = c
          if (c) any = true
        }
        if (!any) return
        w.changeHeader(OP_UPDATE, false)
        for (let i = 0; i < nCol; i++) {
          if (changed[i] || L.pk[i]) w.value(original[i]!)
          else w.undefinedField()
        }
        for (let i = 0; i < nCol; i++) {
          if (changed[i]) w.value(current[i]!)
          else w.undefinedField()
        }
      } else if (original !== null) {
        w.changeHeader(OP_DELETE, false)
        for (const v of original) w.value(v)
      }
    })
    if (w.length === headerEnd) w.truncate(start)
  }

  /** Runs `fn` with capture suspended: its writes are not recorded (nor refused). */
  paused<T>(fn: () => T): T {
    this.suspended++
    try {
      return fn()
    } finally {
      this.suspended--
    }
  }

  /**
   * Runs `fn` with the capture triggers removed, then re-installs them. For schema
   * changes SQLite refuses while a trigger names a column (ALTER TABLE DROP COLUMN).
   * Writes made by `fn` are not recorded.
   */
  withoutTriggers<T>(fn: () => T): T {
    this.assertOpen()
    this.dropTriggers()
    this.lost = true
    try {
      return fn()
    } finally {
      this.rebuild()
    }
  }

  /** True when `err` is SQLite refusing a schema change because of a capture trigger. */
  isTriggerConflict(err: unknown): boolean {
    return err instanceof Error && err.message.includes(`error in trigger ${this.prefix}`)
  }

  /** Removes the triggers and makes the function inert; restores recursive_triggers. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.dropTriggers()
    this.db.pragma(`recursive_triggers = ${this.previousRecursiveTriggers ? 'ON' : 'OFF'}`)
    this.reset()
  }

  private assertOpen(): void {
    if (this.closed) throw new InvalidArgumentError('ChangeCapture is closed')
  }

  private dropTriggers(): void {
    const names = this.db
      .prepare(
        "SELECT name FROM temp.sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
      )
      .pluck()
      .all(this.prefix.length, this.prefix) as string[]
    for (const name of names) this.db.exec(`DROP TRIGGER IF EXISTS temp.${quoteIdent(name)}`)
  }

  /** Reads the schema, adapts recorded rows to changed layouts, reinstalls triggers. */
  private rebuild(): void {
    const version = this.versionStmt.get() as number
    const layouts = readAllLayouts(this.db)
    this.dropTriggers()
    const seen = new Set<TableState>()
    const sql: string[] = []
    for (const layout of layouts) {
      const key = foldIdent(layout.name)
      let t = this.byName.get(key)
      if (t === undefined) {
        t = new TableState(this.slots.length, layout)
        this.slots.push(t)
        this.byName.set(key, t)
      } else if (t.layout === undefined || !sameLayout(t.layout, layout)) {
        this.migrate(t, t.layout, layout)
        t.layout = layout
        t.reader = undefined
      } else if (t.layout.name !== layout.name) {
        t.layout = layout
        t.reader = undefined
      }
      seen.add(t)
      sql.push(...captureTriggers(this.fn, this.prefix, t.slot, layout, this.maxArgs))
    }
    for (const t of this.slots) {
      if (!seen.has(t)) {
        t.layout = undefined
        t.reader = undefined
      }
    }
    if (sql.length > 0) this.db.exec(sql.join(';\n'))
    this.schemaVersion = version
  }

  /**
   * Carries recorded rows over a layout change. Added columns get their default in
   * original rows (the session extension does the same); a changed key or a dropped
   * table drops the records and marks the capture {@link incomplete}.
   */
  private migrate(t: TableState, from: TableLayout | undefined, to: TableLayout): void {
    if (t.order.size === 0) return
    const keyNames = (L: TableLayout) =>
      L.pkColumns.map((i) => `${L.pk[i]}:${L.columns[i]}`).join(',')
    if (from === undefined || keyNames(from) !== keyNames(to)) {
      t.rows.clear()
      t.order.clear()
      this.lost = true
      return
    }
    const src = to.columns.map((c) => from.columns.indexOf(c))
    const defaults = to.columns.map((_, j) =>
      src[j]! < 0 ? this.evalDefault(to.defaults[j]!) : null,
    )
    t.order.forEach((e) => {
      if (e.original === null) return
      const old = e.original
      e.original = src.map((i, j) => (i < 0 ? defaults[j]! : old[i]!))
    })
  }

  private evalDefault(expr: string | null): Value {
    if (expr === null) return null
    try {
      const row = this.db.prepare(`SELECT ${expr}`).raw(true).safeIntegers(true).get() as Value[]
      return row[0] ?? null
    } catch {
      return null
    }
  }

  // ---- the trigger function ---------------------------------------------------------

  private onCall(args: unknown[]): number | null {
    if (this.suspended > 0 || this.closed) return null
    const code = Number(args[0] as bigint)
    if (code === Q_NEED_EXACT) return this.needExact ? 1 : 0
    const t = this.slots[Math.floor(code / CODE_SLOTS)]
    const L = t?.layout
    if (t === undefined || L === undefined) return null
    const flags = code % CODE_SLOTS
    if (flags & F_PARTIAL) {
      for (let i = 1; i < args.length; i++) this.pending.push(args[i])
      return null
    }
    let values = args
    let off = 1
    if (this.pending.length > 0) {
      values = this.pending
      for (let i = 1; i < args.length; i++) values.push(args[i])
      this.pending = []
      off = 0
    }
    const kind = flags & 7
    if (kind === K_NOPK) throw new NoPrimaryKeyError(L.name)
    this.anyTouched = true
    const exact = (flags & F_EXACT) !== 0
    if (exact) {
      this.needExact = false
      values = decodePairs(values, off, kind, L)
      off = 0
    }
    switch (kind) {
      case K_INSERT:
        return this.onInsert(t, L, values, off, exact)
      case K_OLD:
        return this.onOld(t, L, values, off, exact, true)
      case K_DELETE:
        return this.onOld(t, L, values, off, exact, false)
      case K_NEWKEY:
        return this.onNewKey(t, L, values, off, exact)
      default:
        return null
    }
  }

  private wantExact(): number {
    this.needExact = true
    return 1
  }

  private list(t: TableState): void {
    if (t.listed) return
    t.listed = true
    this.listed.push(t)
  }

  private add(t: TableState, key: RowKey, pk: Value[], original: Value[] | null): void {
    const e: Entry = { next: undefined, hash: sessionHash(pk), pk, original }
    t.rows.set(key, e)
    t.order.add(e)
  }

  /** AFTER INSERT: values are the new row's PRIMARY KEY (column order). */
  private onInsert(
    t: TableState,
    L: TableLayout,
    values: unknown[],
    off: number,
    exact: boolean,
  ): number {
    const nPk = L.pkColumns.length
    if (!exact && anyLossy(values, off, nPk)) return this.wantExact()
    this.list(t)
    t.order.grow()
    const key = rowKey(values, off, identity(nPk))
    if (key === null || t.rows.has(key)) return 0
    this.add(t, key, values.slice(off, off + nPk) as Value[], null)
    return 0
  }

  /** BEFORE UPDATE / BEFORE DELETE: values are the whole row as it is now (OLD). */
  private onOld(
    t: TableState,
    L: TableLayout,
    values: unknown[],
    off: number,
    exact: boolean,
    update: boolean,
  ): number {
    if (!exact) {
      for (const i of L.pkColumns) if (maybeLossy(values[off + i])) return this.wantExact()
    }
    this.list(t)
    t.order.grow()
    const key = rowKey(values, off, L.pkColumns)
    if (key !== null && !t.rows.has(key)) {
      const nCol = L.columns.length
      if (!exact && anyLossy(values, off, nCol)) return this.wantExact()
      const row = values.slice(off, off + nCol) as Value[]
      this.add(
        t,
        key,
        L.pkColumns.map((i) => row[i]!),
        row,
      )
    }
    // The session extension sees an UPDATE as two pre-update calls (old key, new key),
    // each starting with a growth check.
    if (update) {
      t.order.grow()
      this.updatedKey = L.pkColumns.map((i) => values[off + i])
    }
    return 0
  }

  /**
   * BEFORE UPDATE that moves a row to another key: values are the new key, a flag
   * telling whether a row holds that key now, and that row's values.
   */
  private onNewKey(
    t: TableState,
    L: TableLayout,
    values: unknown[],
    off: number,
    exact: boolean,
  ): number {
    const nPk = L.pkColumns.length
    if (!exact && anyLossy(values, off, nPk)) return this.wantExact()
    t.order.grow()
    const key = rowKey(values, off, identity(nPk))
    if (key === null || t.rows.has(key)) return 0
    const exists = values[off + nPk] === 1n || values[off + nPk] === 1
    let original: Value[] | null = null
    if (exists) {
      const start = off + nPk + 1
      if (!exact && anyLossy(values, start, L.columns.length)) return this.wantExact()
      original = values.slice(start, start + L.columns.length) as Value[]
    }
    // The key changed only in type (integer 1 to real 1.0 in a column without
    // affinity): SQL finds the row at its own key, the session extension records
    // an INSERT of a key that exists, and no changeset applies (SQLite's own
    // conflicts too). The transaction is published as a snapshot instead.
    const before = this.updatedKey
    this.updatedKey = undefined
    if (before && sameButForType(before, values.slice(off, off + nPk))) this.lost = true
    this.add(t, key, values.slice(off, off + nPk) as Value[], original)
    return 0
  }
}

const identities: number[][] = []

/** [0, 1, ..., n-1], cached. */
function identity(n: number): number[] {
  let a = identities[n]
  if (a === undefined) {
    a = Array.from({ length: n }, (_, i) => i)
    identities[n] = a
  }
  return a
}

function anyLossy(values: readonly unknown[], off: number, n: number): boolean {
  for (let i = off; i < off + n; i++) if (maybeLossy(values[i])) return true
  return false
}

/** Turns the exact form of a call's arguments back into values (same layout as plain). */
function decodePairs(
  values: readonly unknown[],
  off: number,
  kind: number,
  L: TableLayout,
): unknown[] {
  const out: unknown[] = []
  let i = off
  const pairs = (n: number) => {
    for (let k = 0; k < n; k++, i += 2) out.push(valueFromPair(values[i], values[i + 1]))
  }
  const nPk = L.pkColumns.length
  const nCol = L.columns.length
  if (kind === K_INSERT) pairs(nPk)
  else if (kind === K_NEWKEY) {
    pairs(nPk)
    out.push(values[i++])
    pairs(nCol)
  } else pairs(nCol)
  return out
}

/**
 * True when two keys are equal to SQL but not in storage class: some column
 * holds an integer in one and the same number as a real in the other.
 */
function sameButForType(a: unknown[], b: unknown[]): boolean {
  let differs = false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    const numeric =
      (typeof x === 'bigint' && typeof y === 'number') ||
      (typeof x === 'number' && typeof y === 'bigint')
    if (!numeric || Number(x) !== Number(y)) return false
    differs = true
  }
  return differs
}
