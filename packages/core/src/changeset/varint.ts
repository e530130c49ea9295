/**
 * SQLite record varints: 1 to 9 bytes, big-endian groups of 7 bits with the high bit
 * meaning "more follows"; a 9th byte contributes all 8 of its bits.
 *
 * Changesets use them only for counts and byte lengths, so values are JS numbers;
 * anything above 2^53 is reported as `Infinity` (always an absurd length).
 *
 * @module
 */

/** A read position that {@link readVarint} advances. */
export interface Cursor {
  pos: number
}

/**
 * Reads a varint at `cur.pos` (bounded by `end`) and advances the cursor.
 * Returns -1 when the varint is truncated (runs past `end`).
 */
export function readVarint(buf: Uint8Array, cur: Cursor, end: number): number {
  let pos = cur.pos
  let value = 0
  for (let i = 0; i < 8; i++) {
    if (pos >= end) return -1
    const b = buf[pos++]!
    value = value * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      cur.pos = pos
      return value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value
    }
  }
  if (pos >= end) return -1
  value = value * 256 + buf[pos++]!
  cur.pos = pos
  return value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value
}

/** Number of bytes {@link writeVarint} uses for `value` (a non-negative safe integer). */
export function varintSize(value: number): number {
  let n = 1
  while (value > 0x7f && n < 9) {
    value = Math.floor(value / 128)
    n++
  }
  return n
}

/**
 * Writes `value` (a non-negative integer below 2^53) at `pos`; returns the position
 * after it. The caller guarantees room for {@link varintSize} bytes.
 */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  if (value <= 0x7f) {
    buf[pos] = value
    return pos + 1
  }
  // Values below 2^53 never need the 9-byte form (which starts at 2^56).
  const n = varintSize(value)
  let v = value
  for (let i = n - 1; i >= 0; i--) {
    buf[pos + i] = (v % 128) | (i === n - 1 ? 0 : 0x80)
    v = Math.floor(v / 128)
  }
  return pos + n
}
