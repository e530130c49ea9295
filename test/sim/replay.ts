/**
 * The oracle for replica convergence: the committed log replayed with plain
 * SQLite (node:sqlite's session extension, not the engine's apply code), and a
 * canonical per-table dump both sides can produce.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, DatabaseSync } from 'node:sqlite'
import { parseManifest } from '@s3db/core/internal'

/** Table name -> sorted rows, each row as SQL literals joined by '|'. */
export type Dump = Record<string, string[]>

const TABLES =
  "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"

/** The query that dumps one table canonically (quote() is the same in every SQLite). */
export function rowsQuery(table: string, columns: string[]): string {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`
  const expr = columns.map((c) => `quote(${q(c)})`).join(` || '|' || `)
  return `SELECT ${expr || "''"} AS r FROM main.${q(table)}`
}

/** Dumps every user table through a query function returning row objects. */
export function dumpWith(query: (sql: string) => Record<string, unknown>[]): Dump {
  const out: Dump = {}
  for (const { name } of query(TABLES) as { name: string }[]) {
    const cols = (
      query(`SELECT name FROM pragma_table_info('${name.replaceAll("'", "''")}') ORDER BY cid`) as {
        name: string
      }[]
    ).map((c) => c.name)
    out[name] = (query(rowsQuery(name, cols)) as { r: string }[]).map((r) => String(r.r)).sort()
  }
  return out
}

/** Reads objects of the store (directly, or over the simulated network). */
export type ObjectReader = (key: string) => Uint8Array | undefined

export type Replayed =
  | { ok: true; dump: Dump; seq: number; schemaVersion: number; file?: string }
  | { ok: false; error: string }

/**
 * Replays the manifest at `manifestKey` with plain SQLite: the snapshot, then
 * every log entry applied strictly (any conflict aborts). With `keepFile`, the
 * built file is left for the caller (who removes its directory).
 */
export function replay(
  read: ObjectReader,
  manifestKey: string,
  prefix: string,
  keepFile?: string,
): Replayed {
  const mbytes = read(manifestKey)
  if (!mbytes) return { ok: false, error: 'no manifest' }
  let manifest: ReturnType<typeof parseManifest>
  try {
    manifest = parseManifest(mbytes, manifestKey, prefix)
  } catch (err) {
    return { ok: false, error: `manifest does not parse: ${(err as Error).message}` }
  }
  const snapshot = read(manifest.snapshot.key)
  if (!snapshot) return { ok: false, error: `snapshot ${manifest.snapshot.key} is missing` }
  const changesets: Uint8Array[] = []
  for (const e of manifest.log) {
    const cs = read(e.key)
    if (!cs) return { ok: false, error: `changeset ${e.key} (seq ${e.seq}) is missing` }
    changesets.push(cs)
  }
  const dir = keepFile ? undefined : mkdtempSync(join(tmpdir(), 's3db-sim-replay-'))
  const file = keepFile ?? join(dir!, 'replay.sqlite')
  try {
    writeFileSync(file, snapshot)
    const db = new DatabaseSync(file, { enableForeignKeyConstraints: false })
    try {
      for (let i = 0; i < changesets.length; i++) {
        const conflicts: number[] = []
        const ok = db.applyChangeset(changesets[i]!, {
          onConflict: (type: number) => {
            conflicts.push(type)
            return constants.SQLITE_CHANGESET_ABORT
          },
        })
        if (!ok || conflicts.length > 0)
          return {
            ok: false,
            error: `changeset ${manifest.log[i]!.key} (seq ${manifest.log[i]!.seq}) does not apply strictly to the state before it (conflict types ${conflicts.join(',')})`,
          }
      }
      const dump = dumpWith((sql) => db.prepare(sql).all() as Record<string, unknown>[])
      return {
        ok: true,
        dump,
        seq: manifest.seq,
        schemaVersion: manifest.schemaVersion,
        file: keepFile,
      }
    } finally {
      db.close()
    }
  } catch (err) {
    return { ok: false, error: `replay failed: ${(err as Error).message}` }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}

/** Differences between two dumps, table by table (empty when equal). */
export function diffDumps(expected: Dump, actual: Dump): string[] {
  const out: string[] = []
  const tables = new Set([...Object.keys(expected), ...Object.keys(actual)])
  for (const t of [...tables].sort()) {
    const e = expected[t]
    const a = actual[t]
    if (!e) {
      out.push(`table ${t} exists but should not`)
      continue
    }
    if (!a) {
      out.push(`table ${t} is missing`)
      continue
    }
    const es = new Set(e)
    const as = new Set(a)
    const missing = e.filter((r) => !as.has(r))
    const extra = a.filter((r) => !es.has(r))
    if (missing.length > 0 || extra.length > 0 || e.length !== a.length)
      out.push(
        `table ${t}: ${missing.length} row(s) missing${missing.length ? ` (e.g. ${missing[0]})` : ''}, ${extra.length} extra${extra.length ? ` (e.g. ${extra[0]})` : ''}`,
      )
  }
  return out
}
