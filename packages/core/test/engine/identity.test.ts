/**
 * Replica identity: a replica is at (seq, the object that committed it), never
 * seq alone. Same seq does not mean same state (the Go client's push and
 * migrations replace the snapshot keeping seq; a database can be deleted and
 * re-created; an operator can restore an older manifest.json). Every such
 * change is noticed at the next sync by running handles and reopened
 * localPaths, rebuilt and reported. And replicas apply the log as it is:
 * triggers do not fire again, conflicts are divergence, never papered over.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import type { S3dbEvent } from '../../src/events.js'
import { S3db } from '../../src/s3db.js'
import type { BlobStore } from '../../src/store/blob-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { pullDatabase } from '../../src/transfer.js'
import {
  codeOf,
  expectReplayMatches,
  PREFIX,
  ScriptedStore,
  tempDir,
  useDatabases,
  wrapStore,
} from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })
const MANIFEST = `${PREFIX}manifest.json`

const names = (db: S3db) =>
  db.view((tx) =>
    tx.all<{ name: string }>('SELECT name FROM people ORDER BY id').map((r) => r.name),
  )

async function setup(db: S3db): Promise<void> {
  await db.update((tx) =>
    tx.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)'),
  )
  await db.update((tx) => tx.run("INSERT INTO people VALUES (1, 'ada')"))
  await db.update((tx) => tx.run("INSERT INTO people VALUES (2, 'bob')"))
}

async function readJson(store: BlobStore, key: string) {
  const res = await store.get(key)
  if (res.notModified) throw new Error('notModified')
  return { json: JSON.parse(Buffer.from(res.body).toString('utf8')), etag: res.etag }
}

/**
 * What the Go client's Push (and each Go migration) does: pull, edit the file,
 * upload it as a new snapshot and CAS the manifest to {seq unchanged,
 * snapshot.seq unchanged, log: []}. Fields it does not know are dropped.
 */
async function goPushSameSeq(store: BlobStore, edit: (db: Database.Database) => void) {
  const { dir, cleanup } = await tempDir('gopush')
  try {
    const file = join(dir, 'pulled.sqlite')
    await pullDatabase(store, PREFIX, file)
    const db = new Database(file)
    edit(db)
    db.close()
    const { json, etag } = await readJson(store, MANIFEST)
    const key = `${PREFIX}snapshots/snap-go-${Math.random().toString(36).slice(2)}.sqlite`
    const bytes = await readFile(file)
    await store.put(key, bytes)
    const next = {
      format_version: 1,
      seq: json.seq,
      schema_version: json.schema_version,
      snapshot: { key, seq: json.seq, size: bytes.byteLength },
      log: [],
    }
    await store.put(MANIFEST, Buffer.from(JSON.stringify(next)), { ifMatch: etag })
  } finally {
    await cleanup()
  }
}

