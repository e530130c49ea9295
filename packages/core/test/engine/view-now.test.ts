/**
 * `S3db[viewNow]`, the ORM drivers' synchronous read path: it answers only when
 * a view would answer without waiting (bounded staleness satisfied, nothing
 * holding the replica), so it never reads state a view could not.
 */
import { describe, expect, it } from 'vitest'
import { viewNow } from '../../src/internal.js'
import { totalRequests } from '../../src/store/counting-store.js'
import { ScriptedStore, tableNames as tables, useDatabases } from '../helpers.js'

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
