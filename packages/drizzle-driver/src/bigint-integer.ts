/**
 * `bigintInteger()`: an INTEGER column whose values are `bigint`, exact over
 * SQLite's whole 64-bit range (drizzle-orm 0.45's `integer()` has no bigint mode).
 *
 * @module
 */
import { customType } from 'drizzle-orm/sqlite-core'

/** Driver value to bigint: s3db hands this column's values over as bigint. */
export function bigintFromDriver(value: bigint | number | string): bigint {
  return typeof value === 'bigint' ? value : BigInt(value)
}

/**
 * An INTEGER column read and written as `bigint`, exact beyond 2^53 (e.g.
 * snowflake ids, counters in the smallest currency unit). As `INTEGER PRIMARY
 * KEY` it is the rowid. drizzle-kit sees an ordinary `integer` column.
 *
 * ```ts
 * export const ledger = sqliteTable('ledger', {
 *   id: bigintInteger('id').primaryKey(),
 *   balance: bigintInteger('balance').notNull(),
 * })
 * ```
 *
 * Reads are exact in the query builders (`select`, `.returning()`, also as the
 * decoder of `sql`...`.mapWith(ledger.balance)`) and at the top level of
 * relational queries; see the README for what is not.
 */
export const bigintInteger = customType<{ data: bigint; driverData: bigint | number | string }>({
  dataType: () => 'integer',
  fromDriver: bigintFromDriver,
  toDriver: (value) => value,
})
