/**
 * The DatabaseConnection Kysely runs queries on. A connection is a routing
 * handle, not a SQLite connection: unbound, each statement runs on its own
 * (read-only ones in an `S3db.view`, others as a single-statement `S3db.update`);
 * bound to a transaction, statements run on that transaction's `Tx`.
 *
 * @module
 */
import { InvalidArgumentError, type S3db, type Tx } from '@s3db/core'
import { viewNow } from '@s3db/core/internal'
import {
  type AbortableOperationOptions,
  type CompiledQuery,
  type DatabaseConnection,
  type QueryResult,
  SelectQueryNode,
  type TransactionSettings,
} from 'kysely'
import { HeldTransaction } from './held-transaction.js'
import { assertOutsideTransaction } from './reentrancy.js'
import { executeOn, executePrepared, iterateOn } from './statement.js'
import { statementKindsOf } from './statement-kinds.js'
import { StreamHandoff } from './stream-handoff.js'
import { transactionMode } from './transaction-settings.js'

/** What a bound connection runs on. */
interface Binding {
  readonly tx: Tx
  /** Set when the connection itself opened the transaction (controlled transactions). */
  readonly held: HeldTransaction | undefined
  /** Transactions begun on top of this one, each a savepoint. */
  nested: number
}

const WRITE = Symbol('write')

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function endedError(): InvalidArgumentError {
  return new InvalidArgumentError(
    'this Kysely transaction or connection has ended: run queries on it only inside its callback (or before commit/rollback), and await them',
  )
}

/** A Kysely connection over an S3db. */
export class S3dbConnection implements DatabaseConnection {
  readonly #s3db: S3db
  #binding: Binding | undefined
  #released = false

  constructor(s3db: S3db) {
    this.#s3db = s3db
  }