describe('replica identity', () => {
  it('a warm handle notices a same-seq snapshot replacement, serves the new state and writes on it', async () => {
    const store = new MemoryBlobStore()
    const events: S3dbEvent[] = []
    const a = await openDb(store, { onEvent: (e) => events.push(e) })
    await setup(a)
    await goPushSameSeq(store, (db) => db.exec("UPDATE people SET name = 'carol' WHERE id = 2"))
    expect(await names(a)).toEqual(['ada', 'carol'])
    expect(events.some((e) => e.type === 'rebuild' && /replaced/.test(e.reason))).toBe(true)
    // Its next write is computed on the new state: a fresh replica (as a Go
    // reader builds it, strictly) applies it cleanly.
    await a.update((tx) => tx.run("UPDATE people SET name = 'dan' WHERE id = 2"))
    const fresh = await expectReplayMatches(store, PREFIX, [a])
    expect(fresh.people).toEqual(['[1,"ada"]', '[2,"dan"]'])
  })

  it('a reopened localPath notices a same-seq snapshot replacement', async () => {
    const { dir, cleanup } = await tempDir('identity')
    try {
      const store = new MemoryBlobStore()
      const localPath = join(dir, 'replica.sqlite')
      const a = await S3db.open(store, PREFIX, { localPath })
      await setup(a)
      await a.close()
      await goPushSameSeq(store, (db) => db.exec("UPDATE people SET name = 'carol' WHERE id = 1"))
      const again = await S3db.open(store, PREFIX, { localPath })
      expect(await names(again)).toEqual(['carol', 'bob'])
      await again.close()
    } finally {
      await cleanup()
    }
  })

  it('a database deleted and re-created at the same prefix is never served from the old replica', async () => {
    const { dir, cleanup } = await tempDir('identity')
    try {
      const store = new MemoryBlobStore()
      const localPath = join(dir, 'replica.sqlite')
      const warm = await openDb(store)
      const a = await S3db.open(store, PREFIX, { localPath })
      await setup(a)
      await warm.view(() => 0)
      await a.close()
      await store.deletePrefix(PREFIX)
      const b = await S3db.open(store, PREFIX)
      await b.update((tx) =>
        tx.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL)'),
      )
      await b.update((tx) => tx.run("INSERT INTO people VALUES (1, 'xena')"))
      await b.update((tx) => tx.run("INSERT INTO people VALUES (2, 'yuri')"))
      await b.close()
      const again = await S3db.open(store, PREFIX, { localPath })
      expect(await names(again)).toEqual(['xena', 'yuri'])
      await again.close()
      expect(await names(warm)).toEqual(['xena', 'yuri'])
    } finally {
      await cleanup()
    }
  })

  it('a commit sent to a deleted database never lands on one re-created at the same prefix', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store)
    let b: S3db | undefined
    // a's first commit is on its way when the operator deletes the database
    // and b creates a new one there: both first manifests are at seq 0.
    store.beforeManifestPut.push(async () => {
      await store.deletePrefix(PREFIX)
      b = await openDb(store)
    })
    await a.update((tx) => tx.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)'))
    await a.update((tx) => tx.run("INSERT INTO people VALUES (1, 'ada')"))
    // a's callback ran again on the new database; nothing of the old one is referenced.
    expect(await names(b!)).toEqual(['ada'])
    await expectReplayMatches(store, PREFIX, [a, b!])
  })

  it('a creator that lost the race to a database deleted meanwhile creates it anew, never over its deleted upload', async () => {
    const store = new MemoryBlobStore()
    let first = true
    const racing = wrapStore(store, {
      put: async (key, body, options) => {
        if (!first || key !== MANIFEST || !options?.ifNoneMatch)
          return store.put(key, body, options)
        first = false
        // Another opener creates the database first (this create gets 412)...
        await (await S3db.open(store, PREFIX)).close()
        try {
          return await store.put(key, body, options)
        } finally {
          // ... and an operator deletes it, with this opener's upload.
          await store.deletePrefix(PREFIX)
        }
      },
    })
    const db = await openDb(racing)
    await db.update((tx) => tx.exec('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)'))
    await db.update((tx) => tx.run("INSERT INTO people VALUES (1, 'ada')"))
    const fresh = await openDb(store)
    expect(await names(fresh)).toEqual(['ada'])
    await expectReplayMatches(store, PREFIX, [db, fresh])
  })

  it('a restored older manifest.json is served at once, and writes go on from it', async () => {
    const store = new MemoryBlobStore()
    const events: S3dbEvent[] = []
    const a = await openDb(store, { onEvent: (e) => events.push(e), maxRetries: 3 })
    await setup(a)
    const { json: old } = await readJson(store, MANIFEST)
    await a.update((tx) => tx.run("INSERT INTO people VALUES (3, 'cy')"))
    await a.update((tx) => tx.run("INSERT INTO people VALUES (4, 'di')"))
    // The operator puts the backup back (seq goes down).
    await store.put(MANIFEST, Buffer.from(JSON.stringify(old)))
    expect(await names(a)).toEqual(['ada', 'bob'])
    expect(events.some((e) => e.type === 'rebuild' && /went back/.test(e.reason))).toBe(true)
    expect(await codeOf(a.update((tx) => tx.run("INSERT INTO people VALUES (5, 'ed')")))).toBe('ok')
    await expectReplayMatches(store, PREFIX, [a])
  })
})

describe('applying the log', () => {
  it('does not fire user triggers again: replicas and rebuilds equal the writer', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await a.update((tx) =>
      tx.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, msg TEXT NOT NULL);
        CREATE TRIGGER t_added AFTER INSERT ON t BEGIN INSERT INTO audit (msg) VALUES ('added ' || NEW.id); END;`),
    )
    await b.view(() => 0)
    // The transaction touches the trigger's target before the triggering row.
    await a.update((tx) => {
      tx.run("INSERT INTO audit (msg) VALUES ('manual')")
      tx.run('INSERT INTO t VALUES (5)')
    })
    const fresh = await expectReplayMatches(store, PREFIX, [a, b])
    expect(fresh.audit).toEqual(['[1,"manual"]', '[2,"added 5"]'])
    // The trigger still works for local writes on the replica.
    await b.update((tx) => tx.run('INSERT INTO t VALUES (6)'))
    await expectReplayMatches(store, PREFIX, [a, b])
    expect(await a.view((tx) => tx.get('SELECT count(*) AS n FROM audit'))).toEqual({ n: 3 })
  })

  it('treats a conflict on the committed log as divergence: rebuilds and reports it', async () => {
    const { dir, cleanup } = await tempDir('diverge')
    try {
      const store = new MemoryBlobStore()
      const a = await openDb(store)
      await setup(a)
      const localPath = join(dir, 'replica.sqlite')
      const b1 = await S3db.open(store, PREFIX, { localPath })
      await b1.view(() => 0)
      await b1.close()
      // Damage the replica behind s3db's back.
      const raw = new Database(localPath)
      raw.exec("UPDATE people SET name = 'mallory' WHERE id = 2")
      raw.close()
      await a.update((tx) => tx.run("UPDATE people SET name = 'bea' WHERE id = 2"))
      const events: S3dbEvent[] = []
      const b = await S3db.open(store, PREFIX, { localPath, onEvent: (e) => events.push(e) })
      expect(await names(b)).toEqual(['ada', 'bea'])
      expect(events.some((e) => e.type === 'rebuild' && /did not apply/.test(e.reason))).toBe(true)
      await b.close()
    } finally {
      await cleanup()
    }
  })
})
