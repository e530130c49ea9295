/**
 * drizzle-orm's SQLite session, transaction and prepared query over s3db, in
 * async mode. Transactions are `S3db.update` calls: serializable, re-run on
 * conflict, published with one compare-and-swap.
 *
 * @module
 */
import type { RunResult, S3db } from '@s3db/core'
import { isS3dbError } from '@s3db/core'
import type { BatchItem } from 'drizzle-orm/batch'
import { entityKind, is } from 'drizzle-orm/entity'
import { DrizzleQueryError, TransactionRollbackError } from 'drizzle-orm/errors'
import { type Logger, NoopLogger } from 'drizzle-orm/logger'
import type { RelationalSchemaConfig, TablesRelationalConfig } from 'drizzle-orm/relations'
import { fillPlaceholders, type Query } from 'drizzle-orm/sql/sql'
import {
  type PreparedQueryConfig as PreparedQueryConfigBase,
  type SelectedFieldsOrdered,
  type SQLiteAsyncDialect,
  type SQLiteExecuteMethod,
  SQLitePreparedQuery,
  SQLiteSession,
  SQLiteTransaction,
  type SQLiteTransactionConfig,
} from 'drizzle-orm/sqlite-core'
import * as drizzleUtils from 'drizzle-orm/utils'
import { type IntegerReading, readingOfFields, SchemaColumns } from './exact-integers.js'
import {
  AutocommitRunner,
  assertOutsideTransaction,
  type RunMethod,
  type StatementRunner,
  TransactionScope,
} from './statement-runner.js'

// drizzle-orm exports mapResultRow at runtime (every driver uses it) but not in its types.
const { mapResultRow } = drizzleUtils as unknown as {
  mapResultRow(
    fields: SelectedFieldsOrdered,
    row: unknown[],
    joinsNotNullableMap: Record<string, boolean> | undefined,
  ): unknown
}

/** Options of a transaction. */
export interface S3dbTransactionConfig extends SQLiteTransactionConfig {
  /**
   * Ignored: every s3db transaction is serializable (it re-runs on conflict),
   * so SQLite's locking behaviours do not apply. Accepted for compatibility.
   */
  behavior?: SQLiteTransactionConfig['behavior']
  /** Cancels the transaction while it waits, runs or commits. */
  signal?: AbortSignal | undefined
}

/** Internal: what the driver's session needs to know. */
export interface S3dbSessionOptions {
  logger?: Logger | undefined
}

type PreparedQueryConfig = Omit<PreparedQueryConfigBase, 'statement' | 'run'>

/** Savepoint around a transaction callback, so `tx.rollback()` can undo it without failing the update. */
const CALLBACK_SAVEPOINT = 's3db_drizzle_tx'

/**
 * A drizzle session over one s3db database: outside a transaction (statements
 * run as views or single-statement updates) or bound to one transaction.
 */
