/**
 * Recognising transactions that read nothing but the rows they write, found by
 * their full primary key: "point writes". Such a transaction, computed on a
 * manifest, stays valid in the same commit as other transactions computed on
 * that manifest when no two of them touch the same row, so another process may
 * publish it with its own (see co-commit in write-queue.ts).
 *
 * The test is conservative and exact: every statement of the transaction must
 * run through `tx.run` on a table without triggers and without foreign keys
 * either way, and change exactly one row (a statement that found no row read its
 * absence, which no changeset records); and be either an UPDATE or DELETE whose
 * query plan is a single search by the whole primary key, or a plain
 * `INSERT INTO ... VALUES` (no plan at all: it reads only the absence of its
 * keys, primary and unique, which applying its changeset checks again). Any
 * other statement (a SELECT, `exec`, a prepared statement, an upsert, `INSERT OR
 * ...`, INSERT ... SELECT, a plan with a subquery or a scan) makes the
 * transaction an ordinary one.
 *
 * @module
 */
import type Database from 'better-sqlite3'
import type { SqlParams } from './tx.js'

interface Classified {
  /** Schema version the verdicts hold for. */
  version: number
  verdicts: Map<string, boolean>
  tables: Map<string, boolean>
}

const classified = new WeakMap<Database.Database, Classified>()

/** Most statements whose verdict is kept per connection. */
const MAX_VERDICTS = 512

const WRITE = /^\s*(?:update|delete)\s/i
const UPDATE_OR = /^\s*update\s+or\s/i
/** `INSERT INTO <table>` (not `INSERT OR ...`, not `REPLACE`), with the table's name. */
const INSERT =
  /^\s*insert\s+into\s+(?:main\s*\.\s*)?("(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[A-Za-z_][\w$]*)/i
/** An upsert reads the row it may update instead; an INSERT ... SELECT reads anything. */
const UPSERT = /\bon\s+conflict\b/i
const SELECT = /\bselect\b/i
/** `id IN (...)` searches the key too, and may read rows that are absent: never a point write. */
const IN_LIST = /\bin\s*\(/i
const ROWID_SEARCH = /^SEARCH (\S+) USING INTEGER PRIMARY KEY \(rowid=\?\)$/
const PK_SEARCH = /^SEARCH (\S+) USING PRIMARY KEY \((.+)\)$/

/** Tracks whether the statements of one transaction are all point writes. */
export class PointWrites {
  readonly #db: Database.Database
  #eligible = true

  constructor(db: Database.Database) {
    this.#db = db
  }

  /** True when every statement so far was a point write that changed exactly one row. */
  get eligible(): boolean {
    return this.#eligible
  }

  /** Starts a new transaction. */
  reset(): void {
    this.#eligible = true
  }

  /**
   * Records a statement the transaction ran: `changes` is the rows a `run`
   * changed, undefined for anything else (a read, `exec`, a prepared statement).
   */
  note(sql: string, params: SqlParams | undefined, changes: number | undefined): void {
    if (!this.#eligible) return
    try {
      if (changes !== 1 || !this.#isPointWrite(sql, params)) this.#eligible = false
    } catch {
      this.#eligible = false
    }
  }

  #isPointWrite(sql: string, params: SqlParams | undefined): boolean {
    const db = this.#db
    const version = db.pragma('schema_version', { simple: true }) as number
    let c = classified.get(db)
    if (!c || c.version !== version) {
      c = { version, verdicts: new Map(), tables: new Map() }
      classified.set(db, c)
    }
    let verdict = c.verdicts.get(sql)
    if (verdict === undefined) {
      verdict = classify(db, c, sql, params)
      if (c.verdicts.size >= MAX_VERDICTS) c.verdicts.clear()
      c.verdicts.set(sql, verdict)
    }
    return verdict
  }
}

function classify(
  db: Database.Database,
  c: Classified,
  sql: string,
  params: SqlParams | undefined,
): boolean {
  const insert = INSERT.exec(sql)
  if (!insert && (!WRITE.test(sql) || UPDATE_OR.test(sql) || IN_LIST.test(sql))) return false
  if (insert && (UPSERT.test(sql) || SELECT.test(sql))) return false
  let plan: { detail: string }[]
  try {
    const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    plan = (
      params === undefined
        ? stmt.all()
        : Array.isArray(params)
          ? stmt.all(...params)
          : stmt.all(params)
    ) as { detail: string }[]
  } catch {
    return false
  }
  if (insert) {
    // A plain INSERT reads nothing but the absence of its keys (primary and
    // unique), which applying its changeset checks again: no plan at all.
    if (plan.length !== 0) return false
    return plainTableCached(db, c, unquote(insert[1]!))
  }
  if (plan.length !== 1) return false
  const detail = plan[0]!.detail
  const rowid = ROWID_SEARCH.exec(detail)
  let table: string
  if (rowid) {
    table = rowid[1]!
  } else {
    const pk = PK_SEARCH.exec(detail)
    if (!pk) return false
    table = pk[1]!
    const terms = pk[2]!.split(' AND ')
    if (!terms.every((t) => /^\S+=\?$/.test(t))) return false
    const keyColumns = (
      db.prepare('SELECT count(*) AS n FROM pragma_table_info(?) WHERE pk > 0').get(table) as {
        n: number
      }
    ).n
    if (keyColumns === 0 || terms.length !== keyColumns) return false
  }
  return plainTableCached(db, c, table)
}

function plainTableCached(db: Database.Database, c: Classified, table: string): boolean {
  let ok = c.tables.get(table)
  if (ok === undefined) {
    ok = plainTable(db, table)
    c.tables.set(table, ok)
  }
  return ok
}

/** A table name as written in SQL, without its quotes. */
function unquote(name: string): string {
  const q = name[0]
  if (q === '"') return name.slice(1, -1).replaceAll('""', '"')
  if (q === '`') return name.slice(1, -1).replaceAll('``', '`')
  if (q === '[') return name.slice(1, -1)
  return name
}

/** A table of `main` (not an alias) without triggers and foreign keys in either direction. */
function plainTable(db: Database.Database, table: string): boolean {
  const row = db
    .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name = ?")
    .get(table) as { name: string } | undefined
  if (!row) return false
  const triggers = db
    .prepare("SELECT count(*) AS n FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ?")
    .get(table) as { n: number }
  if (triggers.n > 0) return false
  const references = db
    .prepare(
      `SELECT count(*) AS n FROM main.sqlite_schema s, pragma_foreign_key_list(s.name) f
       WHERE s.type = 'table' AND (s.name = @t OR f."table" = @t COLLATE NOCASE)`,
    )
    .get({ t: table }) as { n: number }
  return references.n === 0
}
