/**
 * How a drizzle query reads INTEGER values. A column whose decoder keeps a
 * bigint exact (`numeric({ mode: 'bigint' })`, `numeric()`'s strings,
 * {@link bigintInteger}) is read as bigint; every other column as a number, and
 * one beyond Number.MAX_SAFE_INTEGER raises UnsafeIntegerError rather than
 * handing drizzle a rounded value. A query with no such column runs in s3db's
 * checked number mode and pays nothing extra.
 *
 * @module
 */
import { type ColumnInfo, UnsafeIntegerError } from '@s3db/core'
import { Column } from 'drizzle-orm/column'
import { is } from 'drizzle-orm/entity'
import type { TablesRelationalConfig } from 'drizzle-orm/relations'
import { SQL } from 'drizzle-orm/sql/sql'
import {
  type SelectedFieldsOrdered,
  SQLiteCustomColumn,
  SQLiteNumeric,
  SQLiteNumericBigInt,
} from 'drizzle-orm/sqlite-core'
import { bigintFromDriver } from './bigint-integer.js'

/** How one query reads integers; `columns` gives the statement's columns (asked only when needed). */
export interface IntegerReading {
  /** Which result columns read their integers as bigint; the others read checked numbers. */
  exact(columns: () => readonly ColumnInfo[]): readonly boolean[]
  /** Refuses rows (arrays of column values) holding a value drizzle would round when decoding. */
  check?(rows: readonly unknown[][], columns: () => readonly ColumnInfo[]): void
}

/** True when `decoder` turns a bigint from the driver into an exact value. */
export function decodesExactly(decoder: unknown): boolean {
  if (is(decoder, SQLiteNumericBigInt) || is(decoder, SQLiteNumeric)) return true
  // drizzle keeps a custom type's fromDriver as `mapFrom`.
  return (
    is(decoder, SQLiteCustomColumn) &&
    (decoder as unknown as { mapFrom?: unknown }).mapFrom === bigintFromDriver
  )
}

/** The reading of a query-builder select (or `.returning()`): by its fields' decoders. */
export function readingOfFields(fields: SelectedFieldsOrdered): IntegerReading {
  const exact = fields.map(({ field }) => {
    if (is(field, Column)) return decodesExactly(field)
    if (is(field, SQL)) return decodesExactly(decoderOf(field))
    if (is(field, SQL.Aliased)) return decodesExactly(decoderOf(field.sql))
    return false
  })
  return { exact: () => exact }
}

/** The decoder `sql`...`.mapWith(...)` set (internal in drizzle's types, read by its mapResultRow). */
function decoderOf(sql: SQL): unknown {
  return (sql as unknown as { decoder: unknown }).decoder
}

/**
 * The reading of relational queries (`db.query...`), which tell the driver
 * nothing about their columns: each result column that SQLite traces back to a
 * table column of the schema is read as that column decodes. Relations loaded
 * with `with` arrive as JSON text that drizzle decodes with JSON.parse, which
 * rounds integers beyond 2^53: such a value is refused instead.
 */
export class SchemaColumns implements IntegerReading {
  readonly #exact = new Set<string>()
  /** Names of the relations: a relational query returns each loaded one as a JSON column so named. */
  readonly #relations = new Set<string>()

  constructor(tables: TablesRelationalConfig) {
    for (const table of Object.values(tables)) {
      for (const column of Object.values(table.columns)) {
        if (decodesExactly(column)) this.#exact.add(key(table.dbName, column.name))
      }
      for (const name of Object.keys(table.relations)) this.#relations.add(name)
    }
  }

  exact(columns: () => readonly ColumnInfo[]): readonly boolean[] {
    if (this.#exact.size === 0) return []
    return columns().map((c) => c.table !== null && this.#exact.has(key(c.table, c.column ?? '')))
  }

  check(rows: readonly unknown[][], columns: () => readonly ColumnInfo[]): void {
    if (this.#relations.size === 0) return
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i]
        // A loaded relation is a JSON array; only a run of 16+ digits can be an
        // integer beyond 2^53 (cheap pre-checks before parsing).
        if (typeof v !== 'string' || v[0] !== '[' || !LONG_DIGITS.test(v)) continue
        const c = columns()[i]
        // A relation is an expression (no source table) named after the relation.
        if (c && c.table === null && this.#relations.has(c.name) && holdsUnsafeJsonInteger(v)) {
          const name = c.name
          throw new UnsafeIntegerError(name, undefined, {
            remedy: `drizzle-orm decodes the relation "${name}" of a relational query with JSON.parse, which would round it; read that table with the select builder (e.g. a join) to get it exactly`,
          })
        }
      }
    }
  }
}

const LONG_DIGITS = /\d{16}/

/** True when `text` is JSON holding an integer literal beyond the safe range. */
function holdsUnsafeJsonInteger(text: string): boolean {
  let unsafe = false
  try {
    JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
      if (typeof value === 'number' && !Number.isSafeInteger(value)) {
        // The literal as written: 1e300 or 1.5 are REALs, not rounded integers.
        if (/^-?\d+$/.test(context?.source ?? String(value))) unsafe = true
      }
      return value
    })
  } catch {
    return false // not JSON: plain text
  }
  return unsafe
}

function key(table: string, column: string): string {
  return `${table}\0${column}`
}

/**
 * Converts in place the bigints of rows read with bigints (arrays of column
 * values) to numbers, except in the `exact` columns; UnsafeIntegerError names
 * a column whose value a number cannot hold.
 */
export function toNumbersExcept(
  rows: readonly unknown[][],
  exact: readonly boolean[],
  columns: () => readonly ColumnInfo[],
): void {
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i]
      if (typeof v !== 'bigint' || exact[i]) continue
      const n = Number(v)
      if (!Number.isSafeInteger(n)) {
        const c = columns()[i]
        throw new UnsafeIntegerError(c?.name ?? String(i), c?.table ?? undefined)
      }
      row[i] = n
    }
  }
}
