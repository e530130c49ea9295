/**
 * A small healthy database written object by object (snapshot, two changesets,
 * manifest), so each hostile case can damage exactly one thing, and helpers to
 * write a state into a store and to list a store (keys + ETags + sizes).
 */
import type { BlobStore } from '@s3db/core'
import { encodeChangeset } from '@s3db/core/internal'
import Database from 'better-sqlite3'

/** Keys relative to the database prefix. */
export const SNAPSHOT = 'snapshots/snap-base.sqlite'
export const CS1 = 'changesets/snap-base/cs-0001.bin'
export const CS2 = 'changesets/snap-base/cs-0002.bin'

export type Row = { id: number; v: string }

/** Rows of table t at seq 3 (snapshot + first changeset) and at seq 4 (the head). */
export const ROWS_AT_3: Row[] = [
  { id: 1, v: 'one' },
  { id: 2, v: 'two' },
  { id: 3, v: 'three' },
]
export const ROWS_AT_4: Row[] = [
  { id: 1, v: 'uno' },
  { id: 2, v: 'two' },
  { id: 3, v: 'three' },
]

/** Manifest JSON as stored (keys relative to the prefix until written). */
export type ManifestJson = Record<string, unknown> & {
  snapshot?: Record<string, unknown>
  log?: Record<string, unknown>[]
}

/**
 * A database state: the manifest (JSON with relative keys, or raw bytes for
 * cases that break JSON itself) and the objects under the prefix. Keys starting
 * with `../` are relative to the prefix's parent (other databases beside it).
 */
export interface State {
  manifest: ManifestJson | Uint8Array
  /** Object bodies; a function builds one that names full keys (a nested database's manifest). */
  objects: Map<string, Body>
}

export type Body = Uint8Array | ((prefix: string) => Uint8Array)

export function sqliteImage(setup: (db: Database.Database) => void): Uint8Array {
  const db = new Database(':memory:')
  db.pragma('page_size = 4096')
  setup(db)
  const image = db.serialize()
  db.close()
  // Rollback-journal mode, as s3db writes snapshots.
  image[18] = 1
  image[19] = 1
  return image
}

/** Table t with rows 1 and 2, and a filler table so the file has several pages. */
export const BASE_SNAPSHOT = sqliteImage((db) => {
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)')
  db.exec("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
  db.exec('CREATE TABLE pad (id INTEGER PRIMARY KEY, b BLOB)')
  const insert = db.prepare('INSERT INTO pad VALUES (?, zeroblob(600))')
  for (let i = 1; i <= 40; i++) insert.run(i)
})

const tPk = [1, 0]
export const CS1_BYTES = encodeChangeset({
  tables: [
    { name: 't', pk: tPk, changes: [{ op: 'INSERT', indirect: false, new: [3n, 'three'] }] },
  ],
})
export const CS2_BYTES = encodeChangeset({
  tables: [
    {
      name: 't',
      pk: tPk,
      changes: [{ op: 'UPDATE', indirect: false, old: [1n, 'one'], new: [undefined, 'uno'] }],
    },
  ],
})

/** The healthy head: snapshot at seq 2, changesets at 3 and 4, every size recorded. */
export function healthy(): State {
  return {
    manifest: {
      format_version: 1,
      seq: 4,
      schema_version: 0,
      snapshot: { key: SNAPSHOT, seq: 2, size: BASE_SNAPSHOT.byteLength },
      log: [
        { key: CS1, seq: 3, size: CS1_BYTES.byteLength },
        { key: CS2, seq: 4, size: CS2_BYTES.byteLength },
      ],
    },
    objects: new Map<string, Body>([
      [SNAPSHOT, BASE_SNAPSHOT],
      [CS1, CS1_BYTES],
      [CS2, CS2_BYTES],
    ]),
  }
}

/** The same database one commit earlier (seq 3): where warm replicas start. */
export function healthyAt3(): State {
  const s = healthy()
  const m = s.manifest as ManifestJson
  m.seq = 3
  m.log = m.log?.slice(0, 1)
  s.objects.delete(CS2)
  return s
}

/** A key relative to the prefix as a full store key. */
export function fullKey(prefix: string, rel: string): string {
  if (rel.startsWith('../')) {
    const parent = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1)
    return parent + rel.slice(3)
  }
  return prefix + rel
}

/** The manifest bytes of a state, with keys made absolute (strings only: wrong types stay). */
export function manifestBytes(state: State, prefix: string): Uint8Array {
  if (state.manifest instanceof Uint8Array) return state.manifest
  const abs = (ref: unknown) => {
    if (typeof ref !== 'object' || ref === null || Array.isArray(ref)) return ref
    const r = ref as Record<string, unknown>
    return typeof r.key === 'string' && r.key !== '' ? { ...r, key: fullKey(prefix, r.key) } : r
  }
  const m = { ...state.manifest }
  if ('snapshot' in m) m.snapshot = abs(m.snapshot) as Record<string, unknown>
  if (Array.isArray(m.log)) m.log = m.log.map(abs) as Record<string, unknown>[]
  return new TextEncoder().encode(JSON.stringify(m))
}

/**
 * Makes the store hold `to` (having held `from`, or nothing): objects first,
 * stale ones deleted, the manifest last, as a writer would.
 */
export async function writeState(
  store: BlobStore,
  prefix: string,
  to: State,
  from?: State,
): Promise<void> {
  for (const rel of from?.objects.keys() ?? []) {
    if (!to.objects.has(rel)) await store.delete(fullKey(prefix, rel))
  }
  for (const [rel, body] of to.objects) {
    const bytes = typeof body === 'function' ? body(prefix) : body
    const old = from?.objects.get(rel)
    if (old instanceof Uint8Array && Buffer.from(old).equals(Buffer.from(bytes))) continue
    await store.put(fullKey(prefix, rel), bytes)
  }
  await store.put(`${prefix}manifest.json`, manifestBytes(to, prefix))
}

/** Every object under `root`: key -> "etag size". */
export async function listing(store: BlobStore, root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const e of store.list(root)) {
    const etag = e.etag ?? (await store.stat(e.key)).etag
    out.set(e.key, `${etag} ${e.size}`)
  }
  return out
}

/** Rows of table t in a SQLite file. */
export function rowsOfFile(path: string): Row[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT id, v FROM t ORDER BY id').all() as Row[]
  } finally {
    db.close()
  }
}
