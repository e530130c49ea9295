/**
 * `SafeIntegersPlugin`: chooses how the queries it is installed on read INTEGER
 * values, per query (`query.withPlugin(...)`) or per instance
 * (`db.withPlugin(...)`), overriding the S3db's `safeIntegers` option.
 *
 * @module
 */
import type {
  CompiledQuery,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely'

/**
 * The choice made for each query, by the id Kysely gives the query and keeps on
 * its compiled form. A query-level plugin runs after instance-level ones, so
 * the query's own choice wins.
 */
const choices = new WeakMap<QueryId, boolean>()

/** Options of {@link SafeIntegersPlugin}. */
export interface SafeIntegersPluginOptions {
  /**
   * `true` (default): read INTEGER values as `bigint`. `false`: as numbers, and
   * one beyond Number.MAX_SAFE_INTEGER raises UnsafeIntegerError (what a
   * database opened without `safeIntegers` does anyway).
   */
  enabled?: boolean | undefined
}

/**
 * Reads INTEGER values as `bigint` (exact beyond 2^53) in the queries it is
 * installed on; REAL values stay numbers. Without it, s3db reads integers as
 * numbers and raises UnsafeIntegerError for one a number cannot hold exactly
 * (unless the S3db was opened with `safeIntegers: true`).
 *
 * ```ts
 * const row = await db
 *   .selectFrom('account')
 *   .select(['id', 'balance'])
 *   .where('id', '=', 1)
 *   .withPlugin(new SafeIntegersPlugin()) // this query: balance is a bigint
 *   .executeTakeFirstOrThrow()
 * const exact = db.withPlugin(new SafeIntegersPlugin()) // every query of this instance
 * ```
 *
 * Type such columns as `bigint` in your Database interface. Bigint parameters
 * are always bound exactly, with or without the plugin.
 */
export class SafeIntegersPlugin implements KyselyPlugin {
  readonly #enabled: boolean

  constructor(options: SafeIntegersPluginOptions = {}) {
    this.#enabled = options.enabled ?? true
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    choices.set(args.queryId, this.#enabled)
    return args.node
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }
}

/**
 * @internal Whether `query` reads integers as bigint by a SafeIntegersPlugin's
 * choice, or undefined (the S3db's `safeIntegers` option decides).
 */
export function safeIntegersChoiceOf(query: CompiledQuery): boolean | undefined {
  return choices.get(query.queryId)
}
