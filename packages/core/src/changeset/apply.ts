/**
 * Applies changesets with the semantics of SQLite's sqlite3changeset_apply()
 * (sqlite3session.c), on better-sqlite3.
 *
 * Same statements, same matching, same conflict classification, in the same order:
 * - DELETE: `DELETE FROM t WHERE pk = ?.. AND (?flag OR col IS ?..)`; no row -> DATA
 *   when a row with the key exists (the other values differ), else NOTFOUND.
 * - UPDATE: `UPDATE t SET changed = ?.. WHERE pk IS ?.. AND changed IS ?old..`; same
 *   DATA / NOTFOUND rule.
 * - INSERT: plain INSERT; a constraint failure with a row holding the key -> CONFLICT.
 * - Any other constraint failure is deferred to the end of the table's changes and
 *   retried while retries make progress, then reported as CONSTRAINT.
 * - Foreign keys are deferred (`PRAGMA defer_foreign_keys`) and checked at the very
 *   end: FOREIGN_KEY, once, for the whole changeset (see fkcheck.ts).
 * - 'replace' on DATA retries matching the key only; on CONFLICT deletes the row
 *   holding the key and inserts again.
 * - All or nothing: everything runs inside a SAVEPOINT, rolled back on abort or error,
 *   so it works inside an open transaction and outside one.
 *
 * Deliberate differences: a table missing in the target, with a different PRIMARY KEY
 * or with fewer columns than the changeset is an {@link ApplyConflictError} of kind
 * SCHEMA (SQLite skips such tables silently). A target table with MORE columns than the
 * changeset is accepted, as SQLite does: the extra columns take their defaults on INSERT
 * (this is what lets writers on an older additive schema keep publishing). Patchsets are
 * refused. Like SQLite's apply, the target's triggers and foreign key actions run.
 *
 * @module
 */

import type { Database, Statement } from 'better-sqlite3'
import {
  ApplyConflictError,
  type ApplyConflictKind,
  CorruptError,
  InvalidArgumentError,
} from '../errors.js'
import type { ChangeCapture } from './capture.js'
import { decodeChangeset } from './codec.js'
import { type AppliedChange, ForeignKeys } from './fkcheck.js'
import { RowReader } from './rowreader.js'
import { readTableLayout, type TableLayout } from './schema.js'
import { foldIdent, quoteIdent } from './sql.js'
import { ValueStatement } from './stmt.js'
import { type Change, type Changeset, RawText, type TableChanges, type Value } from './types.js'

/** sqlite3changeset_apply's conflict types. */
export type ConflictKind = 'DATA' | 'NOTFOUND' | 'CONFLICT' | 'CONSTRAINT' | 'FOREIGN_KEY'

/** What to do about a conflict. 'replace' is valid for DATA and CONFLICT only. */
export type ConflictAction = 'omit' | 'replace' | 'abort'

/** A conflict, as given to {@link ApplyOptions.onConflict}. */
export interface ConflictInfo {
  readonly kind: ConflictKind
  /** Table of the change ('' for FOREIGN_KEY, which concerns the whole changeset). */
  readonly table: string
  /** The change that conflicts (absent for FOREIGN_KEY). */
  readonly change?: Change
  /** DATA and CONFLICT: the target's row holding the change's key, as it is now. */
  readonly current?: readonly Value[]
  /** FOREIGN_KEY: number of outstanding violations found. */
  readonly count?: number
}

/** Options of {@link applyChangeset}. */
export interface ApplyOptions {
  /**
   * Conflict policy, called once per conflict in changeset order. Default: abort every
   * conflict, which rolls the whole apply back and throws {@link ApplyConflictError}.
   * 'replace' on NOTFOUND or CONSTRAINT throws {@link InvalidArgumentError} (SQLite
   * answers SQLITE_MISUSE); for FOREIGN_KEY anything but 'omit' aborts.
   */
  onConflict?: (conflict: ConflictInfo) => ConflictAction
  /** Capture to suspend while applying, so the applied changes are not recorded. */
  capture?: ChangeCapture
}

/** Outcome of {@link applyChangeset}. */
export interface ApplyResult {
  /** Changes applied (including those applied by 'replace'). */
  applied: number
  /** Changes skipped by an 'omit' answer. */
  omitted: number
}

const abortAll = (): ConflictAction => 'abort'

