import { describe, expect, it } from 'vitest'
import type { S3dbEvent } from '../../src/events.js'
import { DatabaseKeys } from '../../src/format/manifest.js'
import { collectGarbage } from '../../src/gc.js'
import type { S3db } from '../../src/s3db.js'
import type { BlobStore, ListOptions } from '../../src/store/blob-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { expectReplayMatches, manifestOf, PREFIX, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

async function keys(store: BlobStore, prefix = PREFIX): Promise<string[]> {
  const out: string[] = []
  for await (const e of store.list(prefix)) out.push(e.key)
  return out
}

/** A memory store that runs `afterList` once a listing has yielded its last entry. */
class AfterListingStore extends MemoryBlobStore {
  afterList: ((prefix: string) => Promise<void>) | undefined

  override async *list(prefix: string, options?: ListOptions) {
    yield* super.list(prefix, options)
    await this.afterList?.(prefix)
  }
}

async function seed(db: S3db, rows: number): Promise<void> {
  await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
  for (let i = 0; i < rows; i++)
    await db.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, `row ${i}`]))
}

describe('compaction', () => {
  it('folds the log into a new snapshot that other instances start from', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    await seed(a, 10)
    expect((await manifestOf(store)).log).toHaveLength(10)
    const result = await a.compact()
    expect(result).toMatchObject({ compacted: true, seq: 11, folded: 10 })
    const m = await manifestOf(store)
    expect(m).toMatchObject({
      seq: 11,
      log: [],
      snapshot: { key: result.snapshotKey, seq: 11, size: result.snapshotBytes },
    })
    const events: S3dbEvent[] = []
    const b = await openDb(store, { onEvent: (e) => events.push(e) })
    expect(await b.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 10 })
    expect(await a.compact()).toMatchObject({ compacted: false })
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('does not lose to writers that commit while it runs: their entries stay as the new log', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const w = await openDb(store)
    await seed(a, 5)
    // Writers keep committing during the snapshot upload.
    const put = store.put.bind(store)
    let injected = false
    store.put = async (key, body, options) => {
      if (!injected && key.includes('/snapshots/') && !key.endsWith('snap-init.sqlite')) {
        injected = true
        for (let i = 100; i < 103; i++)
          await w.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, 'late']))
      }
      return put(key, body, options)
    }
    const result = await a.compact()
    expect(result.compacted).toBe(true)
    const m = await manifestOf(store)
    expect(m.snapshot.seq).toBe(6)
    expect(m.log.map((e) => e.seq)).toEqual([7, 8, 9])
    expect(await a.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 8 })
    await expectReplayMatches(store, PREFIX, [a, w])
  })

  it('runs in the background with autoCompact and reports errors as events, not to writers', async () => {
    const store = new MemoryBlobStore()
    const events: S3dbEvent[] = []
    const db = await openDb(store, { autoCompact: 5, onEvent: (e) => events.push(e) })
    await seed(db, 6)
    await db.close()
    expect(events.some((e) => e.type === 'compaction')).toBe(true)
    expect((await manifestOf(store)).log.length).toBeLessThan(5)

    const failing = new MemoryBlobStore()
    const errors: S3dbEvent[] = []
    const db2 = await openDb(failing, { autoCompact: 2, onEvent: (e) => errors.push(e) })
    await db2.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
    const put = failing.put.bind(failing)
    failing.put = async (key, body, options) => {
      if (key.includes('/snapshots/')) throw new Error('disk full')
      return put(key, body, options)
    }
    for (let i = 0; i < 3; i++)
      await db2.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, 'x']))
    await db2.close()
    expect(errors).toContainEqual(
      expect.objectContaining({ type: 'error', operation: 'auto-compact' }),
    )
    expect(
      await (await openDb(failing)).view((tx) => tx.get('SELECT count(*) AS n FROM t')),
    ).toEqual({ n: 3 })
  })
})

