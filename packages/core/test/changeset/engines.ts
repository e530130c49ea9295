/**
 * The same SQL run on three SQLite builds, so tests can compare them:
 * - better-sqlite3 (+ our ChangeCapture / applyChangeset), the code under test;
 * - SQLite 3.53 compiled to wasm (@sqlite.org/sqlite-wasm) with the real session
 *   extension: the main oracle, it both produces and applies changesets;
 * - node:sqlite, whose sessions are a second oracle.
 */

import { DatabaseSync, constants as sqliteConstants } from 'node:sqlite'
import sqlite3InitModule from '@sqlite.org/sqlite-wasm'
import Database from 'better-sqlite3'
import { ChangeCapture, type ChangeCaptureOptions } from '../../src/changeset/index.js'

/** A bound parameter (TEXT that is not UTF-8 is passed as bytes to `CAST(? AS TEXT)`). */
export type Param = null | bigint | number | string | Uint8Array

/** Outcome of one statement. */
export interface Outcome {
  ok: boolean
  error?: string
}

/** Conflict seen by an apply, as `KIND:table:OP` (table and op empty for FOREIGN_KEY). */
export type ConflictRecord = string

export type Action = 'omit' | 'replace' | 'abort'

/** What both appliers are told to do, per conflict kind. */
export type Policy = (kind: string, table: string, op: string) => Action

export interface Engine {
  exec(sql: string): void
  run(sql: string, params?: readonly Param[]): Outcome
  /**
   * Canonical text of every table's rows (sorted), comparable across engines. With
   * `keyedOnly`, rows whose PRIMARY KEY has a NULL are left out and -0.0 reads as 0.0
   * (changesets skip the former and consider the latter equal).
   */
  dump(keyedOnly?: boolean): string
  close(): void
}

const KINDS = ['', 'DATA', 'NOTFOUND', 'CONFLICT', 'CONSTRAINT', 'FOREIGN_KEY']
const OPS: Record<number, string> = { 18: 'INSERT', 23: 'UPDATE', 9: 'DELETE' }

function fmtReal(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}

/** Canonical dump given a query function returning rows as arrays. */
export function dumpWith(query: (sql: string) => unknown[][], keyedOnly = false): string {
  const tables = query(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
  ).map((r) => String(r[0]))
  const out: string[] = []
  for (const t of tables) {
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`
    const cols = query(
      `SELECT name FROM pragma_table_xinfo(${`'${t.replaceAll("'", "''")}'`}) WHERE hidden IN (0, 2, 3) ORDER BY cid`,
    ).map((r) => String(r[0]))
    const keys = query(
      `SELECT name FROM pragma_table_xinfo(${`'${t.replaceAll("'", "''")}'`}) WHERE pk > 0`,
    ).map((r) => `${q(String(r[0]))} IS NOT NULL`)
    const where = keyedOnly && keys.length > 0 ? ` WHERE ${keys.join(' AND ')}` : ''
    // One result column per table column (SQLite caps result columns at 2000): REAL
    // comes back as a number (exact), everything else as "t:" + canonical text.
    const exprs = cols.map((c) => {
      const x = q(c)
      return `CASE typeof(${x}) WHEN 'real' THEN ${x} WHEN 'integer' THEN 'i:' || CAST(${x} AS TEXT) WHEN 'text' THEN 't:' || hex(CAST(${x} AS BLOB)) WHEN 'blob' THEN 'b:' || hex(${x}) ELSE 'n:' END`
    })
    const rows = query(`SELECT ${exprs.join(', ')} FROM main.${q(t)}${where}`).map((r) =>
      r
        .map((v) => (typeof v === 'number' ? `r:${keyedOnly ? String(v) : fmtReal(v)}` : String(v)))
        .join('|'),
    )
    rows.sort()
    out.push(`## ${t}\n${rows.join('\n')}`)
  }
  return out.join('\n')
}

// ---- better-sqlite3 -------------------------------------------------------------------

export class BetterEngine implements Engine {
  readonly db: Database.Database
  capture: ChangeCapture | undefined

