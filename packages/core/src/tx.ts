/**
 * The handle a transaction callback receives: SQL over the local replica,
 * valid only until its transaction ends.
 *
 * @module
 */
import type Database from 'better-sqlite3'
import { CorruptError, InvalidArgumentError, ReadOnlyError, S3dbError } from './errors.js'
import { isSqliteDamage, reportDamagedReplica } from './replica/local-replica.js'
import {
  allToNumbers,
  anyMayBeRounded,
  mayBeRounded,
  type ResultColumn,
  toNumbers,
} from './safe-integers.js'

/** Positional (`?`) or named (`:name`, `@name`, `$name`) parameters. */
export type SqlParams = readonly unknown[] | Record<string, unknown>

/** Result of a statement that changes rows. */
export interface RunResult {
  /** Rows changed by the statement. */
  changes: number
  /** Rowid of the last inserted row. */
  lastInsertRowid: number | bigint
}

/** Column metadata of a prepared statement's result. */
export interface ColumnInfo {
  name: string
  column: string | null
  table: string | null
  database: string | null
  type: string | null
}

/**
 * A statement prepared within a transaction; invalid after it ends.
 *
 * INTEGER values are read as numbers unless {@link Statement.safeIntegers} (or
 * the database's `safeIntegers` option) asks for bigint. A number cannot hold
 * an integer beyond Number.MAX_SAFE_INTEGER exactly, so reading one as a number
 * raises UnsafeIntegerError instead of returning a rounded value.
 */
export interface Statement<Row = Record<string, unknown>> {
  /** True when the statement returns rows. */
  readonly reader: boolean
  /** True when the statement cannot change the database. */
  readonly readonly: boolean
  /**
   * `run`'s `lastInsertRowid` is a number, or a bigint when it is beyond the
   * safe range or the statement reads bigints.
   */
  run(params?: SqlParams): RunResult
  all(params?: SqlParams): Row[]
  get(params?: SqlParams): Row | undefined
  iterate(params?: SqlParams): IterableIterator<Row>
  /** Rows as arrays of column values, in column order. */
  values(params?: SqlParams): unknown[][]
  columns(): ColumnInfo[]
  /**
   * Reads INTEGER values as `bigint` (`true`, also with no argument) or as
   * numbers (`false`; one beyond the safe range raises UnsafeIntegerError), for
   * this statement handle, like better-sqlite3's `safeIntegers()`. REAL values
   * stay numbers. Starts from the database's `safeIntegers` option. Returns the
   * statement.
   */
  safeIntegers(toggle?: boolean): this
}

/**
 * SQL access inside `update` or `view`. Everything runs on the local replica, so
 * calls are synchronous and fast. In `update`, the callback may run more than
 * once (on conflict it is re-run on the newer state): keep side effects out of it.
 *
 * INTEGER values are read as numbers, and one beyond Number.MAX_SAFE_INTEGER
 * raises UnsafeIntegerError rather than being rounded; with the database's
 * `safeIntegers` option (or `prepare(sql).safeIntegers()` for one statement)
 * they are read as bigint. Parameters may be bigint: they are bound exactly.
 */
export interface Tx {
  /** True inside `view`: writes are rejected. */
  readonly readonly: boolean
  run(sql: string, params?: SqlParams): RunResult
  all<Row = Record<string, unknown>>(sql: string, params?: SqlParams): Row[]
  get<Row = Record<string, unknown>>(sql: string, params?: SqlParams): Row | undefined
  iterate<Row = Record<string, unknown>>(sql: string, params?: SqlParams): IterableIterator<Row>
  /** Runs one or more statements without parameters (DDL, scripts). */
  exec(sql: string): void
  prepare<Row = Record<string, unknown>>(sql: string): Statement<Row>
}

/** A transaction handle used after its transaction ended. */
export class TransactionEndedError extends S3dbError {
  constructor() {
    super(
      'InvalidArgument',
      'this transaction has ended: use the tx handle only inside its callback (and await everything in it)',
    )
  }
}

/** Statements that would end s3db's own transaction from inside a callback. */
const TX_CONTROL =
  /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(begin|commit|end|rollback(?!\s+(?:transaction\s+)?to\b))\b/i

/**
 * A cached statement and the integer and row modes it was last set to:
 * setting a mode only when it changes keeps it off the path of repeated point
 * queries.
 */
