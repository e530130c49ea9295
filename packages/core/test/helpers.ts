/** Shared helpers for engine tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, expect } from 'vitest'
import { isS3dbError } from '../src/errors.js'
import { parseManifest } from '../src/format/manifest.js'
import { S3db, type S3dbOptions } from '../src/s3db.js'
import type { BlobStore } from '../src/store/blob-store.js'
import { MemoryBlobStore } from '../src/store/memory-store.js'
import { pullDatabase } from '../src/transfer.js'
import type { Tx } from '../src/tx.js'

export const PREFIX = 'app/db/'

/** A temp dir removed by the returned cleanup. */
export async function tempDir(label = 'test'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `s3db-${label}-`))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

const USER_TABLES =
  "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"

const selectAll = (table: string) => `SELECT * FROM "${table.replaceAll('"', '""')}"`

/** An integer read as bigint: a number when exact, else its digits and `n`. */
function integer(v: bigint): number | string {
  const n = Number(v)
  return Number.isSafeInteger(n) ? n : `${v}n`
}

/** Rows as sorted JSON strings: two dumps compare whatever their row order. */
function encodeRows(rows: unknown[][]): string[] {
  return rows
    .map((r) =>
      JSON.stringify(r, (_k, v) =>
        typeof v === 'bigint' ? integer(v) : v instanceof Buffer ? `x'${v.toString('hex')}'` : v,
      ),
    )
    .sort()
}

/** Every user table's rows, sorted, as JSON-comparable values. */
export function dumpDatabase(db: Database.Database): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {}
  for (const t of db.prepare(USER_TABLES).pluck().all() as string[]) {
    // Integers as bigint: a value beyond 2^53 must compare exactly, not rounded.
    out[t] = encodeRows(db.prepare(selectAll(t)).raw(true).safeIntegers(true).all() as unknown[][])
  }
  return out
}

/** The database as a live S3db instance sees it (through a view). */
export async function dumpLive(db: S3db): Promise<Record<string, unknown[]>> {
  return db.view((tx) => {
    const out: Record<string, unknown[]> = {}
    for (const { name } of tx.all<{ name: string }>(USER_TABLES)) {
      out[name] = encodeRows(tx.prepare(selectAll(name)).safeIntegers().values())
    }
    return out
  })
}

/**
 * The replay check: a fresh replica built from snapshot + log in the store must
 * equal every live replica, row for row.
 */
export async function expectReplayMatches(
  store: BlobStore,
  prefix: string,
  live: S3db[],
): Promise<Record<string, unknown[]>> {
  const { dir, cleanup } = await tempDir('replay')
  try {
    const file = join(dir, 'fresh.sqlite')
    await pullDatabase(store, prefix, file)
    const db = new Database(file, { readonly: true })
    const fresh = dumpDatabase(db)
    db.close()
    for (const instance of live) expect(await dumpLive(instance)).toEqual(fresh)
    return fresh
  } finally {
    await cleanup()
  }
}

/**
 * A memory store whose next manifest PUTs can be made to misbehave: applied but
 * reported as failed (a lost response), or preceded by someone else's write.
 */
export class ScriptedStore extends MemoryBlobStore {
  /** Runs before the next manifest PUT is applied (once per entry). */
  beforeManifestPut: Array<() => Promise<void>> = []
  /** For each true entry, the next manifest PUT is applied, then an ambiguous error is thrown. */
  loseResponse: boolean[] = []
  /** Runs after a lost-response PUT was applied, before the error is thrown. */
  afterLostResponse: (() => Promise<void>) | undefined
  /** Runs before the next changeset GET is answered (once per entry). */
  beforeChangesetGet: Array<() => Promise<void>> = []

  override async get(
    key: string,
    options?: Parameters<MemoryBlobStore['get']>[1],
  ): ReturnType<MemoryBlobStore['get']> {
    if (key.includes('/changesets/')) await this.beforeChangesetGet.shift()?.()
    return super.get(key, options)
  }

  override async put(
    key: string,
    body: Parameters<MemoryBlobStore['put']>[1],
    options: Parameters<MemoryBlobStore['put']>[2] = {},
  ) {
    if (key.endsWith('manifest.json') && options.ifMatch !== undefined) {
      const before = this.beforeManifestPut.shift()
      if (before) await before()
      if (this.loseResponse.shift()) {
        await super.put(key, body, options)
        await this.afterLostResponse?.()
        const { StoreUnavailableError } = await import('../src/errors.js')
        throw new StoreUnavailableError('simulated: response lost after the write applied', {
          maybeApplied: true,
        })
      }
    }
    return super.put(key, body, options)
  }
}

/**
 * An opener for a test file: databases at PREFIX with `defaults`, all closed
 * after each test.
 */
export function useDatabases(defaults: S3dbOptions = {}) {
  const open: S3db[] = []
  const closeAll = async () => {
    await Promise.all(open.splice(0).map((db) => db.close()))
  }
  afterEach(closeAll)
  const openDb = async (store: BlobStore, options: S3dbOptions = {}): Promise<S3db> => {
    const db = await S3db.open(store, PREFIX, { ...defaults, ...options })
    open.push(db)
    return db
  }
  return Object.assign(openDb, { closeAll })
}

/** The manifest at PREFIX, parsed. */
export async function manifestOf(store: BlobStore) {
  const res = await store.get(`${PREFIX}manifest.json`)
  if (res.notModified) throw new Error('notModified')
  return parseManifest(res.body, 'm', PREFIX)
}

/** The error code a promise rejects with, or 'ok'. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return isS3dbError(err) ? err.code : String(err)
  }
}

/**
 * `store` with some methods replaced; the others delegate. It has the identity
 * of the store it wraps (a replica file is reused across both).
 */
export function wrapStore(store: BlobStore, overrides: Partial<BlobStore>): BlobStore {
  return {
    inner: store,
    get: (k, o) => store.get(k, o),
    getStream: (k, o) => store.getStream(k, o),
    stat: (k, o) => store.stat(k, o),
    put: (k, b, o) => store.put(k, b, o),
    list: (p, o) => store.list(p, o),
    delete: (k, o) => store.delete(k, o),
    deleteMany: (k, o) => store.deleteMany(k, o),
    deletePrefix: (p, o) => store.deletePrefix(p, o),
    ...overrides,
  } as BlobStore
}

/** The names of the tables in `tx`'s database, sorted. */
export const tableNames = (tx: Tx): string[] =>
  tx
    .all<{ name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .map((r) => r.name)