  constructor() {
    this.db = new Database(':memory:')
  }

  startCapture(options?: ChangeCaptureOptions): ChangeCapture {
    this.capture = new ChangeCapture(this.db, options)
    return this.capture
  }

  exec(sql: string): void {
    this.db.exec(sql)
  }

  run(sql: string, params: readonly Param[] = []): Outcome {
    try {
      const st = this.db.prepare(sql)
      if (st.reader) st.all(...params)
      else st.run(...params)
      return { ok: true }
    } catch (e) {
      return { ok: false, error: (e as Error).message }
    } finally {
      this.capture?.syncSchema()
    }
  }

  dump(keyedOnly = false): string {
    return dumpWith(
      (sql) => this.db.prepare(sql).raw(true).safeIntegers(true).all() as unknown[][],
      keyedOnly,
    )
  }

  close(): void {
    this.capture?.close()
    this.db.close()
  }
}

// ---- sqlite-wasm ----------------------------------------------------------------------

type Sqlite3 = Awaited<ReturnType<typeof sqlite3InitModule>>
let wasmModule: Promise<Sqlite3> | undefined

/** The wasm SQLite module (loaded once per test file). */
export function loadWasm(): Promise<Sqlite3> {
  wasmModule ??= sqlite3InitModule().then((m) => {
    // oo1 warns on every failing step; failing statements are part of the workloads.
    m.config.warn = () => {}
    return m
  })
  return wasmModule
}

export class WasmEngine implements Engine {
  private readonly sqlite3: Sqlite3
  readonly db: InstanceType<Sqlite3['oo1']['DB']>
  private session = 0

  constructor(sqlite3: Sqlite3) {
    this.sqlite3 = sqlite3
    this.db = new sqlite3.oo1.DB(':memory:')
    this.db.exec('PRAGMA foreign_keys = ON')
  }

  exec(sql: string): void {
    this.db.exec(sql)
  }

  run(sql: string, params: readonly Param[] = []): Outcome {
    const { capi } = this.sqlite3
    let st: ReturnType<typeof this.db.prepare> | undefined
    try {
      st = this.db.prepare(sql)
      params.forEach((p, i) => {
        // oo1 binds integral numbers as INTEGER; a REAL must stay REAL.
        if (typeof p === 'number') capi.sqlite3_bind_double(st!.pointer!, i + 1, p)
        else st!.bind(i + 1, p as never)
      })
      while (st.step()) {
        /* drain RETURNING rows */
      }
      return { ok: true }
    } catch (e) {
      return { ok: false, error: (e as Error).message }
    } finally {
      st?.finalize()
    }
  }

  dump(keyedOnly = false): string {
    return dumpWith(
      (sql) => this.db.exec({ sql, returnValue: 'resultRows', rowMode: 'array' }) as unknown[][],
      keyedOnly,
    )
  }

  /** Starts a session recording every table of main. */
  startSession(): void {
    const { capi, wasm } = this.sqlite3
    const sp = wasm.pstack.pointer
    try {
      const pp = wasm.pstack.allocPtr()
      if (capi.sqlite3session_create(this.db.pointer!, 'main', pp) !== 0)
        throw new Error('session_create')
      this.session = wasm.peekPtr(pp) as number
      if (capi.sqlite3session_attach(this.session, 0) !== 0) throw new Error('session_attach')
    } finally {
      wasm.pstack.restore(sp)
    }
  }

  /** The session's changeset (empty array when nothing changed); ends the session. */
  sessionChangeset(): Uint8Array {
    const { capi, wasm } = this.sqlite3
    const sp = wasm.pstack.pointer
    try {
      const pn = wasm.pstack.alloc(4)
      const pp = wasm.pstack.allocPtr()
      const rc = capi.sqlite3session_changeset(this.session, pn, pp)
      if (rc !== 0) throw new Error(`sqlite3session_changeset rc=${rc}`)
      const n = wasm.peek32(pn) as number
      const p = wasm.peekPtr(pp) as number
      const bytes = wasm.heap8u().slice(p, p + n)
      capi.sqlite3_free(p)
      return bytes
    } finally {
      wasm.pstack.restore(sp)
      capi.sqlite3session_delete(this.session)
      this.session = 0
    }
  }