interface CachedStatement {
  readonly stmt: Database.Statement
  bigints: boolean
  /** Rows as arrays (better-sqlite3's raw mode); only returning statements can be raw. */
  raw: boolean
}

/** Caches prepared statements per connection: preparing is the costly part of a query. */
class StatementCache {
  readonly #db: Database.Database
  readonly #cache = new Map<string, CachedStatement>()
  readonly #max: number

  constructor(db: Database.Database, max = 256) {
    this.#db = db
    this.#max = max
  }

  get(sql: string): CachedStatement {
    let entry = this.#cache.get(sql)
    if (entry) {
      // Move to the back: least recently used statements are evicted first.
      this.#cache.delete(sql)
      this.#cache.set(sql, entry)
      return entry
    }
    const stmt = this.#db.prepare(sql)
    entry = { stmt, bigints: false, raw: false }
    stmt.safeIntegers(false)
    this.#cache.set(sql, entry)
    if (this.#cache.size > this.#max) this.#cache.delete(this.#cache.keys().next().value as string)
    return entry
  }
}

const caches = new WeakMap<Database.Database, StatementCache>()

/** The statement cache of a connection (made on first use, gone with the connection). */
function statementsOf(db: Database.Database): StatementCache {
  let cache = caches.get(db)
  if (!cache) {
    cache = new StatementCache(db)
    caches.set(db, cache)
  }
  return cache
}

function call<T>(
  stmt: Database.Statement,
  method: 'run' | 'all' | 'get' | 'iterate',
  params?: SqlParams,
): T {
  const fn = stmt[method] as (...args: unknown[]) => T
  if (params === undefined) return fn.call(stmt)
  if (Array.isArray(params)) return fn.apply(stmt, params)
  return fn.call(stmt, params)
}

/** Hooks the write path needs around every statement. */
export interface TxHooks {
  /** Called after a statement that may have changed the database. */
  afterWrite(): void
  /**
   * Runs a statement that alters a table. Change-capture triggers name the
   * table's columns, so SQLite would refuse e.g. DROP COLUMN while they exist.
   */
  alterTable<T>(run: () => T): T
  /**
   * Called for every statement the callback runs: `changes` is what a `run`
   * changed, undefined for anything else (a read, `exec`, a prepared statement,
   * a statement that failed).
   */
  statement?(sql: string, params: SqlParams | undefined, changes: number | undefined): void
}

/** ALTER TABLE anywhere in the SQL (false positives only cost a snapshot commit). */
const ALTER_TABLE = /\balter\s+table\b/i

/** Options of a {@link ConnectionTx}. */
export interface ConnectionTxOptions {
  /** Read INTEGER values as bigint by default (the database's `safeIntegers` option). */
  safeIntegers?: boolean | undefined
}

/** The Tx implementation over one better-sqlite3 connection. */
export class ConnectionTx implements Tx {
  readonly readonly: boolean
  readonly #db: Database.Database
  readonly #statements: StatementCache
  readonly #hooks: TxHooks | undefined
  readonly #safeIntegers: boolean
  #active = true

  constructor(
    db: Database.Database,
    readonly: boolean,
    hooks?: TxHooks,
    options: ConnectionTxOptions = {},
  ) {
    this.#db = db
    this.#statements = statementsOf(db)
    this.readonly = readonly
    this.#hooks = hooks
    this.#safeIntegers = options.safeIntegers ?? false
  }

  /** Ends the handle: every later call throws. */
  end(): void {
    this.#active = false
  }

  // The one-call methods skip the statement handle: point queries are hot.

  run(sql: string, params?: SqlParams): RunResult {
    const entry = this.#prepared(sql)
    let changes: number | undefined
    try {
      const result = this.#execute(sql, entry, () => runOn(entry, this.#safeIntegers, params))
      changes = result.changes
      return result
    } finally {
      this.#hooks?.statement?.(sql, params, changes)
    }
  }

  all<Row>(sql: string, params?: SqlParams): Row[] {
    const entry = this.#prepared(sql)
    this.#hooks?.statement?.(sql, params, undefined)
    return this.#execute(sql, entry, () => allOn<Row>(entry, this.#safeIntegers, params))
  }

  get<Row>(sql: string, params?: SqlParams): Row | undefined {
    const entry = this.#prepared(sql)
    this.#hooks?.statement?.(sql, params, undefined)
    return this.#execute(sql, entry, () => getOn<Row>(entry, this.#safeIntegers, params))
  }