/**
 * Applies `changeset` (bytes, or already decoded) to `main` of `db`, all or nothing.
 * Throws {@link CorruptError} for malformed bytes (nothing changed),
 * {@link ApplyConflictError} when a conflict aborts (nothing changed), and rethrows
 * any other SQLite error after rolling back.
 */
export function applyChangeset(
  db: Database,
  changeset: Uint8Array | Changeset,
  options?: ApplyOptions,
): ApplyResult {
  const cs = changeset instanceof Uint8Array ? decodeChangeset(changeset) : changeset
  if (cs.patchset) throw new InvalidArgumentError('patchsets cannot be applied, only changesets')
  const run = () => new Applier(db, options?.onConflict ?? abortAll).run(cs)
  return options?.capture ? options.capture.paused(run) : run()
}

/**
 * Connection-level statements every apply runs, prepared once per connection. Flag
 * pragmas (foreign_keys...) take effect when prepared, so they are read through their
 * table-valued form, which runs at step time, and set with exec.
 */
interface DbStatements {
  schemaVersion: Statement
  foreignKeys: Statement
  deferForeignKeys: Statement
  savepoint: Statement
  release: Statement
  rollbackTo: Statement
}

/** Per-database cache of prepared per-table statements, invalidated by schema changes. */
interface DbCache {
  version: number
  tables: Map<string, TableApply>
  fks: ForeignKeys | undefined
}

const caches = new WeakMap<Database, DbCache>()
const connStatements = new WeakMap<Database, DbStatements>()

function statementsFor(db: Database): DbStatements {
  let s = connStatements.get(db)
  if (s === undefined) {
    const p = (sql: string) => db.prepare(sql)
    s = {
      schemaVersion: p('PRAGMA main.schema_version').pluck().safeIntegers(false),
      foreignKeys: p('SELECT foreign_keys FROM pragma_foreign_keys').pluck().safeIntegers(false),
      deferForeignKeys: p('SELECT defer_foreign_keys FROM pragma_defer_foreign_keys')
        .pluck()
        .safeIntegers(false),
      savepoint: p('SAVEPOINT _s3db_apply'),
      release: p('RELEASE _s3db_apply'),
      rollbackTo: p('ROLLBACK TO _s3db_apply'),
    }
    connStatements.set(db, s)
  }
  return s
}

function cacheFor(db: Database, version: number): DbCache {
  let c = caches.get(db)
  if (c === undefined || c.version !== version) {
    c = { version, tables: new Map(), fks: undefined }
    caches.set(db, c)
  }
  return c
}

/** Prepared statements for applying changes of one table layout. */
class TableApply {
  readonly layout: TableLayout
  readonly nCol: number
  readonly insert: ValueStatement
  /** Values 0..nCol-1 are old values, value nCol is the "PK only" flag. */
  readonly del: ValueStatement
  readonly reader: RowReader
  private readonly db: Database
  private readonly updates = new Map<string, ValueStatement>()

  constructor(db: Database, target: TableLayout, nCol: number) {
    this.db = db
    this.nCol = nCol
    // The changeset's view of the table: its first nCol columns.
    const L: TableLayout = {
      ...target,
      columns: target.columns.slice(0, nCol),
      pk: target.pk.slice(0, nCol),
      defaults: target.defaults.slice(0, nCol),
    }
    this.layout = L
    const t = `main.${quoteIdent(L.name)}`
    const cols = L.columns.map(quoteIdent)
    this.insert = new ValueStatement(
      db,
      (p) =>
        `INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map((_, i) => p(i)).join(', ')})`,
    )
    const nonPk = cols.map((_, i) => i).filter((i) => !L.pk[i])
    this.del = new ValueStatement(db, (p) => {
      const where = L.pkColumns.map((i) => `${cols[i]} = ${p(i)}`).join(' AND ')
      if (nonPk.length === 0) return `DELETE FROM ${t} WHERE ${where}`
      return `DELETE FROM ${t} WHERE ${where} AND (${p(nCol)} OR ${matchAll(nonPk, cols, p, (i) => i)})`
    })
    this.reader = new RowReader(db, L)
  }

  private unique: boolean[] | undefined