  /** sqlite3changeset_apply with `policy`; returns its rc and the conflicts it reported. */
  apply(bytes: Uint8Array, policy: Policy): { rc: number; conflicts: ConflictRecord[] } {
    const { capi, wasm } = this.sqlite3
    const conflicts: ConflictRecord[] = []
    const codes = { omit: 0, replace: 1, abort: 2 } as const
    const pBuf = wasm.allocFromTypedArray(bytes.length ? new Uint8Array(bytes) : new Uint8Array(1))
    try {
      const rc = capi.sqlite3changeset_apply(
        this.db.pointer!,
        bytes.length,
        pBuf,
        0,
        (_ctx: number, eConflict: number, pIter: number): 0 | 1 | 2 => {
          const kind = KINDS[eConflict] ?? `?${eConflict}`
          let table = ''
          let op = ''
          if (kind !== 'FOREIGN_KEY') {
            const sp = wasm.pstack.pointer
            try {
              const pz = wasm.pstack.allocPtr()
              const pn = wasm.pstack.alloc(4)
              const pop = wasm.pstack.alloc(4)
              const pind = wasm.pstack.alloc(4)
              capi.sqlite3changeset_op(pIter, pz, pn, pop, pind)
              table = wasm.cstrToJs(wasm.peekPtr(pz) as number) ?? ''
              op = OPS[wasm.peek32(pop) as number] ?? '?'
            } finally {
              wasm.pstack.restore(sp)
            }
          }
          conflicts.push(`${kind}:${table}:${op}`)
          return codes[policy(kind, table, op)]
        },
        0,
      )
      return { rc, conflicts }
    } finally {
      wasm.dealloc(pBuf)
    }
  }

  close(): void {
    if (this.session) this.sqlite3.capi.sqlite3session_delete(this.session)
    this.db.close()
  }
}

// ---- node:sqlite ----------------------------------------------------------------------

export class NodeEngine implements Engine {
  readonly db: DatabaseSync
  private session: ReturnType<DatabaseSync['createSession']> | undefined

  constructor() {
    this.db = new DatabaseSync(':memory:')
    this.db.exec('PRAGMA foreign_keys = ON')
  }

  exec(sql: string): void {
    this.db.exec(sql)
  }

  run(sql: string, params: readonly Param[] = []): Outcome {
    try {
      const st = this.db.prepare(sql)
      st.setReadBigInts(true)
      st.all(...(params as never[]))
      return { ok: true }
    } catch (e) {
      return { ok: false, error: (e as Error).message }
    }
  }

  dump(keyedOnly = false): string {
    return dumpWith((sql) => {
      const st = this.db.prepare(sql)
      st.setReadBigInts(true)
      st.setReturnArrays(true)
      return st.all() as unknown as unknown[][]
    }, keyedOnly)
  }

  startSession(): void {
    this.session = this.db.createSession({ db: 'main' })
  }

  sessionChangeset(): Uint8Array {
    const cs = this.session!.changeset()
    this.session!.close()
    this.session = undefined
    return cs
  }

  /** node:sqlite's applyChangeset; returns true when it applied. */
  apply(bytes: Uint8Array, policy: Policy): { ok: boolean; conflicts: string[] } {
    const conflicts: string[] = []
    const codes = {
      omit: sqliteConstants.SQLITE_CHANGESET_OMIT,
      replace: sqliteConstants.SQLITE_CHANGESET_REPLACE,
      abort: sqliteConstants.SQLITE_CHANGESET_ABORT,
    }
    const ok = this.db.applyChangeset(bytes, {
      onConflict: (type: number) => {
        const kind = KINDS[type] ?? `?${type}`
        conflicts.push(kind)
        return codes[policy(kind, '', '')]
      },
    })
    return { ok, conflicts }
  }

  close(): void {
    this.session?.close()
    this.db.close()
  }
}
