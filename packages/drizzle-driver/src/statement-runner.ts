/**
 * Where a drizzle statement runs. Inside a transaction callback: on that
 * transaction's s3db `Tx`. Outside one: read-only statements as a `view`,
 * anything else as its own single-statement `update`.
 *
 * @module
 */
import type { RunResult, S3db, SqlParams, Statement, Tx } from '@s3db/core'
import { ReentrantTransactionError, TransactionEndedError } from '@s3db/core'
import { insideTransaction, viewNow } from '@s3db/core/internal'
import { type IntegerReading, toNumbersExcept } from './exact-integers.js'

/**
 * How a statement's result is read: `run` (changes), `all`/`get` (rows as
 * objects), `values` (rows as arrays), `first` (the first row as an array).
 */
export type RunMethod = 'run' | 'all' | 'get' | 'values' | 'first'

/**
 * Runs SQL somewhere: a transaction, or a view/update of its own. `integers`
 * (only with `values` and `first`) says which columns read integers as bigint;
 * without it the database's `safeIntegers` option decides.
 */
export interface StatementRunner {
  execute(sql: string, params: unknown[], method: RunMethod, integers?: IntegerReading): unknown
}

/** Runs a prepared statement with the method drizzle asked for. */
export function runStatement(
  stmt: Statement,
  params: unknown[],
  method: RunMethod,
  integers?: IntegerReading,
): RunResult | unknown[] | unknown {
  if (!integers) return runMethod(stmt, params, method)
  const columns = () => stmt.columns()
  const exact = integers.exact(columns)
  // No column wants bigints: s3db's checked numbers (UnsafeIntegerError names the column).
  const bigints = exact.includes(true)
  const result = runMethod(stmt.safeIntegers(bigints), params, method) as unknown[][] | unknown[]
  if (result === undefined) return result
  const rows = method === 'first' ? [result as unknown[]] : (result as unknown[][])
  if (bigints) toNumbersExcept(rows, exact, columns)
  integers.check?.(rows, columns)
  return result
}

function runMethod(stmt: Statement, params: unknown[], method: RunMethod): unknown {
  const args = params as SqlParams
  switch (method) {
    case 'run':
      return stmt.run(args)
    case 'all':
      return stmt.all(args)
    case 'get':
      return stmt.get(args)
    case 'values':
      return stmt.values(args)
    case 'first':
      // s3db's Statement has no raw single-row read: take the first of all rows.
      return stmt.values(args)[0]
  }
}

/**
 * Throws when the outer drizzle `db` is used inside one of its own transaction
 * callbacks: that would queue behind the running transaction on the single
 * writer and deadlock (and would not be part of the transaction anyway).
 */
export function assertOutsideTransaction(db: S3db, what: string): void {
  const inside = insideTransaction.getStore()
  if (inside?.db === db && inside.mode === 'update') {
    throw new ReentrantTransactionError(
      `${what} was called on the outer drizzle db inside one of its transactions (db.transaction, db.batch or migrate), which would deadlock: use the \`tx\` argument of the transaction callback instead`,
    )
  }
}

/** The statements of one transaction callback; invalid once it returned. */
export class TransactionScope implements StatementRunner {
  #tx: Tx | undefined

  constructor(tx: Tx) {
    this.#tx = tx
  }

  /** The s3db transaction, or TransactionEndedError once the callback returned. */
  get tx(): Tx {
    if (!this.#tx) throw new TransactionEndedError()
    return this.#tx
  }

  end(): void {
    this.#tx = undefined
  }

  execute(sql: string, params: unknown[], method: RunMethod, integers?: IntegerReading): unknown {
    return runStatement(this.tx.prepare(sql), params, method, integers)
  }
}

const WRITES = Symbol('writes')
const MAX_REMEMBERED = 1000

/**
 * Statements outside a transaction. A statement is first tried as a read
 * (synchronously when the replica may answer as it is, else in a `view`); if
 * SQLite says it may write, it runs as a single-statement `update` instead
 * (which may re-run it on conflict), and that is remembered per SQL text so
 * later writes go straight to `update`.
 */
export class AutocommitRunner implements StatementRunner {
  readonly #db: S3db
  readonly #writes = new Map<string, boolean>()

  constructor(db: S3db) {
    this.#db = db
  }

  /** The result, synchronously when a read can be answered now; else a promise. */
  execute(sql: string, params: unknown[], method: RunMethod, integers?: IntegerReading): unknown {
    assertOutsideTransaction(this.#db, 'a query')
    if (this.#writes.get(sql) === true) return this.#update(sql, params, method, integers)
    const read = (tx: Tx) => {
      const stmt = tx.prepare(sql)
      return stmt.readonly ? runStatement(stmt, params, method, integers) : WRITES
    }
    const now = this.#db[viewNow](read)
    if (now && now.value !== WRITES) return now.value
    if (now) return this.#written(sql, params, method, integers)
    return this.#db
      .view(read)
      .then((result) => (result === WRITES ? this.#written(sql, params, method, integers) : result))
  }

  /** A statement SQLite says may write: remembered, then run as its own update. */
  #written(sql: string, params: unknown[], method: RunMethod, integers?: IntegerReading) {
    if (this.#writes.size >= MAX_REMEMBERED) this.#writes.clear()
    this.#writes.set(sql, true)
    return this.#update(sql, params, method, integers)
  }

  #update(sql: string, params: unknown[], method: RunMethod, integers?: IntegerReading) {
    return this.#db.update((tx) => runStatement(tx.prepare(sql), params, method, integers))
  }
}