  /**
   * sessionUniqueColumns(): per column, whether it is part of a UNIQUE index (the
   * PRIMARY KEY's included); every column when a unique index is partial or on an
   * expression.
   */
  uniqueColumns(): boolean[] {
    if (this.unique !== undefined) return this.unique
    const out: boolean[] = new Array(this.nCol).fill(false)
    const indexes = this.db
      .prepare('SELECT name, "unique", partial FROM pragma_index_list(?)')
      .safeIntegers(false)
      .all(this.layout.name) as { name: string; unique: number; partial: number }[]
    for (const idx of indexes) {
      if (!idx.unique) continue
      const cols = this.db
        .prepare('SELECT cid, name, key FROM pragma_index_xinfo(?)')
        .safeIntegers(false)
        .all(idx.name) as { cid: number; name: string | null; key: number }[]
      for (const c of cols) {
        if (!c.key) continue
        for (let i = 0; i < this.nCol; i++) {
          if (
            idx.partial ||
            c.cid === -2 ||
            (c.name !== null && foldIdent(c.name) === foldIdent(this.layout.columns[i]!))
          ) {
            out[i] = true
          }
        }
      }
    }
    this.unique = out
    return out
  }

  /**
   * The UPDATE for this change (sessionUpdateFind): SET the non-key columns with a new
   * value, WHERE the key and (unless `keyOnly`) every recorded old value match.
   * Values: new value of column i at 2i, old value at 2i+1.
   */
  update(c: Change & { op: 'UPDATE' }, keyOnly: boolean): ValueStatement | undefined {
    const L = this.layout
    let mask = keyOnly ? 'k' : ''
    for (let i = 0; i < this.nCol; i++) {
      mask +=
        c.new[i] !== undefined
          ? !keyOnly && c.old[i] !== undefined
            ? 'b'
            : 'n'
          : !keyOnly && c.old[i] !== undefined
            ? 'o'
            : '.'
    }
    let st = this.updates.get(mask)
    if (st === undefined) {
      const cols = L.columns.map(quoteIdent)
      const set: number[] = []
      const where: number[] = []
      for (let i = 0; i < this.nCol; i++) {
        if (!L.pk[i] && c.new[i] !== undefined) set.push(i)
        if (L.pk[i] || (!keyOnly && c.old[i] !== undefined)) where.push(i)
      }
      // A new value only for key columns: SQLite prepares invalid SQL here (SQLITE_ERROR).
      if (set.length === 0) return undefined
      const t = `main.${quoteIdent(L.name)}`
      st = new ValueStatement(
        this.db,
        (p) =>
          `UPDATE ${t} SET ${set.map((i) => `${cols[i]} = ${p(2 * i)}`).join(', ')} WHERE ${matchAll(where, cols, p, (i) => 2 * i + 1)}`,
      )
      if (this.updates.size >= 64) this.updates.clear()
      this.updates.set(mask, st)
    }
    return st
  }
}

type OpResult = 'done' | 'retry' | 'replace'

/** One run of applyChangeset. */
class Applier {
  private readonly db: Database
  private readonly policy: (c: ConflictInfo) => ConflictAction
  private readonly cache: DbCache
  private applied = 0
  private omitted = 0
  private readonly log: AppliedChange[] = []
  /** Whether applied changes are logged: only a foreign key check reads the log. */
  private tracking = false
  private deferred: Change[] = []
  private deferConstraints = true
  private readonly values: unknown[] = []

  private readonly st: DbStatements

  constructor(db: Database, policy: (c: ConflictInfo) => ConflictAction) {
    this.db = db
    this.policy = policy
    this.st = statementsFor(db)
    this.cache = cacheFor(db, this.st.schemaVersion.get() as number)
  }

  run(cs: Changeset): ApplyResult {
    const st = this.st
    const db = this.db
    const fkOn = st.foreignKeys.get() === 1
    // Replicas apply with enforcement off: then nothing is checked, or logged for it.
    this.tracking = fkOn
    // Without foreign key enforcement there is nothing to defer (or to check).
    const deferWas = fkOn ? st.deferForeignKeys.get() === 1 : true
    st.savepoint.run()
    let ok = false
    let commitError: unknown
    try {
      if (!deferWas) db.exec('PRAGMA defer_foreign_keys = 1')
      for (const table of cs.tables) this.applyTable(table)
      if (fkOn) this.checkForeignKeys()
      ok = true
    } finally {
      if (!deferWas) db.exec('PRAGMA defer_foreign_keys = 0')
      if (!ok) st.rollbackTo.run()
      try {
        st.release.run()
      } catch (e) {
        // Outermost RELEASE commits; it fails on outstanding DEFERRABLE FK violations.
        st.rollbackTo.run()
        st.release.run()
        commitError = e
      }
    }
    if (commitError !== undefined) {
      throw new ApplyConflictError(
        'FOREIGN_KEY',
        '',
        `changeset apply could not commit: ${(commitError as Error).message}`,
        { cause: commitError },
      )
    }
    return { applied: this.applied, omitted: this.omitted }
  }

