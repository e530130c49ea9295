/**
 * `S3db[viewNow]`, the ORM drivers' synchronous read path: it answers only when
 * a view would answer without waiting (bounded staleness satisfied, nothing
 * holding the replica), so it never reads state a view could not.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { S3db } from '../../src/index.js'
import { viewNow } from '../../src/internal.js'
import { totalRequests } from '../../src/store/counting-store.js'
import { ScriptedStore, tableNames as tables, tempDir, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

describe('viewNow', () => {
  it('answers within maxStalenessMs without a request, and never under strong consistency', async () => {
    const store = new ScriptedStore()
    const strong = await openDb(store)
    await strong.update((tx) =>
      tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)'),
    )
    expect(strong[viewNow](tables)).toBeUndefined()
    const stale = await openDb(store, { readConsistency: { maxStalenessMs: 3_600_000 } })
    const before = totalRequests(stale.stats().requests)
    expect(stale[viewNow]((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({
      value: { n: 1 },
    })
    expect(totalRequests(stale.stats().requests)).toBe(before)
    // Inside a callback of the same database it leaves the call to view (which refuses it).
    expect(await stale.view(() => stale[viewNow](tables))).toBeUndefined()
    await stale.close()
    expect(stale[viewNow](tables)).toBeUndefined()
  })

  it('does not answer while a snapshot commit holds the replica with its unpublished state', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store, { readConsistency: { maxStalenessMs: 3_600_000 } })
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    let during: { value: string[] } | undefined | 'not called' = 'not called'
    store.beforeManifestPut.push(async () => {
      // The DDL commit is in the replica file, its manifest not yet sent.
      during = a[viewNow](tables)
    })
    await a.update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
    expect(during).toBeUndefined()
    expect(a[viewNow](tables)).toEqual({ value: ['t', 'u'] })
  })
})

/** `v` of row 1, read through viewNow (which must answer). */
function readV(db: S3db): unknown {
  const now = db[viewNow]((tx) => tx.get<{ v: unknown }>('SELECT v FROM t WHERE id = 1')?.v)
  if (!now) throw new Error('viewNow did not answer')
  return now.value
}

// viewNow keeps the replica's read transaction open from one read to the next
// (a point read then skips SQLite's WAL locking): these check it never shows a
// state the replica has left.
describe('viewNow between commits', () => {
  const fast = { readConsistency: { maxStalenessMs: 3_600_000 } }

  it("shows this process's commits at once", async () => {
    const a = await openDb(new ScriptedStore(), fast)
    await a.update((tx) =>
      tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1)'),
    )
    expect(readV(a)).toBe(1)
    for (let v = 2; v <= 4; v++) {
      await a.update((tx) => tx.run('UPDATE t SET v = ? WHERE id = 1', [v]))
      expect(readV(a)).toBe(v)
    }
  })

  it("shows another process's commit once a sync applied it, log entry or new snapshot", async () => {
    const store = new ScriptedStore()
    const b = await openDb(store)
    await b.update((tx) =>
      tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1)'),
    )
    const a = await openDb(store, { readConsistency: { maxStalenessMs: 100 } })
    expect(readV(a)).toBe(1)
    // A log entry (applied by sync), then a schema change (a snapshot the replica installs).
    for (const change of [
      'UPDATE t SET v = 2 WHERE id = 1',
      'ALTER TABLE t ADD COLUMN w; UPDATE t SET v = 3',
    ]) {
      await b.update((tx) => tx.exec(change))
      await new Promise((r) => setTimeout(r, 120))
      // A read-only update refreshes the manifest and syncs; no view lends the reader.
      await a.update((tx) => tx.get('SELECT 1'))
      expect(readV(a)).toBe(change.startsWith('UPDATE') ? 2 : 3)
    }
  })

  it('shows what a nil commit left (an AUTOINCREMENT counter moved)', async () => {
    const a = await openDb(new ScriptedStore(), fast)
    await a.update((tx) => tx.exec('CREATE TABLE s (id INTEGER PRIMARY KEY AUTOINCREMENT, x)'))
    const counter = () =>
      a[viewNow](
        (tx) => tx.get<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 's'")?.seq,
      )
    expect(counter()).toEqual({ value: undefined })
    await a.update((tx) => {
      tx.run('INSERT INTO s (x) VALUES (1)')
      tx.run('DELETE FROM s')
    })
    expect(counter()).toEqual({ value: 1 })
  })

  it('answers beside a view in progress, each at its own state', async () => {
    const a = await openDb(new ScriptedStore(), fast)
    await a.update((tx) =>
      tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1)'),
    )
    expect(readV(a)).toBe(1)
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const view = a.view(async (tx) => {
      const first = tx.get<{ v: number }>('SELECT v FROM t')!.v
      await gate
      return [first, tx.get<{ v: number }>('SELECT v FROM t')!.v]
    })
    await new Promise((r) => setTimeout(r, 10))
    expect(readV(a)).toBe(1)
    await a.update((tx) => tx.run('UPDATE t SET v = 2'))
    expect(readV(a)).toBe(2)
    release()
    expect(await view).toEqual([1, 1])
    expect(readV(a)).toBe(2)
  })

  it('lets checkpoints keep the WAL bounded while reads and commits alternate', async () => {
    const { dir, cleanup } = await tempDir('view-now-wal')
    try {
      const localPath = join(dir, 'replica.db')
      const a = await openDb(new ScriptedStore(), { ...fast, localPath })
      await a.update((tx) =>
        tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 0)'),
      )
      expect(readV(a)).toBe(0)
      // 400 commits of 16 KiB (about 2,000 WAL pages), no read between them. A read
      // transaction held across them would pin the WAL: no checkpoint past its start.
      const blob = Buffer.alloc(16_384, 7)
      for (let i = 1; i <= 400; i++) {
        await a.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i + 1, blob]))
      }
      expect(statSync(`${localPath}-wal`).size).toBeLessThan(6 * 1024 * 1024)
      expect(a[viewNow]((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({
        value: { n: 401 },
      })
      await a.close()
    } finally {
      await cleanup()
    }
  })
})
