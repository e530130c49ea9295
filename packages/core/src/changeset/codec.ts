/**
 * Encoder and strict decoder for SQLite session-extension changesets and patchsets
 * (FORMAT.md, "Changeset").
 *
 * The decoder accepts exactly what SQLite's own iterator accepts from real producers
 * and rejects everything else with {@link CorruptError}: truncation anywhere, unknown
 * op or value type bytes, an indirect flag other than 0/1, lengths that run past the
 * end, column counts outside 1..65536, PRIMARY KEY ordinals that are not a permutation
 * of 1..k, table names that are empty or not UTF-8, changes before any table header,
 * records that lack values SQLite's apply needs (an INSERT or DELETE with an undefined
 * field, an UPDATE without its key or without any new value). It never throws anything
 * else and runs in time linear in the input.
 *
 * @module
 */

import { isUtf8 } from 'node:buffer'
import { CorruptError, InvalidArgumentError } from '../errors.js'
import {
  type Change,
  type Changeset,
  type Field,
  OP_DELETE,
  OP_INSERT,
  OP_UPDATE,
  T_BLOB,
  T_INTEGER,
  T_NULL,
  T_REAL,
  T_TEXT,
  T_UNDEFINED,
  type TableChanges,
  type Value,
} from './types.js'
import { textFromBytes } from './values.js'
import { type Cursor, readVarint } from './varint.js'
import { ChangesetWriter } from './writer.js'

/** Largest column count SQLite's iterator accepts in a table header. */
const MAX_COLUMNS = 65536

/** Options of {@link decodeChangeset}. */
export interface DecodeOptions {
  /**
   * Decode a patchset (table headers 'P') instead of a changeset (headers 'T').
   * Mixing both kinds in one blob is rejected either way.
   */
  patchset?: boolean
}

/**
 * Serialises `changeset` in SQLite's changeset (or, when `changeset.patchset`, patchset)
 * format. Throws {@link InvalidArgumentError} for records of the wrong length or
 * values that the format cannot hold.
 */
export function encodeChangeset(changeset: Changeset): Uint8Array {
  const w = new ChangesetWriter()
  const patchset = changeset.patchset === true
  for (const table of changeset.tables) {
    const nCol = table.pk.length
    w.tableHeader(table.name, table.pk, patchset)
    for (const change of table.changes) {
      switch (change.op) {
        case 'INSERT':
          w.changeHeader(OP_INSERT, change.indirect)
          writeRecord(w, table, change.new, true)
          break
        case 'DELETE':
          w.changeHeader(OP_DELETE, change.indirect)
          if (patchset) {
            checkLength(table, change.old)
            for (let i = 0; i < nCol; i++) if (table.pk[i]) w.field(required(table, change.old[i]))
          } else {
            writeRecord(w, table, change.old, true)
          }
          break
        case 'UPDATE':
          w.changeHeader(OP_UPDATE, change.indirect)
          if (patchset) {
            // A patchset UPDATE has only the new record, PK values included.
            checkLength(table, change.old)
            checkLength(table, change.new)
            for (let i = 0; i < nCol; i++) {
              w.field(table.pk[i] ? required(table, change.old[i]) : change.new[i])
            }
          } else {
            writeRecord(w, table, change.old, false)
            writeRecord(w, table, change.new, false)
          }
          break
        default:
          throw new InvalidArgumentError(`unknown change op ${(change as { op: unknown }).op}`)
      }
    }
  }
  return w.finish()
}

function checkLength(table: TableChanges, record: readonly Field[]): void {
  if (record.length !== table.pk.length) {
    throw new InvalidArgumentError(
      `record of ${record.length} values for table "${table.name}" of ${table.pk.length} columns`,
    )
  }
}

function required(table: TableChanges, v: Field): Value {
  if (v === undefined) {
    throw new InvalidArgumentError(`missing value in a change to table "${table.name}"`)
  }
  return v
}

function writeRecord(
  w: ChangesetWriter,
  table: TableChanges,
  record: readonly Field[],
  complete: boolean,
): void {
  checkLength(table, record)
  for (const v of record) w.field(complete ? required(table, v) : v)
}

/**
 * Parses a changeset (or, with `{ patchset: true }`, a patchset). Throws
 * {@link CorruptError} on any malformed input (see the module documentation).
 */
export function decodeChangeset(bytes: Uint8Array, options?: DecodeOptions): Changeset {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('changeset must be bytes')
  return new Decoder(bytes, options?.patchset === true).run()
}

class Decoder {
  private readonly buf: Buffer
  private readonly end: number
  private readonly cur: Cursor = { pos: 0 }
  private readonly patchset: boolean