  private target(name: string, pk: readonly number[]): TableApply {
    const key = `${foldIdent(name)}\0${pk.join(',')}`
    let t = this.cache.tables.get(key)
    if (t !== undefined) return t
    const layout = readTableLayout(this.db, name)
    if (layout === undefined) {
      throw new ApplyConflictError(
        'SCHEMA',
        name,
        `changeset table "${name}" does not exist in the target database`,
      )
    }
    const nCol = pk.length
    if (layout.columns.length < nCol) {
      throw new ApplyConflictError(
        'SCHEMA',
        name,
        `changeset table "${name}" has ${nCol} columns but the target table has ${layout.columns.length}`,
      )
    }
    const lastPk = layout.pk.reduce((m, o, i) => (o ? i + 1 : m), 0)
    if (lastPk > nCol || pk.some((o, i) => o !== layout.pk[i])) {
      throw new ApplyConflictError(
        'SCHEMA',
        name,
        `changeset table "${name}" has PRIMARY KEY layout [${pk.join(',')}] but the target table has [${layout.pk.join(',')}]`,
      )
    }
    t = new TableApply(this.db, layout, nCol)
    this.cache.tables.set(key, t)
    return t
  }

  private applyTable(table: TableChanges): void {
    const t = this.target(table.name, table.pk)
    this.deferConstraints = true
    this.deferred = []
    for (const change of table.changes) this.applyWithRetry(t, change)
    this.retryConstraints(t)
  }

  /** Applies `changes` (all but index `skip`), deferring constraint failures again. */
  private applyRetryBuffer(t: TableApply, changes: readonly Change[], skip: number): void {
    changes.forEach((change, i) => {
      if (i !== skip) this.applyWithRetry(t, change)
    })
  }

  /**
   * sessionRetryConstraints() (SQLite 3.54): (1) retry the deferred changes while a
   * round makes progress; (2) for each deferred UPDATE, move its row out of the way
   * (random values in its UNIQUE columns), retry the others, then set the UPDATE's
   * values, keeping the attempt only if all of that worked (this resolves swaps of
   * unique values); (3) a last round in which failures go to the conflict policy.
   */
  private retryConstraints(t: TableApply): void {
    while (this.deferred.length > 0) {
      const round = this.deferred
      this.deferred = []
      this.applyRetryBuffer(t, round, -1)
      if (this.deferred.length >= round.length) break
    }
    let iUpdate = 0
    while (this.deferred.length > 0) {
      let iThis = -1
      let skip = 0
      for (const c of this.deferred) {
        if (c.op === 'UPDATE') iThis++
        if (iThis === iUpdate) break
        skip++
      }
      if (iThis !== iUpdate) break
      const mark = this.mark()
      this.db.exec('SAVEPOINT _s3db_update_op')
      const cons = this.deferred
      const update = cons[skip]!
      let constraint = false
      let finish: ValueStatement | undefined
      let finishValues: Value[] | undefined
      try {
        const prepared = this.updateToUpdate(t, update as Change & { op: 'UPDATE' })
        if (prepared === undefined) constraint = true
        else [finish, finishValues] = prepared
        if (constraint) this.deferred = []
        while (this.deferred.length > 0) {
          const app = this.deferred
          this.deferred = []
          this.applyRetryBuffer(t, app, skip)
          if (this.deferred.length >= app.length) break
          skip = -1
        }
        iUpdate++
        if (!constraint) {
          try {
            finish!.run(finishValues!)
          } catch (e) {
            if (!isConstraintError(e)) throw e
            constraint = true
          }
        }
      } catch (e) {
        this.db.exec('ROLLBACK TO _s3db_update_op')
        this.db.exec('RELEASE _s3db_update_op')
        throw e
      }
      if (constraint) {
        this.db.exec('ROLLBACK TO _s3db_update_op')
        this.restore(mark)
        this.deferred = cons
      } else {
        // The UPDATE took effect through `finish`.
        this.applied++
        if (this.tracking) this.log.push({ table: t.layout.name, change: update })
        iUpdate = 0
      }
      this.db.exec('RELEASE _s3db_update_op')
    }
    if (this.deferred.length > 0) {
      const last = this.deferred
      this.deferred = []
      this.deferConstraints = false
      this.applyRetryBuffer(t, last, -1)
    }
  }

