/**
 * DDL commits publish a snapshot made from the replica file (streamed, memory
 * independent of the database size). While the outcome is unknown no view may
 * read the locally committed state, and a lost race must leave the replica to
 * be rebuilt from the store, never serving the unpublished schema.
 */
import { describe, expect, it } from 'vitest'
import type { S3dbEvent } from '../../src/events.js'
import {
  expectReplayMatches,
  manifestOf,
  PREFIX,
  ScriptedStore,
  tableNames as tables,
  useDatabases,
} from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

describe('DDL commits', () => {
  it('a DDL commit that loses its race re-runs on the winner; no view ever sees the unpublished table', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store)
    const events: S3dbEvent[] = []
    const b = await openDb(store, { onEvent: (e) => events.push(e) })
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await b.view(() => 0)
    let viewDuringPublish: Promise<{ tables: string[]; rows: number }> | undefined
    store.beforeManifestPut.push(async () => {
      // b's snapshot is uploaded and its CAS about to be sent: a view on b now
      // must wait for the outcome, and a commits first so that b loses.
      viewDuringPublish = b.view((tx) => ({
        tables: tables(tx),
        rows: tx.get<{ n: number }>('SELECT count(*) AS n FROM t')!.n,
      }))
      await a.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    })
    let runs = 0
    await b.update((tx) => {
      runs++
      tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)')
    })
    expect(runs).toBe(2)
    // The store never held u without a's row (b's commit landed after a's): a
    // view that saw that state read b's unpublished first attempt.
    const seen = await viewDuringPublish!
    expect(seen.tables.includes('u') && seen.rows === 0).toBe(false)
    expect(await b.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 1 })
    expect(events.some((e) => e.type === 'commit' && e.kind === 'snapshot')).toBe(true)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('a DDL commit whose upload fails publishes nothing and leaves a replica that serves the store state', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store)
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const put = store.put.bind(store)
    store.put = async (key, body, options) => {
      if (key.includes('/snapshots/')) {
        const { StoreUnavailableError } = await import('../../src/errors.js')
        throw new StoreUnavailableError('simulated outage', {
          maybeApplied: false,
          retryable: false,
        })
      }
      return put(key, body, options)
    }
    const before = await manifestOf(store)
    const err = await a
      .update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
      .catch((e: unknown) => e)
    expect((err as { code?: string }).code).toBe('StoreUnavailable')
    expect(await manifestOf(store)).toEqual(before)
    store.put = put
    expect(await a.view(tables)).toEqual(['t'])
    await a.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    await expectReplayMatches(store, PREFIX, [a])
  })
})
