/**
 * Conversions between better-sqlite3's JS values and changeset {@link Value}s.
 *
 * better-sqlite3 (with safeIntegers) hands out bigint, number, string, Buffer, null.
 * All are exact except TEXT that is not valid UTF-8: V8 decodes it with U+FFFD
 * replacement characters. A string without U+FFFD is therefore exact; one with it may
 * not be, and callers re-read such values as bytes (`CAST(x AS BLOB)`).
 *
 * @module
 */

import { isUtf8 } from 'node:buffer'
import { RawText, type Value } from './types.js'

/** True when `v` is a string that may have lost bytes in UTF-8 decoding. */
export function maybeLossy(v: unknown): boolean {
  return typeof v === 'string' && v.includes('\uFFFD')
}

/** The TEXT value whose exact bytes are `bytes` (string when valid UTF-8). */
export function textFromBytes(bytes: Uint8Array): string | RawText {
  const buf = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  return isUtf8(buf) ? buf.toString('utf8') : new RawText(Buffer.from(buf))
}

/**
 * Value from a `(typeof(x), iif(typeof(x) = 'text', CAST(x AS BLOB), x))` pair, the
 * exact form capture triggers send when a row may hold text that is not UTF-8.
 */
export function valueFromPair(type: unknown, v: unknown): Value {
  if (type === 'text') return textFromBytes(v as Buffer)
  return v as Value
}

/** A better-sqlite3 parameter for `v`; RawText needs `CAST(? AS TEXT)` in the SQL. */
export function toParam(v: Value): bigint | number | string | Buffer | null {
  if (v === null || typeof v !== 'object') return v
  const bytes = v instanceof RawText ? v.bytes : v
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}

/** True for RawText (the values that must be bound through `CAST(? AS TEXT)`). */
export function isRawText(v: unknown): v is RawText {
  return v instanceof RawText
}