  /**
   * sessionUpdateToUpdate(): sets the UPDATE's UNIQUE columns of the row to random
   * values of the same type and returns the statement (and values) that will set the
   * UPDATE's new values; undefined when that is a constraint failure (or the UPDATE
   * touches no UNIQUE column, so moving the row cannot help).
   */
  private updateToUpdate(
    t: TableApply,
    c: Change & { op: 'UPDATE' },
  ): [ValueStatement, Value[]] | undefined {
    const L = t.layout
    const unique = t.uniqueColumns()
    const cols = L.columns.map(quoteIdent)
    // Column indexes, not SQL with '?' to patch later: a quoted name may hold a '?'.
    const whereCols: number[] = []
    const setCols: number[] = []
    const rand: string[] = []
    const values: Value[] = []
    const whereValues: Value[] = []
    for (let i = 0; i < t.nCol; i++) {
      const v = c.new[i]
      if (L.pk[i]) {
        whereCols.push(i)
        whereValues.push(c.old[i] as Value)
      } else if (v !== undefined) {
        if (unique[i]) {
          const r =
            v === null
              ? 'NULL'
              : typeof v === 'string' || v instanceof RawText
                ? 'CAST(random() AS TEXT)'
                : v instanceof Uint8Array
                  ? 'unhex(hex(random()))'
                  : 'random()'
          rand.push(`${cols[i]} = ${r}`)
        }
        setCols.push(i)
        values.push(v)
      }
    }
    if (rand.length === 0) return undefined
    const table = `main.${quoteIdent(L.name)}`
    const whereSql = (p: (k: number) => string, first: number) =>
      whereCols.map((i, j) => `${cols[i]} IS ${p(first + j)}`).join(' AND ')
    try {
      const randStmt = new ValueStatement(
        this.db,
        (p) => `UPDATE ${table} SET ${rand.join(', ')} WHERE ${whereSql(p, 0)}`,
      )
      randStmt.run(whereValues)
    } catch (e) {
      if (isConstraintError(e)) return undefined
      throw e
    }
    const finish = new ValueStatement(this.db, (p) => {
      const s = setCols.map((i, j) => `${cols[i]} = ${p(j)}`)
      return `UPDATE ${table} SET ${s.join(', ')} WHERE ${whereSql(p, setCols.length)}`
    })
    return [finish, [...values, ...whereValues]]
  }

  /** Counters and FK log position, to undo an abandoned step-2 attempt. */
  private mark(): [number, number, number] {
    return [this.applied, this.omitted, this.log.length]
  }

  private restore([applied, omitted, log]: [number, number, number]): void {
    this.applied = applied
    this.omitted = omitted
    this.log.length = log
  }

  private applyWithRetry(t: TableApply, change: Change): void {
    const r = this.applyOne(t, change, true)
    if (r === 'retry') {
      this.applyOne(t, change, false)
      this.actualOld = undefined
    } else if (r === 'replace') {
      // Remove the row holding the key, then insert again (SAVEPOINT replace_op).
      this.db.exec('SAVEPOINT _s3db_replace')
      try {
        const c = change as Change & { op: 'INSERT' }
        this.fill(t.nCol + 1, (i) => (i < t.nCol ? c.new[i] : 1n))
        t.del.run(this.values)
        this.applyOne(t, change, false)
        this.db.exec('RELEASE _s3db_replace')
      } catch (e) {
        this.db.exec('ROLLBACK TO _s3db_replace')
        this.db.exec('RELEASE _s3db_replace')
        throw e
      }
    }
  }

  private fill(n: number, f: (i: number) => unknown): void {
    const v = this.values
    v.length = n
    for (let i = 0; i < n; i++) v[i] = f(i)
  }

