/**
 * `S3dbKysely`: a Kysely instance over an S3db whose `transaction()` runs its
 * callback as an s3db update (serializable, re-run on conflict, committed once).
 *
 * @module
 */
import { InvalidArgumentError, type S3db } from '@s3db/core'
import {
  type ControlledTransactionBuilder,
  type DrainOuterGeneric,
  isKyselyProps,
  Kysely,
  type KyselyConfig,
  type KyselyPlugin,
  type KyselyProps,
  WithSchemaPlugin,
} from 'kysely'
import { S3dbConnectionBuilder } from './connection-builder.js'
import { S3dbDialect } from './dialect.js'
import { S3dbTransactionBuilder } from './transaction-builder.js'

/** Configuration of {@link S3dbKysely}: Kysely's, with an open S3db in place of a dialect. */
export interface S3dbKyselyConfig extends Omit<KyselyConfig, 'dialect'> {
  /** An open database (see `S3db.open`). It stays owned by the caller: close it yourself. */
  s3db: S3db
}

const propsByInstance = new WeakMap<object, KyselyProps>()

/** @internal The props an S3dbKysely was built from (for this package's helpers). */
export function kyselyPropsOf(db: S3dbKysely<unknown>): KyselyProps {
  const props = propsByInstance.get(db)
  if (!props) throw new InvalidArgumentError('expected an S3dbKysely instance')
  return props
}

function s3dbOf(props: KyselyProps): S3db {
  if (props.dialect instanceof S3dbDialect) return props.dialect.s3db
  throw new InvalidArgumentError('S3dbKysely needs props whose dialect is an S3dbDialect')
}

/**
 * Kysely over an open S3db.
 *
 * ```ts
 * const db = new S3dbKysely<Database>({ s3db: await S3db.open(store, 'app/db/') })
 * await db.transaction().execute(async (trx) => {
 *   const { n } = await trx.selectFrom('counter').select('n').where('id', '=', 1).executeTakeFirstOrThrow()
 *   await trx.updateTable('counter').set({ n: n + 1 }).where('id', '=', 1).execute()
 * })
 * ```
 *
 * - `transaction().execute(fn)` runs `fn` as one serializable s3db update:
 *   when another writer commits first, `fn` RUNS AGAIN on the newer state, so
 *   keep side effects out of it. `setAccessMode('read only')` makes it a view.
 * - Statements outside a transaction: read-only ones run as a view, the others
 *   as their own single-statement update.
 * - `startTransaction()` and `connection()` are atomic but cannot be re-run:
 *   if their commit loses the race they fail with WriteConflictError and
 *   nothing is committed.
 * - Using this instance inside one of its transaction callbacks throws
 *   ReentrantTransactionError: use the callback's `trx`.
 *
 * Instances derived with `withPlugin`, `withoutPlugins`, `withSchema`,
 * `withTables`, `$extendTables`, `$omitTables` and `$pickTables` are
 * S3dbKysely instances too.
 */
export class S3dbKysely<DB> extends Kysely<DB> {
  readonly #props: KyselyProps
  readonly #s3db: S3db

  constructor(config: S3dbKyselyConfig)
  /** @internal Used to derive instances (withPlugin and the like). */
  constructor(props: KyselyProps)
  constructor(args: S3dbKyselyConfig | KyselyProps) {
    const init = isKyselyProps(args) ? { props: args } : { config: kyselyConfig(args) }
    super(init.props ?? init.config)
    this.#props = init.props ?? {
      config: init.config,
      dialect: init.config.dialect,
      driver: init.config.dialect.createDriver(),
      executor: this.getExecutor(),
    }
    this.#s3db = s3dbOf(this.#props)
    propsByInstance.set(this, this.#props)
  }

  /** The database this instance runs on. */
  get s3db(): S3db {
    return this.#s3db
  }

  /**
   * A transaction whose `execute(fn)` runs `fn` as a serializable s3db update:
   * `fn` may run more than once (on conflict it re-runs on the newer state) and
   * its last run is committed exactly once.
   */
  override transaction(): S3dbTransactionBuilder<DB> {
    return new S3dbTransactionBuilder<DB>({ ...this.#props }, this.#s3db)
  }

  /**
   * A controlled transaction (commit and rollback by hand, savepoints). It
   * cannot be re-run: it holds this process's writer until it ends, and if
   * another writer committed first, `commit()` rejects with WriteConflictError
   * and nothing is committed. Prefer {@link S3dbKysely.transaction}.
   */
  override startTransaction(): ControlledTransactionBuilder<DB> {
    return super.startTransaction()
  }

  /**
   * Runs a callback inside one atomic, non-re-runnable update: it commits when
   * the callback returns and fails with WriteConflictError (nothing committed)
   * if another writer committed first.
   */
  override connection(): S3dbConnectionBuilder<DB> {
    return new S3dbConnectionBuilder<DB>({ ...this.#props }, this.#s3db)
  }

  /** A copy with `plugin` installed (still an S3dbKysely). */
  override withPlugin(plugin: KyselyPlugin): S3dbKysely<DB> {
    return this.#derive(this.#props.executor.withPlugin(plugin))
  }

  /** A copy without plugins (still an S3dbKysely). */
  override withoutPlugins(): S3dbKysely<DB> {
    return this.#derive(this.#props.executor.withoutPlugins())
  }

  /** A copy whose queries use `schema` (e.g. an attached database; still an S3dbKysely). */
  override withSchema(schema: string): S3dbKysely<DB> {
    return this.#derive(this.#props.executor.withPluginAtFront(new WithSchemaPlugin(schema)))
  }

  /** @deprecated use {@link S3dbKysely.$extendTables} (as Kysely does). */
  // biome-ignore lint/suspicious/noExplicitAny: mirrors Kysely's signature
  override withTables<T extends Record<string, Record<string, any>>>(): S3dbKysely<
    DrainOuterGeneric<DB & T>
  > {
    return this.#derive()
  }

  /** A copy typed with more tables (types only; still an S3dbKysely). */
  // biome-ignore lint/suspicious/noExplicitAny: mirrors Kysely's signature
  override $extendTables<T extends Record<string, Record<string, any>>>(): S3dbKysely<
    DrainOuterGeneric<DB & T>
  > {
    return this.#derive()
  }

  /** A copy typed without tables `T` (types only; still an S3dbKysely). */
  override $omitTables<T extends keyof DB>(): S3dbKysely<DB extends object ? Omit<DB, T> : DB> {
    return this.#derive()
  }

  /** A copy typed with only tables `T` (types only; still an S3dbKysely). */
  override $pickTables<T extends keyof DB>(): S3dbKysely<DB extends object ? Pick<DB, T> : DB> {
    return this.#derive()
  }

  #derive<T>(executor = this.#props.executor): S3dbKysely<T> {
    return new S3dbKysely<T>({ ...this.#props, executor })
  }
}

function kyselyConfig(config: S3dbKyselyConfig): KyselyConfig & { dialect: S3dbDialect } {
  if (!config || typeof config !== 'object' || !config.s3db) {
    throw new InvalidArgumentError('S3dbKysely needs { s3db }: an open S3db')
  }
  const { s3db, ...rest } = config
  return { ...rest, dialect: new S3dbDialect({ s3db }) }
}
