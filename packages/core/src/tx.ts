/**
 * The handle a transaction callback receives: SQL over the local replica,
 * valid only until its transaction ends.
 *
 * @module
 */
import type Database from 'better-sqlite3'
import { InvalidArgumentError, ReadOnlyError, S3dbError } from './errors.js'

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

/** A statement prepared within a transaction; invalid after it ends. */
export interface Statement<Row = Record<string, unknown>> {
  /** True when the statement returns rows. */
  readonly reader: boolean
  /** True when the statement cannot change the database. */
  readonly readonly: boolean
  run(params?: SqlParams): RunResult
  all(params?: SqlParams): Row[]
  get(params?: SqlParams): Row | undefined
  iterate(params?: SqlParams): IterableIterator<Row>
  /** Rows as arrays of column values, in column order. */
  values(params?: SqlParams): unknown[][]
  columns(): ColumnInfo[]
}

/**
 * SQL access inside `update` or `view`. Everything runs on the local replica, so
 * calls are synchronous and fast. In `update`, the callback may run more than
 * once (on conflict it is re-run on the newer state): keep side effects out of it.
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

/** Caches prepared statements per connection: preparing is the costly part of a query. */
class StatementCache {
  readonly #db: Database.Database
  readonly #cache = new Map<string, Database.Statement>()
  readonly #max: number

  constructor(db: Database.Database, max = 256) {
    this.#db = db
    this.#max = max
  }

  get(sql: string): Database.Statement {
    let stmt = this.#cache.get(sql)
    if (stmt) {
      // Move to the back: least recently used statements are evicted first.
      this.#cache.delete(sql)
      this.#cache.set(sql, stmt)
      return stmt
    }
    stmt = this.#db.prepare(sql)
    this.#cache.set(sql, stmt)
    if (this.#cache.size > this.#max) this.#cache.delete(this.#cache.keys().next().value as string)
    return stmt
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
}

/** ALTER TABLE anywhere in the SQL (false positives only cost a snapshot commit). */
const ALTER_TABLE = /\balter\s+table\b/i

/** The Tx implementation over one better-sqlite3 connection. */
export class ConnectionTx implements Tx {
  readonly readonly: boolean
  readonly #db: Database.Database
  readonly #statements: StatementCache
  readonly #hooks: TxHooks | undefined
  #active = true

  constructor(db: Database.Database, readonly: boolean, hooks?: TxHooks) {
    this.#db = db
    this.#statements = statementsOf(db)
    this.readonly = readonly
    this.#hooks = hooks
  }

  /** Ends the handle: every later call throws. */
  end(): void {
    this.#active = false
  }

  run(sql: string, params?: SqlParams): RunResult {
    return this.#stmt(sql).run(params)
  }

  all<Row>(sql: string, params?: SqlParams): Row[] {
    return this.#stmt<Row>(sql).all(params)
  }

  get<Row>(sql: string, params?: SqlParams): Row | undefined {
    return this.#stmt<Row>(sql).get(params)
  }

  iterate<Row>(sql: string, params?: SqlParams): IterableIterator<Row> {
    return this.#stmt<Row>(sql).iterate(params)
  }

  exec(sql: string): void {
    this.#check(sql)
    this.#guard(() => this.#altering(sql, () => this.#db.exec(sql)), true)
  }

  prepare<Row>(sql: string): Statement<Row> {
    return this.#stmt<Row>(sql)
  }

  #stmt<Row>(sql: string): Statement<Row> {
    this.#check(sql)
    const stmt = this.#guard(() => this.#statements.get(sql), false)
    const writes = !stmt.readonly
    const run = <T>(method: 'run' | 'all' | 'get' | 'iterate', params?: SqlParams): T => {
      if (!this.#active) throw new TransactionEndedError()
      return this.#guard(() => this.#altering(sql, () => call<T>(stmt, method, params)), writes)
    }
    return {
      reader: stmt.reader,
      readonly: stmt.readonly,
      run: (params) => run<RunResult>('run', params),
      all: (params) => run<Row[]>('all', params),
      get: (params) => run<Row | undefined>('get', params),
      iterate: (params) => run<IterableIterator<Row>>('iterate', params),
      values: (params) => {
        if (!this.#active) throw new TransactionEndedError()
        stmt.raw(true)
        try {
          return this.#guard(() => call<unknown[][]>(stmt, 'all', params), writes)
        } finally {
          stmt.raw(false)
        }
      },
      columns: () => stmt.columns() as ColumnInfo[],
    }
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
      throw err
    } finally {
      if (writes && !this.readonly) this.#hooks?.afterWrite()
    }
  }
}

function isReadonlyViolation(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? ''
  return (
    code.startsWith('SQLITE_READONLY') ||
    /readonly database|query_only/i.test((err as Error)?.message ?? '')
  )
}