  /** sessionApplyOneOp(); `first` is false on the retry after a 'replace'. */
  private applyOne(t: TableApply, change: Change, first: boolean): OpResult {
    const nCol = t.nCol
    let changes: number
    try {
      if (change.op === 'DELETE') {
        this.fill(nCol + 1, (i) => (i < nCol ? change.old[i] : first ? 0n : 1n))
        changes = t.del.run(this.values)
      } else if (change.op === 'UPDATE') {
        const st = t.update(change, !first)
        if (st === undefined) {
          // SQLite prepares invalid SQL here and fails the apply with SQLITE_ERROR.
          throw new CorruptError(
            `changeset UPDATE of table "${t.layout.name}" changes only key columns`,
          )
        }
        this.fill(2 * nCol, (i) => (i % 2 === 0 ? change.new[i >> 1] : change.old[i >> 1]))
        changes = st.run(this.values)
      } else {
        changes = t.insert.run(change.new)
      }
    } catch (e) {
      if (!isConstraintError(e)) throw e
      // CONFLICT when a row holds the key (INSERT, first attempt), else deferred/CONSTRAINT.
      return this.conflict('CONFLICT', t, change, first && change.op === 'INSERT')
    }
    if (change.op !== 'INSERT' && changes === 0) return this.conflict('DATA', t, change, first)
    this.applied++
    if (this.tracking) this.log.push({ table: t.layout.name, change, actualOld: this.actualOld })
    this.actualOld = undefined
    return 'done'
  }

  /** Old values seen in a DATA conflict answered with 'replace' (for the FK check). */
  private actualOld: readonly Value[] | undefined

  /** sessionConflictHandler(). */
  private conflict(
    kind: 'DATA' | 'CONFLICT',
    t: TableApply,
    change: Change,
    seek: boolean,
  ): OpResult {
    if (seek) {
      const key = t.layout.pkColumns.map(
        (i) => (change.op === 'INSERT' ? change.new[i] : change.old[i]) as Value,
      )
      const current = t.reader.read(key)
      if (current !== undefined) {
        const action = this.ask({ kind, table: t.layout.name, change, current })
        if (action === 'omit') return this.omit()
        if (kind === 'DATA') this.actualOld = current
        return kind === 'DATA' ? 'retry' : 'replace'
      }
    }
    if (kind === 'CONFLICT' && this.deferConstraints) {
      this.deferred.push(change)
      return 'done'
    }
    const next: ConflictKind = kind === 'DATA' ? 'NOTFOUND' : 'CONSTRAINT'
    const action = this.ask({ kind: next, table: t.layout.name, change })
    if (action === 'replace') {
      throw new InvalidArgumentError(`conflict policy answered 'replace' to a ${next} conflict`)
    }
    return this.omit()
  }

  private omit(): OpResult {
    this.omitted++
    return 'done'
  }

  /** Asks the policy; 'abort' throws. */
  private ask(c: ConflictInfo): ConflictAction {
    const action = this.policy(c)
    if (action === 'abort' || (c.kind === 'FOREIGN_KEY' && action !== 'omit')) {
      throw new ApplyConflictError(c.kind as ApplyConflictKind, c.table, describe(c))
    }
    if (action !== 'omit' && action !== 'replace') {
      throw new InvalidArgumentError(`conflict policy returned ${String(action)}`)
    }
    return action
  }

  private checkForeignKeys(): void {
    this.cache.fks ??= new ForeignKeys(this.db)
    const fks = this.cache.fks
    if (fks.empty || this.log.length === 0) return
    const count = fks.violations(this.log)
    if (count > 0) this.ask({ kind: 'FOREIGN_KEY', table: '', count })
  }
}

/**
 * `a IS ? AND b IS ? ...` as SQLite writes it; for very wide tables the equivalent
 * row-value form `(a, b, ...) IS (?, ?, ...)`, which stays under SQLite's expression
 * depth limit of 1000 (SQLite's own apply fails on such tables).
 */
function matchAll(
  columns: readonly number[],
  names: readonly string[],
  p: (i: number) => string,
  param: (column: number) => number,
): string {
  if (columns.length <= 500)
    return columns.map((i) => `${names[i]} IS ${p(param(i))}`).join(' AND ')
  return `(${columns.map((i) => names[i]).join(', ')}) IS (${columns.map((i) => p(param(i))).join(', ')})`
}

function describe(c: ConflictInfo): string {
  switch (c.kind) {
    case 'DATA':
      return `changeset ${c.change?.op} on "${c.table}": the row's current values differ from the changeset's old values (DATA conflict)`
    case 'NOTFOUND':
      return `changeset ${c.change?.op} on "${c.table}": no row with its PRIMARY KEY (NOTFOUND conflict)`
    case 'CONFLICT':
      return `changeset INSERT on "${c.table}": a row with its PRIMARY KEY already exists (CONFLICT)`
    case 'CONSTRAINT':
      return `changeset ${c.change?.op} on "${c.table}" violates a constraint (CONSTRAINT conflict)`
    default:
      return `changeset leaves ${c.count} foreign key violation(s) (FOREIGN_KEY conflict)`
  }
}

function isConstraintError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')
}
