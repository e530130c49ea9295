/**
 * Append-only byte writer for the changeset format, shared by the encoder and by
 * capture (which streams changes straight into it instead of building objects).
 *
 * @module
 */

import { InvalidArgumentError } from '../errors.js'
import {
  type Field,
  RawText,
  T_BLOB,
  T_INTEGER,
  T_NULL,
  T_REAL,
  T_TEXT,
  T_UNDEFINED,
  type Value,
} from './types.js'
import { varintSize, writeVarint } from './varint.js'

// String.prototype.isWellFormed is ES2024 (Node >= 20); the build targets es2023 typings.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean })
  .isWellFormed

const MIN_I64 = -(2n ** 63n)
const MAX_I64 = 2n ** 63n - 1n

/** Growable output buffer with changeset-specific append operations. */
export class ChangesetWriter {
  private buf: Buffer
  private pos = 0

  constructor(initialSize = 4096) {
    this.buf = Buffer.allocUnsafe(initialSize)
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos
  }

  /** Drops everything written after `length` (used to drop an empty table header). */
  truncate(length: number): void {
    this.pos = length
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return Buffer.from(this.buf.subarray(0, this.pos))
  }

  /** Starts over, keeping the buffer. */
  clear(): void {
    this.pos = 0
  }

  private reserve(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < need) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Table header: 'T' (or 'P'), column count, PK ordinals, NUL-terminated name. */
  tableHeader(name: string, pk: readonly number[], patchset = false): void {
    if (pk.length === 0) throw new InvalidArgumentError(`table "${name}" has no columns`)
    if (name.includes('\0') || !isWellFormed.call(name)) {
      throw new InvalidArgumentError(`invalid table name ${JSON.stringify(name)}`)
    }
    const nameLen = Buffer.byteLength(name, 'utf8')
    this.reserve(1 + 9 + pk.length + nameLen + 1)
    const buf = this.buf
    buf[this.pos++] = patchset ? 0x50 : 0x54
    this.pos = writeVarint(buf, this.pos, pk.length)
    for (const ordinal of pk) {
      if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal > 255) {
        throw new InvalidArgumentError(`invalid PRIMARY KEY ordinal ${ordinal} in "${name}"`)
      }
      buf[this.pos++] = ordinal
    }
    this.pos += buf.write(name, this.pos, 'utf8')
    buf[this.pos++] = 0
  }

  /** Start of a change: op byte and indirect flag. */
  changeHeader(op: number, indirect: boolean): void {
    this.reserve(2)
    this.buf[this.pos++] = op
    this.buf[this.pos++] = indirect ? 1 : 0
  }

  /** The "undefined" field (type 0). */
  undefinedField(): void {
    this.reserve(1)
    this.buf[this.pos++] = T_UNDEFINED
  }

  /** A field: a value, or type 0 for `undefined`. */
  field(v: Field): void {
    if (v === undefined) this.undefinedField()
    else this.value(v)
  }

  /** One value with its type byte. */
  value(v: Value): void {
    if (v === null) {
      this.reserve(1)
      this.buf[this.pos++] = T_NULL
    } else if (typeof v === 'bigint') {
      if (v < MIN_I64 || v > MAX_I64) throw new InvalidArgumentError(`integer ${v} is out of range`)
      this.reserve(9)
      this.buf[this.pos++] = T_INTEGER
      this.buf.writeBigInt64BE(v, this.pos)
      this.pos += 8
    } else if (typeof v === 'number') {
      this.reserve(9)
      this.buf[this.pos++] = T_REAL
      this.buf.writeDoubleBE(v, this.pos)
      this.pos += 8
    } else if (typeof v === 'string') {
      if (!isWellFormed.call(v)) {
        throw new InvalidArgumentError('text value is not well-formed UTF-16; use RawText')
      }
      const n = Buffer.byteLength(v, 'utf8')
      this.reserve(1 + 9 + n)
      this.buf[this.pos++] = T_TEXT
      this.pos = writeVarint(this.buf, this.pos, n)
      this.pos += this.buf.write(v, this.pos, 'utf8')
    } else if (v instanceof RawText) {
      this.bytes(T_TEXT, v.bytes)
    } else if (v instanceof Uint8Array) {
      this.bytes(T_BLOB, v)
    } else {
      throw new InvalidArgumentError(`not a changeset value: ${typeof v}`)
    }
  }

  private bytes(type: number, data: Uint8Array): void {
    const n = data.length
    this.reserve(1 + varintSize(n) + n)
    this.buf[this.pos++] = type
    this.pos = writeVarint(this.buf, this.pos, n)
    this.buf.set(data, this.pos)
    this.pos += n
  }
}
