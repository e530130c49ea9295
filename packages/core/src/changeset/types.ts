/**
 * In-memory model of SQLite session-extension changesets (FORMAT.md, "Changeset").
 *
 * Values use JS primitives where they are lossless and a wrapper where they are not:
 *
 * | SQLite type | JS value                                                  |
 * | ----------- | --------------------------------------------------------- |
 * | NULL        | `null`                                                    |
 * | INTEGER     | `bigint` (always, so 1 and 1.0 stay different values)     |
 * | REAL        | `number` (also for integral values, -0, +-Infinity)        |
 * | TEXT        | `string` when the bytes are valid UTF-8, else {@link RawText} |
 * | BLOB        | `Uint8Array` (a `Buffer` when produced by this module)    |
 *
 * The text representation is canonical: a valid UTF-8 text is always a `string`, a
 * `RawText` always holds bytes that are not valid UTF-8, so `string` and `RawText`
 * values never denote the same SQLite value.
 *
 * @module
 */

/** A TEXT value whose bytes are not valid UTF-8, kept verbatim. */
export class RawText {
  /** The exact bytes SQLite stores for this TEXT value. */
  readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }
}

/** One SQLite value (see the module documentation for the mapping). */
export type Value = null | bigint | number | string | Uint8Array | RawText

/** A record field: a value, or `undefined` where the format stores "undefined" (type 0). */
export type Field = Value | undefined

/** A row inserted: `new` holds every column. */
export interface InsertChange {
  readonly op: 'INSERT'
  readonly indirect: boolean
  readonly new: readonly Value[]
}

/**
 * A row deleted: `old` holds every column (a patchset stores only the primary key,
 * other fields are `undefined`).
 */
export interface DeleteChange {
  readonly op: 'DELETE'
  readonly indirect: boolean
  readonly old: readonly Field[]
}

/**
 * A row updated in place. `old` holds the primary key and the original value of every
 * changed column; `new` holds the new value of every changed column; other fields are
 * `undefined`. (Decoded patchsets carry the primary key in `old`, like SQLite's iterator.)
 */
export interface UpdateChange {
  readonly op: 'UPDATE'
  readonly indirect: boolean
  readonly old: readonly Field[]
  readonly new: readonly Field[]
}

/** One change to one row. */
export type Change = InsertChange | DeleteChange | UpdateChange

/** The changes of one table, in changeset order. */
export interface TableChanges {
  /** Table name as declared (the changeset stores it verbatim). */
  readonly name: string
  /**
   * One entry per column (generated columns excluded): the column's 1-based position
   * in the PRIMARY KEY, 0 when it is not part of it. Its length is the column count.
   */
  readonly pk: readonly number[]
  readonly changes: readonly Change[]
}

/** A decoded changeset (or patchset): tables in their order of appearance. */
export interface Changeset {
  /** True for a patchset (table headers 'P', reduced records). */
  readonly patchset?: boolean
  readonly tables: readonly TableChanges[]
}

/** Changeset op bytes (the SQLite op codes). */
export const OP_INSERT = 0x12
export const OP_UPDATE = 0x17
export const OP_DELETE = 0x09

/** Value type bytes of the changeset record format. */
export const T_UNDEFINED = 0
export const T_INTEGER = 1
export const T_REAL = 2
export const T_TEXT = 3
export const T_BLOB = 4
export const T_NULL = 5

/** True when `a` and `b` are the same SQLite value (1 and 1.0 differ; 0.0 and -0.0 do not). */
export function valueEquals(a: Field, b: Field): boolean {
  if (a === b) return true
  if (a === null || b === null || a === undefined || b === undefined) return false
  if (typeof a === 'number' || typeof b === 'number') return false // === above handles 0/-0
  if (typeof a !== 'object' || typeof b !== 'object') return false
  if (a instanceof RawText) return b instanceof RawText && bytesEqual(a.bytes, b.bytes)
  if (b instanceof RawText) return false
  return bytesEqual(a, b)
}

/** Byte-wise equality of two byte arrays. */
function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