  iterate<Row>(sql: string, params?: SqlParams): IterableIterator<Row> {
    const entry = this.#prepared(sql)
    this.#hooks?.statement?.(sql, params, undefined)
    return this.#execute(sql, entry, () => iterateOn<Row>(entry, this.#safeIntegers, params))
  }

  exec(sql: string): void {
    this.#check(sql)
    this.#hooks?.statement?.(sql, undefined, undefined)
    this.#guard(() => this.#altering(sql, () => this.#db.exec(sql)), true)
  }

  prepare<Row>(sql: string): Statement<Row> {
    const entry = this.#prepared(sql)
    this.#hooks?.statement?.(sql, undefined, undefined)
    const execute = <T>(fn: () => T): T => this.#execute(sql, entry, fn)
    return new TxStatement<Row>(entry, execute, this.#safeIntegers)
  }

  #prepared(sql: string): CachedStatement {
    this.#check(sql)
    return this.#guard(() => this.#statements.get(sql), false)
  }

  /** Runs `fn`, a use of `entry`'s statement, as a statement of this transaction. */
  #execute<T>(sql: string, entry: CachedStatement, fn: () => T): T {
    if (!this.#active) throw new TransactionEndedError()
    return this.#guard(() => this.#altering(sql, fn), !entry.stmt.readonly)
  }

  #check(sql: string): void {
    if (!this.#active) throw new TransactionEndedError()
    if (typeof sql !== 'string') throw new InvalidArgumentError('SQL must be a string')
    if (TX_CONTROL.test(sql)) {
      throw new InvalidArgumentError(
        's3db runs each callback in its own transaction: BEGIN/COMMIT/ROLLBACK are not allowed inside it (SAVEPOINT is)',
      )
    }
  }

  #altering<T>(sql: string, run: () => T): T {
    return this.#hooks && ALTER_TABLE.test(sql) ? this.#hooks.alterTable(run) : run()
  }

  #guard<T>(fn: () => T, writes: boolean): T {
    try {
      return fn()
    } catch (err) {
      if (this.readonly && isReadonlyViolation(err)) {
        throw new ReadOnlyError('cannot write inside view(): use update() for writes', {
          cause: err,
        })
      }
      throw replicaError(this.#db, err)
    } finally {
      if (writes && !this.readonly) this.#hooks?.afterWrite()
    }
  }
}

/**
 * One prepared statement as a transaction hands it out. The underlying
 * better-sqlite3 statement is cached and shared by every handle for the same
 * SQL, so each call sets the integer mode it runs with.
 */
class TxStatement<Row> implements Statement<Row> {
  readonly reader: boolean
  readonly readonly: boolean
  readonly #entry: CachedStatement
  /** Runs `fn` as a statement of the transaction (active check, read-only and write hooks). */
  readonly #execute: <T>(fn: () => T) => T
  #bigints: boolean

  constructor(entry: CachedStatement, execute: <T>(fn: () => T) => T, bigints: boolean) {
    this.#entry = entry
    this.#execute = execute
    this.#bigints = bigints
    this.reader = entry.stmt.reader
    this.readonly = entry.stmt.readonly
  }

  safeIntegers(toggle = true): this {
    if (typeof toggle !== 'boolean') throw new InvalidArgumentError('safeIntegers takes a boolean')
    this.#bigints = toggle
    return this
  }

  run(params?: SqlParams): RunResult {
    return this.#execute(() => runOn(this.#entry, this.#bigints, params))
  }

  all(params?: SqlParams): Row[] {
    return this.#execute(() => allOn<Row>(this.#entry, this.#bigints, params))
  }

  get(params?: SqlParams): Row | undefined {
    return this.#execute(() => getOn<Row>(this.#entry, this.#bigints, params))
  }

  iterate(params?: SqlParams): IterableIterator<Row> {
    return this.#execute(() => iterateOn<Row>(this.#entry, this.#bigints, params))
  }

  values(params?: SqlParams): unknown[][] {
    return this.#execute(() => allOn<unknown[]>(this.#entry, this.#bigints, params, true))
  }

  columns(): ColumnInfo[] {
    return this.#entry.stmt.columns() as ColumnInfo[]
  }
}