  async executeQuery<R>(
    query: CompiledQuery,
    options?: AbortableOperationOptions,
  ): Promise<QueryResult<R>> {
    if (this.#released) throw endedError()
    const binding = this.#binding
    if (binding) return executeOn<R>(binding.tx, query)
    return this.#executeAlone<R>(query, options?.signal)
  }

  async *streamQuery<R>(
    query: CompiledQuery,
    chunkSize: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    if (this.#released) throw endedError()
    if (!SelectQueryNode.is(query.query)) {
      throw new InvalidArgumentError('s3db can only stream select queries (as Kysely on SQLite)')
    }
    const size = Math.max(1, Math.floor(chunkSize) || 1)
    const binding = this.#binding
    if (binding) {
      for (const rows of iterateOn<R>(binding.tx, query, size)) yield { rows }
      return
    }
    yield* this.#streamAlone<R>(query, size, options?.signal)
  }

  /**
   * Binds the connection to `tx` (one run of a transaction callback). The
   * returned connection works only while this binding is current, so a
   * transaction object that leaks out of its callback run cannot reach a later
   * run or run statements on their own.
   */
  bind(tx: Tx): { connection: DatabaseConnection; unbind(): void } {
    if (this.#binding) throw new Error('s3db: connection is already in a transaction')
    const binding: Binding = { tx, held: undefined, nested: 0 }
    this.#binding = binding
    const current = () => {
      if (this.#binding !== binding) throw endedError()
    }
    const connection: DatabaseConnection = {
      executeQuery: (query, options) => {
        current()
        return this.executeQuery(query, options)
      },
      streamQuery: (query, chunkSize, options) => {
        current()
        return this.streamQuery(query, chunkSize, options)
      },
    }
    return {
      connection,
      unbind: () => {
        if (this.#binding === binding) this.#binding = undefined
      },
    }
  }

  /** Kysely's beginTransaction: opens a held s3db transaction, or a savepoint when already in one. */
  async begin(settings: TransactionSettings, signal?: AbortSignal): Promise<void> {
    if (this.#released) throw endedError()
    const mode = transactionMode(settings)
    const binding = this.#binding
    if (binding) {
      if (mode === 'update' && binding.tx.readonly) {
        throw new InvalidArgumentError(
          'cannot begin a read-write transaction inside a read-only one',
        )
      }
      binding.nested++
      binding.tx.exec(`SAVEPOINT ${nestedName(binding.nested)}`)
      return
    }
    assertOutsideTransaction(this.#s3db)
    const held = await HeldTransaction.begin(this.#s3db, mode, signal)
    this.#binding = { tx: held.tx, held, nested: 0 }
  }

  /** Kysely's commitTransaction. */
  async commit(): Promise<void> {
    const binding = this.#requireBinding('commit')
    if (binding.nested > 0) {
      binding.tx.exec(`RELEASE ${nestedName(binding.nested)}`)
      binding.nested--
      return
    }
    const held = this.#requireHeld(binding, 'commit')
    this.#binding = undefined
    await held.commit()
  }

  /** Kysely's rollbackTransaction. */
  async rollback(): Promise<void> {
    const binding = this.#binding
    // Already ended (a failed commit): nothing left to roll back.
    if (!binding) return
    if (binding.nested > 0) {
      const name = nestedName(binding.nested)
      binding.tx.exec(`ROLLBACK TO ${name}`)
      binding.tx.exec(`RELEASE ${name}`)
      binding.nested--
      return
    }
    const held = this.#requireHeld(binding, 'roll back')
    this.#binding = undefined
    await held.rollback()
  }

  /** Runs SAVEPOINT, ROLLBACK TO or RELEASE for a named savepoint. */
  savepointCommand(command: 'SAVEPOINT' | 'ROLLBACK TO' | 'RELEASE', name: string): void {
    const binding = this.#requireBinding(command.toLowerCase())
    binding.tx.exec(`${command} ${quoteIdentifier(name)}`)
  }

  /** Kysely released the connection: a transaction still open on it is rolled back. */
  async release(): Promise<void> {
    this.#released = true
    const held = this.#binding?.held
    this.#binding = undefined
    if (held && !held.ended) await held.rollback()
  }

  #requireBinding(what: string): Binding {
    if (this.#released) throw endedError()
    const binding = this.#binding
    if (!binding) throw new InvalidArgumentError(`cannot ${what}: no transaction is open`)
    return binding
  }

  #requireHeld(binding: Binding, what: string): HeldTransaction {
    if (!binding.held) {
      throw new InvalidArgumentError(
        `cannot ${what} a transaction run by transaction().execute(fn) from inside it: return from fn to commit, throw to roll back`,
      )
    }
    return binding.held
  }

  /** One statement outside a transaction: a view when read-only, else its own update. */
  async #executeAlone<R>(query: CompiledQuery, signal?: AbortSignal): Promise<QueryResult<R>> {
    assertOutsideTransaction(this.#s3db)
    const kinds = statementKindsOf(this.#s3db)
    const known = kinds.isReadonly(query.sql)
    if (known !== false) {
      // Unknown SQL is prepared on a reader first: that tells whether it writes.
      const read = (tx: Tx) => {
        const stmt = tx.prepare<R>(query.sql)
        if (known === undefined) kinds.remember(query.sql, stmt.readonly)
        return stmt.readonly ? executePrepared(stmt, query) : WRITE
      }
      // Synchronously when the replica may answer as it is (an aborted signal
      // goes through view, which reports it).
      const now = signal?.aborted ? undefined : this.#s3db[viewNow](read)
      const result = now ? now.value : await this.#s3db.view(read, { signal })
      if (result !== WRITE) return result
    }
    return this.#s3db.update((tx) => executeOn<R>(tx, query), { signal })
  }

  /** Streams a select outside a transaction from a view that stays open while rows are pulled. */
  async *#streamAlone<R>(
    query: CompiledQuery,
    chunkSize: number,
    signal?: AbortSignal,
  ): AsyncGenerator<QueryResult<R>> {
    assertOutsideTransaction(this.#s3db)
    const handoff = new StreamHandoff<R[]>()
    const reading = this.#s3db.view(
      async (tx) => {
        for (const rows of iterateOn<R>(tx, query, chunkSize)) {
          if (!(await handoff.put(rows))) return
        }
      },
      { signal },
    )
    reading.then(
      () => handoff.close(),
      (err: unknown) => handoff.fail(err),
    )
    try {
      for (;;) {
        const next = await handoff.take()
        if (next.done) return
        yield { rows: next.value }
      }
    } finally {
      handoff.cancel()
      await reading.catch(() => {})
    }
  }
}

function nestedName(depth: number): string {
  return `kysely_s3db_nested_${depth}`
}