export class S3dbSession<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends SQLiteSession<'async', RunResult, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'S3dbSession'

  readonly client: S3db
  readonly #dialect: SQLiteAsyncDialect
  readonly #schema: RelationalSchemaConfig<TSchema> | undefined
  readonly #options: S3dbSessionOptions
  readonly #logger: Logger
  /** Where statements run: the transaction this session is bound to, or autocommit. */
  readonly runner: StatementRunner
  #schemaColumns: SchemaColumns | undefined

  constructor(
    client: S3db,
    dialect: SQLiteAsyncDialect,
    schema: RelationalSchemaConfig<TSchema> | undefined,
    options: S3dbSessionOptions = {},
    scope?: TransactionScope,
  ) {
    super(dialect)
    this.client = client
    this.#dialect = dialect
    this.#schema = schema
    this.#options = options
    this.#logger = options.logger ?? new NoopLogger()
    this.runner = scope ?? new AutocommitRunner(client)
  }

  prepareQuery<T extends Omit<PreparedQueryConfig, 'run'>>(
    query: Query,
    fields: SelectedFieldsOrdered | undefined,
    executeMethod: SQLiteExecuteMethod,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => unknown,
  ): S3dbPreparedQuery<T> {
    return new S3dbPreparedQuery(
      this,
      query,
      this.#logger,
      fields,
      executeMethod,
      isResponseInArrayMode,
      customResultMapper,
    )
  }

  /**
   * Runs `transaction` as one `S3db.update`: it may run more than once (on
   * conflict it re-runs on the newer state). `tx.rollback()` publishes nothing
   * and rejects with TransactionRollbackError, without re-running.
   */
  override async transaction<T>(
    transaction: (tx: S3dbTransaction<TFullSchema, TSchema>) => Promise<T>,
    config?: S3dbTransactionConfig,
  ): Promise<T> {
    assertOutsideTransaction(this.client, 'db.transaction()')
    let rolledBack: TransactionRollbackError | undefined
    const value = await this.inUpdate(async (scope) => {
      rolledBack = undefined
      const tx = this.transactionOn(scope)
      scope.tx.exec(`SAVEPOINT ${CALLBACK_SAVEPOINT}`)
      try {
        const result = await transaction(tx)
        scope.tx.exec(`RELEASE ${CALLBACK_SAVEPOINT}`)
        return result
      } catch (err) {
        if (!is(err, TransactionRollbackError)) {
          undoSavepoint(scope, CALLBACK_SAVEPOINT)
          throw err
        }
        // An explicit rollback is the app's decision: undo, publish nothing, and
        // report it after the update instead of letting s3db re-run the callback.
        scope.tx.exec(`ROLLBACK TO ${CALLBACK_SAVEPOINT}`)
        scope.tx.exec(`RELEASE ${CALLBACK_SAVEPOINT}`)
        rolledBack = err
        return undefined as T
      }
    }, config?.signal)
    if (rolledBack) throw rolledBack
    return value
  }

  /**
   * @internal How relational queries read integers: by the schema's columns
   * (undefined without a schema).
   */
  get relationalReading(): IntegerReading | undefined {
    if (!this.#schema) return undefined
    this.#schemaColumns ??= new SchemaColumns(this.#schema.schema)
    return this.#schemaColumns
  }

  /** Runs the batch's statements in order as one update (one changeset, one commit). */
  async batch<T extends BatchItem<'sqlite'>[] | readonly BatchItem<'sqlite'>[]>(
    queries: T,
  ): Promise<unknown[]> {
    assertOutsideTransaction(this.client, 'db.batch()')
    return this.inUpdate(async (scope) => {
      const results: unknown[] = []
      for (const query of queries) results.push(await executeBatchItem(query, scope))
      return results
    })
  }

  /** @internal A drizzle transaction handle whose statements run in `scope`. */
  transactionOn(scope: TransactionScope): S3dbTransaction<TFullSchema, TSchema> {
    const session = new S3dbSession<TFullSchema, TSchema>(
      this.client,
      this.#dialect,
      this.#schema,
      this.#options,
      scope,
    )
    return new S3dbTransaction<TFullSchema, TSchema>(this.#dialect, session, this.#schema, scope)
  }

  /**
   * @internal Runs `fn` inside one `S3db.update` with a statement scope that ends (and
   * rejects further use) when `fn` settles.
   */
  async inUpdate<T>(
    fn: (scope: TransactionScope) => Promise<T>,
    signal?: AbortSignal,
    foreignKeys?: false,
  ): Promise<T> {
    return this.client.update(
      async (tx) => {
        const scope = new TransactionScope(tx)
        try {
          return await fn(scope)
        } finally {
          scope.end()
        }
      },
      { signal, foreignKeys },
    )
  }

  // Batch results are produced already in their final shape (see executeBatchItem).
  extractRawAllValueFromBatchResult(result: unknown): unknown {
    return result
  }

  extractRawGetValueFromBatchResult(result: unknown): unknown {
    return result
  }

  extractRawValuesValueFromBatchResult(result: unknown): unknown {
    return result
  }
}

/** Rolls back to a savepoint after a failure; a failure to do so must not hide the original error. */
function undoSavepoint(scope: TransactionScope, name: string): void {
  try {
    scope.tx.exec(`ROLLBACK TO ${name}`)
    scope.tx.exec(`RELEASE ${name}`)
  } catch {
    // The transaction is already gone (the original error says why); s3db rolls back the rest.
  }
}

/** Executes one batch item on the batch's transaction and maps its result like drizzle would. */
async function executeBatchItem(
  item: BatchItem<'sqlite'>,
  scope: TransactionScope,
): Promise<unknown> {
  const prepared = (item as unknown as { _prepare(): unknown })._prepare()
  if (prepared instanceof S3dbPreparedQuery) return prepared.executeOn(scope)
  // db.run/all/get/values(sql): an SQLiteRaw whose method is in its query.
  const raw = prepared as {
    getQuery(): Query & { method: 'run' | 'all' | 'get' | 'values' }
    mapResult(result: unknown, isFromBatch?: boolean): unknown
  }
  const { sql, params, method } = raw.getQuery()
  return raw.mapResult(scope.execute(sql, params, method), true)
}

/**
 * A drizzle transaction handle: valid only inside its callback, which may run
 * more than once. Nested `tx.transaction()` calls are savepoints.
 */
export class S3dbTransaction<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends SQLiteTransaction<'async', RunResult, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'S3dbTransaction'

  readonly #dialect: SQLiteAsyncDialect
  readonly #session: S3dbSession<TFullSchema, TSchema>
  readonly #scope: TransactionScope

  constructor(
    dialect: SQLiteAsyncDialect,
    session: S3dbSession<TFullSchema, TSchema>,
    schema: RelationalSchemaConfig<TSchema> | undefined,
    scope: TransactionScope,
    nestedIndex = 0,
  ) {
    super('async', dialect, session, schema, nestedIndex)
    this.#dialect = dialect
    this.#session = session
    this.#scope = scope
  }

  /** A savepoint inside this transaction: a throw (or `rollback()`) undoes only it, then propagates. */
  override async transaction<T>(
    transaction: (tx: S3dbTransaction<TFullSchema, TSchema>) => Promise<T>,
  ): Promise<T> {
    const savepoint = `sp${this.nestedIndex}`
    const tx = new S3dbTransaction<TFullSchema, TSchema>(
      this.#dialect,
      this.#session,
      this.schema,
      this.#scope,
      this.nestedIndex + 1,
    )
    this.#scope.tx.exec(`SAVEPOINT ${savepoint}`)
    try {
      const result = await transaction(tx)
      this.#scope.tx.exec(`RELEASE ${savepoint}`)
      return result
    } catch (err) {
      undoSavepoint(this.#scope, savepoint)
      throw err
    }
  }
}

/** A query drizzle built; runs wherever its session runs statements. */
export class S3dbPreparedQuery<
  T extends PreparedQueryConfig = PreparedQueryConfig,
> extends SQLitePreparedQuery<{
  type: 'async'
  run: RunResult
  all: T['all']
  get: T['get']
  values: T['values']
  execute: T['execute']
}> {
  static override readonly [entityKind]: string = 'S3dbPreparedQuery'

  /** @internal Set by drizzle's select builder for outer joins. */
  declare joinsNotNullableMap: Record<string, boolean> | undefined
  readonly #session: S3dbSession<Record<string, unknown>, TablesRelationalConfig>
  readonly #logger: Logger
  readonly #fields: SelectedFieldsOrdered | undefined
  readonly #method: SQLiteExecuteMethod
  readonly #arrayMode: boolean
  readonly #customResultMapper: ((rows: unknown[][]) => unknown) | undefined
  #integers: IntegerReading | undefined

  constructor(
    session: S3dbSession<Record<string, unknown>, TablesRelationalConfig>,
    query: Query,
    logger: Logger,
    fields: SelectedFieldsOrdered | undefined,
    executeMethod: SQLiteExecuteMethod,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => unknown,
  ) {
    super('async', executeMethod, query)
    this.#session = session
    this.#logger = logger
    this.#fields = fields
    this.#method = executeMethod
    this.#arrayMode = isResponseInArrayMode
    this.#customResultMapper = customResultMapper
  }

  run(placeholderValues?: Record<string, unknown>): Promise<RunResult> {
    return settled(() => this.#execute(this.#session.runner, 'run', placeholderValues))
  }

  all(placeholderValues?: Record<string, unknown>): Promise<T['all']> {
    return settled(() => this.#rows(this.#session.runner, 'all', placeholderValues))
  }

  get(placeholderValues?: Record<string, unknown>): Promise<T['get']> {
    return settled(() => this.#rows(this.#session.runner, 'get', placeholderValues))
  }

  values(placeholderValues?: Record<string, unknown>): Promise<T['values']> {
    return settled(() => this.#execute(this.#session.runner, 'values', placeholderValues))
  }

  /** @internal Runs this query on `runner` (a batch's transaction) with its own execute method. */
  executeOn(runner: StatementRunner): Promise<unknown> {
    return settled(() =>
      this.#method === 'run' ? this.#execute(runner, 'run') : this.#rows(runner, this.#method),
    )
  }

  /** @internal */
  isResponseInArrayMode(): boolean {
    return this.#arrayMode
  }

  /** Rows mapped as drizzle expects; synchronous when the runner answered synchronously. */
  #rows(
    runner: StatementRunner,
    method: 'all' | 'get',
    placeholderValues?: Record<string, unknown>,
  ): unknown {
    const fields = this.#fields
    const mapper = this.#customResultMapper
    if (!fields && !mapper) return this.#execute(runner, method, placeholderValues)
    // Integers are read as the columns' decoders need them (bigint only where exact).
    this.#integers ??= fields ? readingOfFields(fields) : this.#session.relationalReading
    const integers = this.#integers
    if (method === 'all') {
      return after(this.#execute(runner, 'values', placeholderValues, integers), (rows) => {
        if (mapper) return mapper(rows as unknown[][])
        return (rows as unknown[][]).map((row) =>
          mapResultRow(fields!, row, this.joinsNotNullableMap),
        )
      })
    }
    return after(this.#execute(runner, 'first', placeholderValues, integers), (row) => {
      if (!row) return undefined
      if (mapper) return mapper([row as unknown[]])
      return mapResultRow(fields!, row as unknown[], this.joinsNotNullableMap)
    })
  }

  /** Runs the query; a value, or a promise when the runner must wait. */
  #execute(
    runner: StatementRunner,
    method: RunMethod,
    placeholderValues?: Record<string, unknown>,
    integers?: IntegerReading,
  ): unknown {
    const { sql, params: template } = this.query
    const params = fillPlaceholders(template, placeholderValues ?? {})
    this.#logger.logQuery(sql, params)
    // s3db's own errors (ended transaction, write conflict, misuse) stay as they
    // are so apps can match their code; SQL errors get drizzle's query context.
    const wrap = (err: unknown): never => {
      if (isS3dbError(err)) throw err
      throw new DrizzleQueryError(sql, params, err as Error)
    }
    try {
      const result = runner.execute(sql, params, method, integers)
      return result instanceof Promise ? result.catch(wrap) : result
    } catch (err) {
      return wrap(err)
    }
  }
}

/** `fn` of a value, or of what a promise resolves to. */
function after(value: unknown, fn: (v: unknown) => unknown): unknown {
  return value instanceof Promise ? value.then(fn) : fn(value)
}

/** A promise of what `fn` returns (a value or a promise), or of what it throws. */
function settled<T>(fn: () => unknown): Promise<T> {
  try {
    return Promise.resolve(fn() as T)
  } catch (err) {
    return Promise.reject(err)
  }
}
