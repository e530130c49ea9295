/**
 * A transaction whose statements arrive one by one from outside a callback
 * (Kysely's `startTransaction()`, `connection()` and its own TransactionBuilder
 * on a plain Kysely). s3db transactions are callbacks, so this runs one whose
 * body waits for commit or rollback.
 *
 * Such a transaction cannot be replayed: its statements were issued by code
 * that already saw their results. When its commit loses the race to another
 * writer, s3db would re-run the callback on the newer state; the second run
 * throws WriteConflictError instead, so the transaction is rolled back and
 * fails rather than committing work computed on stale data.
 *
 * @module
 */
import { type S3db, type Tx, WriteConflictError } from '@s3db/core'
import type { TransactionMode } from './transaction-settings.js'

/** Symbol Kysely (>= 0.29) uses to recognise "the database rolled back instead of committing". */
const KYSELY_ABORTED = Symbol.for('kysely.AbortedTransactionError')

/** Thrown inside the callback to roll it back on request; never reaches callers. */
class RollbackRequested extends Error {}

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  reject(reason: unknown): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** The error a held transaction fails with when its commit lost the race. */
function notReplayable(): WriteConflictError {
  return new WriteConflictError(
    1,
    'another writer committed first and this transaction cannot be re-run (it was started with startTransaction(), connection() or a Kysely instance without S3dbKysely), so it was rolled back and nothing was committed; run it again, or use S3dbKysely#transaction().execute(fn), which re-runs fn on conflict',
  )
}

/** An open s3db transaction driven statement by statement; end it with commit or rollback. */
export class HeldTransaction {
  /** The transaction's SQL handle, valid until commit or rollback. */
  readonly tx: Tx
  readonly mode: TransactionMode
  readonly #end: Deferred<'commit' | 'rollback'>
  readonly #done: Promise<unknown>
  #ended = false

  private constructor(
    tx: Tx,
    mode: TransactionMode,
    end: Deferred<'commit' | 'rollback'>,
    done: Promise<unknown>,
  ) {
    this.tx = tx
    this.mode = mode
    this.#end = end
    this.#done = done
  }

  /**
   * Starts a transaction on `s3db` and resolves once it is open (for an update:
   * once it holds the writer).
   */
  static async begin(
    s3db: S3db,
    mode: TransactionMode,
    signal?: AbortSignal,
  ): Promise<HeldTransaction> {
    const ready = deferred<Tx>()
    const end = deferred<'commit' | 'rollback'>()
    let runs = 0
    let requested: 'commit' | 'rollback' | undefined
    const body = async (tx: Tx) => {
      runs++
      if (runs > 1) {
        if (requested === 'rollback') throw new RollbackRequested()
        throw notReplayable()
      }
      ready.resolve(tx)
      requested = await end.promise
      if (requested === 'rollback') throw new RollbackRequested()
    }
    const done = mode === 'view' ? s3db.view(body, { signal }) : s3db.update(body, { signal })
    // Failing before the body ran (closed database, store error): begin fails.
    done.catch((err: unknown) => ready.reject(err))
    const tx = await ready.promise
    return new HeldTransaction(tx, mode, end, done)
  }

  /** True once commit or rollback was requested. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * Commits; resolves once the commit is durable. A lost race rejects with
   * WriteConflictError (nothing committed); any failure means the transaction
   * is over and nothing of it was committed, unless it is a
   * CommitIndeterminateError.
   */
  async commit(): Promise<void> {
    this.#finish('commit')
    try {
      await this.#done
    } catch (err) {
      throw markAborted(err)
    }
  }

  /** Rolls back; nothing of the transaction is published. A no-op once it ended. */
  async rollback(): Promise<void> {
    if (this.#ended) {
      await this.#done.catch(() => {})
      return
    }
    this.#finish('rollback')
    try {
      await this.#done
    } catch (err) {
      if (!(err instanceof RollbackRequested)) throw err
    }
  }

  #finish(outcome: 'commit' | 'rollback'): void {
    if (this.#ended) throw new Error(`the transaction has already ended; cannot ${outcome}`)
    this.#ended = true
    this.#end.resolve(outcome)
  }
}

/**
 * Tags a commit failure so Kysely marks its transaction as finished (its
 * rollback() then succeeds without another round trip) while callers still
 * see s3db's typed error.
 */
function markAborted(err: unknown): unknown {
  if (err !== null && typeof err === 'object' && Object.isExtensible(err)) {
    Object.defineProperty(err, KYSELY_ABORTED, { value: true, enumerable: false })
  }
  return err
}