describe('gc', () => {
  it('keeps unreachable objects during the grace period, then deletes exactly them', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await seed(db, 4)
    const before = await keys(store)
    await db.compact()
    await db.update((tx) => tx.run("INSERT INTO t VALUES (50, 'after')"))
    const m = await manifestOf(store)
    const dbKeys = new DatabaseKeys(PREFIX)
    // Unrelated objects under the prefix and a sibling database are never touched.
    await store.put(`${PREFIX}notes.txt`, new Uint8Array([1]))
    await store.put('app/db2/snapshots/snap-x.sqlite', new Uint8Array([1]))

    const early = await collectGarbage(store, dbKeys, { gracePeriodMs: 5 * 60_000 })
    expect(early.deleted).toEqual([])
    expect(early.retained.sort()).toEqual(
      before.filter((k) => k !== `${PREFIX}manifest.json`).sort(),
    )

    const later = await collectGarbage(store, dbKeys, {
      gracePeriodMs: 5 * 60_000,
      now: () => Date.now() + 10 * 60_000,
      dryRun: true,
    })
    expect(later.deleted.sort()).toEqual(early.retained.sort())
    // Dry run deleted nothing: the old keys, the new snapshot and changeset,
    // the compaction's fold record (history/), notes.txt.
    const snapName = m.snapshot.key.slice(m.snapshot.key.lastIndexOf('/') + 1, -'.sqlite'.length)
    const records = (await keys(store, `${PREFIX}history/`)).filter((k) =>
      k.startsWith(`${PREFIX}history/folds/${snapName}/`),
    )
    expect(records).toHaveLength(1)
    expect((await keys(store)).length).toBe(before.length + 4)

    const result = await db.gc({ gracePeriod: 0, minAge: 0 })
    expect(result.deleted.sort()).toEqual(early.retained.sort())
    expect((await keys(store)).sort()).toEqual(
      [
        `${PREFIX}manifest.json`,
        `${PREFIX}notes.txt`,
        m.snapshot.key,
        ...m.log.map((e) => e.key),
        // The current snapshot's fold record stays (s3db log shows the last fold).
        ...records,
      ].sort(),
    )
    expect(await keys(store, 'app/db2/')).toEqual(['app/db2/snapshots/snap-x.sqlite'])
    await expectReplayMatches(store, PREFIX, [db])
  })

  it('measures grace from unreachability, not creation: old objects made unreachable just now are kept', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await seed(db, 3)
    // Objects created "long ago" (simulated clock), made unreachable "now" by compaction.
    const realNow = Date.now()
    await db.compact()
    const dbKeys = new DatabaseKeys(PREFIX)
    // At real time, the switch just happened: nothing may go, however old the objects.
    const kept = await collectGarbage(store, dbKeys, {
      gracePeriodMs: 60_000,
      now: () => realNow + 30_000,
    })
    expect(kept.deleted).toEqual([])
    expect(kept.retained.length).toBeGreaterThan(0)
  })

  it('deletes nothing when an older manifest.json is put back while it lists', async () => {
    const inner = new AfterListingStore()
    const db = await openDb(inner)
    await seed(db, 3)
    const old = await inner.get(`${PREFIX}manifest.json`)
    if (old.notModified) throw new Error('notModified')
    const oldManifest = await manifestOf(inner)
    await db.compact()
    // The operator restores the older manifest.json between gc's listing and its deletes.
    let restored = false
    inner.afterList = async (prefix) => {
      if (restored || !prefix.endsWith('changesets/')) return
      restored = true
      await inner.put(`${PREFIX}manifest.json`, old.body)
    }
    const store = inner
    const result = await collectGarbage(store, new DatabaseKeys(PREFIX), {
      gracePeriodMs: 0,
      minAgeMs: 0,
    })
    expect(restored).toBe(true)
    expect(result.deleted).toEqual([])
    expect(result.retained).toContain(oldManifest.snapshot.key)
    const present = new Set(await keys(inner))
    for (const k of [oldManifest.snapshot.key, ...oldManifest.log.map((e) => e.key)])
      expect(present.has(k)).toBe(true)
    // A run after the restore deletes what that manifest does not need, and it replays.
    await collectGarbage(inner, new DatabaseKeys(PREFIX), { gracePeriodMs: 0, minAgeMs: 0 })
    const reader = await openDb(inner)
    expect(await reader.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 3 })
  })

  it('lets a reader holding an old manifest recover after gc removed what it referenced', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const reader = await openDb(store)
    await seed(a, 3)
    await reader.view(() => 0)
    for (let i = 10; i < 13; i++)
      await a.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, 'new']))
    await a.compact()
    await a.gc({ gracePeriod: 0, minAge: 0 })
    // reader's manifest references changesets that no longer exist.
    expect(await reader.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 6 })
    await expectReplayMatches(store, PREFIX, [a, reader])
  })
})
