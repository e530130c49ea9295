/**
 * Reading INTEGER values without rounding. better-sqlite3 hands out an INTEGER
 * as a number by default and rounds it when it lies beyond 2^53; s3db never
 * returns such a value: a statement reads integers as bigint (on request) or as
 * numbers checked to be exact, raising {@link UnsafeIntegerError} otherwise.
 *
 * Checked reads of read-only statements run with numbers and only scan the
 * result for a number beyond the safe range (cheap: a type and range test per
 * value). Only then is the statement run again with bigints, converted back to
 * numbers where exact, so the common case pays no bigint allocations
 * (bench/safe-integers.ts).
 *
 * @module
 */
import { UnsafeIntegerError } from './errors.js'

const MAX = Number.MAX_SAFE_INTEGER
const MIN = Number.MIN_SAFE_INTEGER

/** Result column metadata the error message needs. */
export interface ResultColumn {
  name: string
  table: string | null
}

/**
 * True when a row read with numbers may hold a rounded INTEGER: a number beyond
 * the safe range (an INTEGER that large was rounded; a REAL that large is a
 * false alarm the caller's exact re-read settles).
 */
export function mayBeRounded(row: unknown): boolean {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i]
      if (typeof v === 'number' && (v > MAX || v < MIN)) return true
    }
    return false
  }
  const record = row as Record<string, unknown>
  for (const key in record) {
    const v = record[key]
    if (typeof v === 'number' && (v > MAX || v < MIN)) return true
  }
  return false
}

/** {@link mayBeRounded} over a list of rows. */
export function anyMayBeRounded(rows: readonly unknown[]): boolean {
  for (let i = 0; i < rows.length; i++) if (mayBeRounded(rows[i])) return true
  return false
}

/** The number `value` stands for, exactly; UnsafeIntegerError (naming `column`) when none can. */
export function exactNumber(value: bigint, column: () => ResultColumn): number {
  const n = Number(value)
  if (n > MAX || n < MIN) {
    const { name, table } = column()
    throw new UnsafeIntegerError(name, table ?? undefined)
  }
  return n
}

/**
 * Converts the bigints of a row read with bigints (an object, or an array of
 * column values) to numbers in place, raising UnsafeIntegerError for one beyond
 * the safe range. `columns` is only called to name the column in the error.
 */
export function toNumbers<Row>(row: Row, columns: () => readonly ResultColumn[]): Row {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) {
      const v: unknown = row[i]
      if (typeof v === 'bigint') row[i] = exactNumber(v, () => columnAt(columns(), i))
    }
    return row
  }
  const record = row as Record<string, unknown>
  for (const key in record) {
    const v = record[key]
    if (typeof v === 'bigint') record[key] = exactNumber(v, () => columnNamed(columns(), key))
  }
  return row
}

/** {@link toNumbers} over a list of rows. */
export function allToNumbers<Row>(rows: Row[], columns: () => readonly ResultColumn[]): Row[] {
  for (let i = 0; i < rows.length; i++) toNumbers(rows[i], columns)
  return rows
}

function columnAt(columns: readonly ResultColumn[], index: number): ResultColumn {
  return columns[index] ?? { name: String(index), table: null }
}

/** The column a row property came from: with duplicate names, the last one wins (as in the row). */
function columnNamed(columns: readonly ResultColumn[], name: string): ResultColumn {
  return columns.findLast((c) => c.name === name) ?? { name, table: null }
}
