/**
 * The publish window and GC's clock: an upload older than the window is never
 * published (push included), and GC measures ages on the store's clock, so a
 * GC host whose clock runs ahead cannot delete what a writer is about to
 * publish. Push also refuses a database replaced at the same seq.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { DatabaseKeys } from '../../src/format/manifest.js'
import { collectGarbage } from '../../src/gc.js'
import { type Runtime, systemRuntime } from '../../src/runtime.js'
import { S3db } from '../../src/s3db.js'
import type { BlobData, GetOptions, NotModified } from '../../src/store/blob-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { pullDatabase, pushDatabase } from '../../src/transfer.js'
import { codeOf, manifestOf, PREFIX, tempDir, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

/** A memory store that reports its own clock in every answer, as S3 does (Date header). */
class ClockedStore extends MemoryBlobStore {
  override async get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    const res = await super.get(key, options)
    return res.notModified ? res : { ...res, storeTime: new Date() }
  }
}

describe('GC and clock skew', () => {
  it('a GC host whose clock runs almost the grace period ahead does not delete an upload a writer is about to publish', async () => {
    const store = new ClockedStore()
    const db = await openDb(store)
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const keys = new DatabaseKeys(PREFIX)
    const m = await manifestOf(store)
    // A writer's changeset, uploaded and not yet published.
    const inFlight = keys.changeset(m.snapshot.key.split('/').pop()!.replace('.sqlite', ''), 'x1')
    await store.put(inFlight, new Uint8Array([1, 2, 3]))
    // 3 s later the writer is well within its publish window, but a clock just
    // under the grace period ahead sees the upload as past the grace.
    await new Promise((r) => setTimeout(r, 3000))
    const skewed = () => Date.now() + 5 * 60_000 - 2000
    const result = await collectGarbage(store, keys, { gracePeriodMs: 5 * 60_000, now: skewed })
    expect(result.deleted).not.toContain(inFlight)
    expect((await store.stat(inFlight)).size).toBe(3)
  })
})

describe('push', () => {
  it('never publishes an upload older than the publish window', async () => {
    const { dir, cleanup } = await tempDir('push-window')
    try {
      const store = new MemoryBlobStore()
      const db = await openDb(store)
      await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
      const file = join(dir, 'db.sqlite')
      const pulled = await pullDatabase(store, PREFIX, file)
      // Every upload "takes" two minutes: the process was frozen after it.
      let offset = 0
      const runtime: Runtime = { ...systemRuntime, monotonic: () => performance.now() + offset }
      const put = store.put.bind(store)
      store.put = async (key, body, options) => {
        const res = await put(key, body, options)
        if (key.includes('/snapshots/')) offset += 120_000
        return res
      }
      const before = await manifestOf(store)
      const outcome = await codeOf(
        pushDatabase(store, PREFIX, file, { expectedSeq: pulled.seq }, { runtime }),
      )
      expect(outcome).toBe('StoreUnavailable')
      expect(await manifestOf(store)).toEqual(before)
    } finally {
      await cleanup()
    }
  })

  it('refuses to push over a database replaced at the same seq since the pull', async () => {
    const { dir, cleanup } = await tempDir('push-same-seq')
    try {
      const store = new MemoryBlobStore()
      const db = await openDb(store)
      await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
      await db.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
      const mine = join(dir, 'mine.sqlite')
      const theirs = join(dir, 'theirs.sqlite')
      await pullDatabase(store, PREFIX, mine)
      const pulled = JSON.parse(
        await import('node:fs/promises').then((fs) => fs.readFile(`${mine}.s3db-seq`, 'utf8')),
      )
      // Another client replaces the snapshot keeping seq (the Go client's push).
      await pullDatabase(store, PREFIX, theirs)
      const edit = new Database(theirs)
      edit.exec('INSERT INTO t VALUES (2)')
      edit.close()
      const res = await store.get(`${PREFIX}manifest.json`)
      if (res.notModified) throw new Error('notModified')
      const json = JSON.parse(Buffer.from(res.body).toString('utf8'))
      const key = `${PREFIX}snapshots/snap-go.sqlite`
      const { readFile } = await import('node:fs/promises')
      await store.put(key, await readFile(theirs))
      await store.put(
        `${PREFIX}manifest.json`,
        Buffer.from(JSON.stringify({ ...json, snapshot: { key, seq: json.seq }, log: [] })),
        { ifMatch: res.etag },
      )
      expect(
        await codeOf(
          pushDatabase(store, PREFIX, mine, { expectedSeq: pulled.seq, expectedHead: pulled.head }),
        ),
      ).toBe('SeqMismatch')
      // Given only the seq, push takes the committing object from the pull record.
      expect(await codeOf(pushDatabase(store, PREFIX, mine, { expectedSeq: pulled.seq }))).toBe(
        'SeqMismatch',
      )
      const check = await S3db.open(store, PREFIX)
      expect(await check.view((tx) => tx.all('SELECT id FROM t ORDER BY id'))).toEqual([
        { id: 1 },
        { id: 2 },
      ])
      await check.close()
    } finally {
      await cleanup()
    }
  })
})