  constructor(bytes: Uint8Array, patchset: boolean) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.end = bytes.byteLength
    this.patchset = patchset
  }

  private fail(what: string, at = this.cur.pos): never {
    throw new CorruptError(
      `malformed ${this.patchset ? 'patchset' : 'changeset'}: ${what} at byte ${at}`,
    )
  }

  run(): Changeset {
    const tables: TableChanges[] = []
    let table: { name: string; pk: number[]; changes: Change[] } | undefined
    const headerByte = this.patchset ? 0x50 : 0x54
    while (this.cur.pos < this.end) {
      const at = this.cur.pos
      const b = this.buf[this.cur.pos++]!
      if (b === 0x54 || b === 0x50) {
        if (b !== headerByte) {
          this.fail(
            this.patchset
              ? 'changeset table header in a patchset'
              : 'patchset table header in a changeset',
            at,
          )
        }
        table = this.tableHeader()
        tables.push(table)
        continue
      }
      if (table === undefined) this.fail('change before any table header', at)
      if (b !== OP_INSERT && b !== OP_UPDATE && b !== OP_DELETE)
        this.fail(`unknown op byte 0x${b.toString(16)}`, at)
      if (this.cur.pos >= this.end) this.fail('truncated change (no indirect flag)')
      const flag = this.buf[this.cur.pos++]!
      if (flag > 1) this.fail(`invalid indirect flag ${flag}`, this.cur.pos - 1)
      table.changes.push(this.change(b, flag === 1, table.pk, at))
    }
    return this.patchset ? { patchset: true, tables } : { tables }
  }

  private tableHeader(): { name: string; pk: number[]; changes: Change[] } {
    const nCol = readVarint(this.buf, this.cur, this.end)
    if (nCol < 0) this.fail('truncated table header')
    if (nCol < 1 || nCol > MAX_COLUMNS) this.fail(`column count ${nCol} out of range`)
    if (this.end - this.cur.pos < nCol) this.fail('truncated table header (PRIMARY KEY flags)')
    const pk: number[] = new Array(nCol)
    const seen = new Uint8Array(nCol + 1)
    let nPk = 0
    for (let i = 0; i < nCol; i++) {
      const o = this.buf[this.cur.pos++]!
      pk[i] = o
      if (o === 0) continue
      if (o > nCol || seen[o]) this.fail(`invalid PRIMARY KEY ordinal ${o}`, this.cur.pos - 1)
      seen[o] = 1
      nPk++
    }
    if (nPk === 0) this.fail('table without PRIMARY KEY columns')
    for (let o = 1; o <= nPk; o++) if (!seen[o]) this.fail(`PRIMARY KEY ordinals skip ${o}`)
    const start = this.cur.pos
    const nul = this.buf.indexOf(0, start)
    if (nul < 0 || nul >= this.end) this.fail('unterminated table name', start)
    if (nul === start) this.fail('empty table name', start)
    const raw = this.buf.subarray(start, nul)
    if (!isUtf8(raw)) this.fail('table name is not UTF-8', start)
    this.cur.pos = nul + 1
    return { name: raw.toString('utf8'), pk, changes: [] }
  }

  private change(op: number, indirect: boolean, pk: readonly number[], at: number): Change {
    const nCol = pk.length
    if (op === OP_INSERT) {
      const values = this.record(nCol, null)
      for (const v of values) if (v === undefined) this.fail('INSERT with an undefined value', at)
      return { op: 'INSERT', indirect, new: values as Value[] }
    }
    if (op === OP_DELETE) {
      const old = this.record(nCol, this.patchset ? pk : null)
      for (let i = 0; i < nCol; i++) {
        if (old[i] === undefined && (pk[i] || !this.patchset))
          this.fail('DELETE with an undefined value', at)
      }
      return { op: 'DELETE', indirect, old }
    }
    if (this.patchset) {
      // Only the new record; like SQLite's iterator, move the PK values into old.
      const neu = this.record(nCol, null)
      const old: Field[] = new Array(nCol).fill(undefined)
      for (let i = 0; i < nCol; i++) {
        if (!pk[i]) continue
        if (neu[i] === undefined) this.fail('UPDATE without its PRIMARY KEY', at)
        old[i] = neu[i]
        neu[i] = undefined
      }
      if (!neu.some((v) => v !== undefined)) this.fail('UPDATE without new values', at)
      return { op: 'UPDATE', indirect, old, new: neu }
    }
    const old = this.record(nCol, null)
    const neu = this.record(nCol, null)
    for (let i = 0; i < nCol; i++) {
      if (pk[i] && old[i] === undefined) this.fail('UPDATE without its PRIMARY KEY', at)
    }
    if (!neu.some((v) => v !== undefined)) this.fail('UPDATE without new values', at)
    return { op: 'UPDATE', indirect, old, new: neu }
  }

  /** Reads one record; with `only`, just the fields where only[i] is non-zero. */
  private record(nCol: number, only: readonly number[] | null): Field[] {
    const out: Field[] = new Array(nCol)
    for (let i = 0; i < nCol; i++) {
      out[i] = only && !only[i] ? undefined : this.field()
    }
    return out
  }

  private field(): Field {
    const buf = this.buf
    const cur = this.cur
    if (cur.pos >= this.end) this.fail('truncated record')
    const at = cur.pos
    const type = buf[cur.pos++]!
    switch (type) {
      case T_UNDEFINED:
        return undefined
      case T_NULL:
        return null
      case T_INTEGER:
        if (this.end - cur.pos < 8) this.fail('truncated integer')
        cur.pos += 8
        return buf.readBigInt64BE(cur.pos - 8)
      case T_REAL:
        if (this.end - cur.pos < 8) this.fail('truncated real')
        cur.pos += 8
        return buf.readDoubleBE(cur.pos - 8)
      case T_TEXT:
      case T_BLOB: {
        const n = readVarint(buf, cur, this.end)
        if (n < 0) this.fail('truncated length')
        if (n > this.end - cur.pos) this.fail(`length ${n} runs past the end`, at)
        const start = cur.pos
        cur.pos += n
        if (type === T_BLOB) return Buffer.from(buf.subarray(start, start + n))
        return textFromBytes(buf.subarray(start, start + n))
      }
      default:
        return this.fail(`unknown value type ${type}`, at)
    }
  }
}