/*
 * Running a cached statement in an integer mode. With bigints it simply runs
 * so. With numbers, a read-only statement runs with numbers and is read again
 * with bigints only when the result may hold a rounded integer; any other
 * statement must not run twice, so it reads bigints and converts them.
 */

function runOn(entry: CachedStatement, bigints: boolean, params?: SqlParams): RunResult {
  // Always with bigints: as a number, a rowid beyond 2^53 would be rounded.
  const result = call<RunResult>(withMode(entry, true), 'run', params)
  const id = result.lastInsertRowid
  if (bigints || typeof id !== 'bigint') return result
  const n = Number(id)
  return { changes: result.changes, lastInsertRowid: Number.isSafeInteger(n) ? n : id }
}

function allOn<R>(entry: CachedStatement, bigints: boolean, params?: SqlParams, raw = false): R[] {
  if (bigints) return call<R[]>(withMode(entry, true, raw), 'all', params)
  if (entry.stmt.readonly) {
    const rows = call<R[]>(withMode(entry, false, raw), 'all', params)
    if (!anyMayBeRounded(rows)) return rows
  }
  return allToNumbers(call<R[]>(withMode(entry, true, raw), 'all', params), columnsOf(entry))
}

function getOn<R>(entry: CachedStatement, bigints: boolean, params?: SqlParams): R | undefined {
  if (bigints) return call<R | undefined>(withMode(entry, true), 'get', params)
  if (entry.stmt.readonly) {
    const row = call<R | undefined>(withMode(entry, false), 'get', params)
    if (row === undefined || !mayBeRounded(row)) return row
  }
  const row = call<R | undefined>(withMode(entry, true), 'get', params)
  return row === undefined ? row : toNumbers(row, columnsOf(entry))
}

function iterateOn<R>(
  entry: CachedStatement,
  bigints: boolean,
  params?: SqlParams,
): IterableIterator<R> {
  const rows = call<IterableIterator<R>>(withMode(entry, true), 'iterate', params)
  // Rows are yielded before the whole result is known, so a re-read cannot
  // replace them: read bigints and convert each row.
  return bigints ? rows : numbersOf(rows, columnsOf(entry))
}

/**
 * The statement, set to read integers as bigints or not and rows as arrays or
 * not (each set only when it changes).
 */
function withMode(entry: CachedStatement, bigints: boolean, raw = false): Database.Statement {
  if (entry.bigints !== bigints) {
    entry.stmt.safeIntegers(bigints)
    entry.bigints = bigints
  }
  if (entry.raw !== raw) {
    entry.stmt.raw(raw)
    entry.raw = raw
  }
  return entry.stmt
}

function columnsOf(entry: CachedStatement): () => ResultColumn[] {
  return () => entry.stmt.columns()
}

/**
 * `rows` with their bigints converted to numbers (UnsafeIntegerError when
 * inexact). `return()` reaches the statement's own iterator even before the
 * first row, and a failed conversion ends it, so the statement is never left
 * busy.
 */
function numbersOf<Row>(
  rows: IterableIterator<Row>,
  columns: () => ResultColumn[],
): IterableIterator<Row> {
  const close = () => {
    rows.return?.()
  }
  const iterator: IterableIterator<Row> = {
    next: () => {
      const step = rows.next()
      if (step.done) return step
      try {
        toNumbers(step.value, columns)
      } catch (err) {
        close()
        throw err
      }
      return step
    },
    return: (value?: unknown) => {
      close()
      return { done: true, value }
    },
    [Symbol.iterator]: () => iterator,
  }
  return iterator
}

/**
 * The error to report for `err`, raised by SQLite on a replica connection:
 * damage to the file (SQLITE_CORRUPT, SQLITE_NOTADB) becomes `CorruptError`
 * with what to do, and makes the replica rebuild from the store; anything else
 * is returned unchanged.
 */
export function replicaError(db: Database.Database, err: unknown): unknown {
  if (!isSqliteDamage(err)) return err
  reportDamagedReplica(db)
  return new CorruptError(
    `the local replica is damaged (${(err as Error).message}); it is rebuilt from the store on the next view or update, so retry. If this repeats, the database in the store is damaged: restore its snapshot, or push a good copy`,
    { cause: err },
  )
}

function isReadonlyViolation(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? ''
  return (
    code.startsWith('SQLITE_READONLY') ||
    /readonly database|query_only/i.test((err as Error)?.message ?? '')
  )
}
