/**
 * Row identity and row order of captured changes.
 *
 * The session extension keeps touched rows in a per-table hash table keyed by the
 * PRIMARY KEY and emits them bucket by bucket. {@link SessionHashOrder} reproduces
 * that table (same hash function, same growth rule, same head insertion and rehash
 * order), so captured changesets list rows in the order SQLite's own would.
 *
 * @module
 */

import { RawText, type Value } from './types.js'

/** A node of the emulated hash table. */
export interface OrderEntry {
  next: OrderEntry | undefined
  /** Full 32-bit session hash of the row's PRIMARY KEY. */
  readonly hash: number
}

/** The session extension's per-table change hash table (sqlite3session.c). */
export class SessionHashOrder<E extends OrderEntry> {
  private heads: (E | undefined)[] = []
  private nEntry = 0

  /** sessionGrowHash(): runs before every pre-update call on the table. */
  grow(): void {
    const n = this.heads.length
    if (n !== 0 && this.nEntry < n >>> 1) return
    if (n === 256 && this.nEntry === 0) return // a cleared table: already at its first size
    const size = 2 * (n === 0 ? 128 : n)
    const heads: (E | undefined)[] = new Array(size).fill(undefined)
    for (let i = 0; i < n; i++) {
      let p = this.heads[i]
      while (p !== undefined) {
        const next = p.next as E | undefined
        const b = p.hash % size
        p.next = heads[b]
        heads[b] = p
        p = next
      }
    }
    this.heads = heads
  }

  /** Inserts at the head of its bucket (call {@link grow} first). */
  add(e: E): void {
    const b = e.hash % this.heads.length
    e.next = this.heads[b]
    this.heads[b] = e
    this.nEntry++
  }

  get size(): number {
    return this.nEntry
  }

  /** Visits entries in the order sessionGenerateChangeset() emits them. */
  forEach(fn: (e: E) => void): void {
    for (const head of this.heads) {
      for (let p = head; p !== undefined; p = p.next as E | undefined) fn(p)
    }
  }

  /** Empties the table, keeping the first-size bucket array for reuse. */
  clear(): void {
    if (this.heads.length === 256) this.heads.fill(undefined)
    else this.heads = []
    this.nEntry = 0
  }
}

const scratch = new DataView(new ArrayBuffer(8))

function append(h: number, add: number): number {
  return ((h << 3) ^ h ^ add) >>> 0
}

function appendI64Words(h: number, hi: number, lo: number): number {
  return append(append(h, lo), hi)
}

function appendBytes(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) h = append(h, bytes[i]!)
  return h
}

/** Hashes the UTF-8 encoding of a well-formed string without materialising it. */
function appendUtf8(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      h = append(h, c)
      continue
    }
    if (c < 0x800) {
      h = append(append(h, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f))
      continue
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        h = append(h, 0xf0 | (c >> 18))
        h = append(h, 0x80 | ((c >> 12) & 0x3f))
        h = append(h, 0x80 | ((c >> 6) & 0x3f))
        h = append(h, 0x80 | (c & 0x3f))
        continue
      }
    }
    h = append(h, 0xe0 | (c >> 12))
    h = append(h, 0x80 | ((c >> 6) & 0x3f))
    h = append(h, 0x80 | (c & 0x3f))
  }
  return h
}

/** sessionPreupdateHash() over the PRIMARY KEY values (in column order). */
export function sessionHash(pk: readonly Value[]): number {
  let h = 0
  for (const v of pk) {
    if (v === null) continue // rows with NULL keys are never hashed
    if (typeof v === 'bigint') {
      h = append(h, 1)
      if (v >= -9007199254740991n && v <= 9007199254740991n) {
        const n = Number(v)
        h = appendI64Words(h, Math.floor(n / 4294967296) >>> 0, n >>> 0)
      } else {
        h = appendI64Words(h, Number(BigInt.asUintN(32, v >> 32n)), Number(BigInt.asUintN(32, v)))
      }
    } else if (typeof v === 'number') {
      h = append(h, 2)
      scratch.setFloat64(0, v)
      h = appendI64Words(h, scratch.getUint32(0), scratch.getUint32(4))
    } else if (typeof v === 'string') {
      h = appendUtf8(append(h, 3), v)
    } else if (v instanceof RawText) {
      h = appendBytes(append(h, 3), v.bytes)
    } else {
      h = appendBytes(append(h, 4), v)
    }
  }
  return h
}

/** A Map key identifying a row by its PRIMARY KEY values. */
export type RowKey = string | number | bigint

/** Key of one PRIMARY KEY value; null when the value is NULL. */
function partKey(v: unknown): string {
  if (typeof v === 'bigint') return `i${v};`
  if (typeof v === 'number') return `r${v};` // String(-0) === '0': equal keys, like SQL
  if (typeof v === 'string') return `s${v.length}:${v}`
  if (v instanceof RawText) return `x${v.bytes.length}:${Buffer.from(v.bytes).toString('latin1')}`
  const b = v as Uint8Array
  return `b${b.length}:${Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')}`
}

/**
 * Row key of the PRIMARY KEY values found at `values[offset + idx[i]]`, or null when
 * one of them is NULL (such rows are not recorded, as in the session extension).
 * Integers and strings of a single-column key are used as is (no allocation).
 */
export function rowKey(
  values: readonly unknown[],
  offset: number,
  idx: readonly number[],
): RowKey | null {
  if (idx.length === 1) {
    const v = values[offset + idx[0]!]
    if (v === null) return null
    if (typeof v === 'bigint') {
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v
    }
    if (typeof v === 'string') return v.charCodeAt(0) === 1 ? `\u0001${partKey(v)}` : v
    return `\u0001${partKey(v)}`
  }
  let key = ''
  for (const i of idx) {
    const v = values[offset + i]
    if (v === null) return null
    key += partKey(v)
  }
  return key
}
