/** The commit protocol under contention: lost races, re-runs, rebase, ambiguity, write skew. */
import { describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { S3dbEvent } from '../../src/events.js'
import type { S3db } from '../../src/s3db.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import type { Tx } from '../../src/tx.js'
import { expectReplayMatches, PREFIX, ScriptedStore, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

const counter = (tx: Tx) => tx.get<{ n: number }>('SELECT n FROM counter WHERE id = 1')!.n

async function setupCounter(db: S3db): Promise<void> {
  await db.update((tx) =>
    tx.exec('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)'),
  )
  await db.update((tx) => tx.run('INSERT INTO counter VALUES (1, 0)'))
}

describe('conflicts', () => {
  it('runs a re-run on the state it CASes against, even when a view moved the known manifest on meanwhile', async () => {
    // Regression: a view (or compaction) refreshing the manifest while a commit
    // synced made the commit CAS against the newer manifest with the older state
    // in its replica, silently losing the commit in between (acked, not counted).
    const store = new ScriptedStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await setupCounter(a)
    await a.update((tx) => tx.exec('CREATE TABLE pad (id INTEGER PRIMARY KEY, b BLOB)'))
    await b.view(counter)
    // b is two commits behind now (the small one's bytes come with the
    // manifest, the one over 4 KiB is fetched).
    await a.update((tx) => {
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      tx.run('INSERT INTO pad VALUES (1, zeroblob(5000))')
    })
    await a.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
    let viewed: Promise<number> | undefined
    store.beforeChangesetGet.push(async () => {
      // b lost its first race and is fetching a's commit: a commits again, and a
      // view on b learns of it while b's sync is still in flight.
      await a.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
      viewed = b.view(counter)
      await new Promise((r) => setTimeout(r, 20))
    })
    await b.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
    expect(await viewed).toBe(4)
    expect(await a.view(counter)).toBe(4)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('a sync whose changeset was compacted and collected meanwhile moves on to the newer manifest', async () => {
    // The known manifest moved on (a view refreshed it) while the sync was fetching
    // a changeset that compaction and GC then removed: that is not damage.
    const store = new ScriptedStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await setupCounter(a)
    await a.update((tx) => tx.exec('CREATE TABLE pad (id INTEGER PRIMARY KEY, b BLOB)'))
    await b.view(counter)
    // Two commits: the one over 4 KiB is fetched (the small one comes with the manifest).
    await a.update((tx) => {
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      tx.run('INSERT INTO pad VALUES (1, zeroblob(5000))')
    })
    await a.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
    let viewed: Promise<number> | undefined
    store.beforeChangesetGet.push(async () => {
      await a.compact()
      await a.gc({ gracePeriod: 0, minAge: 0 })
      viewed = b.view(counter)
      await new Promise((r) => setTimeout(r, 20))
    })
    expect(await b.view(counter)).toBe(2)
    expect(await viewed).toBe(2)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('re-runs the callback on the newer state when another instance wins the race', async () => {
    const store = new ScriptedStore()
    const events: S3dbEvent[] = []
    const a = await openDb(store)
    const b = await openDb(store, { onEvent: (e) => events.push(e) })
    await setupCounter(a)
    await b.view(counter)
    // Just before b's CAS, a commits (its own CAS runs untouched): b must lose,
    // re-run on a's state, and win.
    store.beforeManifestPut.push(async () => {
      store.beforeManifestPut.unshift(async () => {})
      await a.update((tx) => tx.run('UPDATE counter SET n = n + 10 WHERE id = 1'))
    })
    const seen: number[] = []
    const result = await b.update((tx) => {
      seen.push(counter(tx))
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      return counter(tx)
    })
    expect(seen).toEqual([0, 10])
    expect(result).toBe(11)
    expect(events.filter((e) => e.type === 'conflict')).toHaveLength(1)
    expect(await a.view(counter)).toBe(11)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('keeps exact counts with 8 concurrent writers from 2 instances', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await setupCounter(a)
    let runs = 0
    const increments = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? a : b).update((tx) => {
        runs++
        tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      }),
    )
    await Promise.all(increments)
    expect(await a.view(counter)).toBe(40)
    expect(await b.view(counter)).toBe(40)
    expect(runs).toBeGreaterThanOrEqual(40)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('fails with WriteConflict after maxRetries lost races, publishing nothing', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store)
    const b = await openDb(store, { maxRetries: 2 })
    await setupCounter(a)
    await b.view(counter)
    for (let i = 0; i < 3; i++) {
      store.beforeManifestPut.push(async () => {
        store.beforeManifestPut.unshift(async () => {})
        await a.update((tx) => tx.run('UPDATE counter SET n = n + 100 WHERE id = 1'))
      })
    }
    let runs = 0
    const err = await b
      .update((tx) => {
        runs++
        tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      })
      .catch((e: unknown) => e)
    expect(isS3dbError(err, 'WriteConflict')).toBe(true)
    expect(runs).toBe(3)
    expect(await a.view(counter)).toBe(300)
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('treats a commit whose response was lost as committed, exactly once, without re-running', async () => {
    const store = new ScriptedStore()
    const db = await openDb(store)
    await setupCounter(db)
    store.loseResponse.push(true)
    let runs = 0
    const value = await db.update((tx) => {
      runs++
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      return counter(tx)
    })
    expect(value).toBe(1)
    expect(runs).toBe(1)
    const other = await openDb(store)
    expect(await other.view(counter)).toBe(1)
    await expectReplayMatches(store, PREFIX, [db, other])
  })

  it('resends a commit whose lost response hid that it did not apply', async () => {
    const store = new ScriptedStore()
    const db = await openDb(store)
    await setupCounter(db)
    // A failure that may have applied but did not: the manifest is unchanged.
    const put = store.put.bind(store)
    let failNext = true
    store.put = async (key, body, options) => {
      if (failNext && key.endsWith('manifest.json') && options?.ifMatch) {
        failNext = false
        const { StoreUnavailableError } = await import('../../src/errors.js')
        throw new StoreUnavailableError('simulated timeout', { maybeApplied: true })
      }
      return put(key, body, options)
    }
    let runs = 0
    await db.update((tx) => {
      runs++
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
    })
    expect(runs).toBe(1)
    expect(await (await openDb(store)).view(counter)).toBe(1)
  })

  it('finds a commit whose lost outcome was compacted away, through the folded history, and applies it once', async () => {
    const { a, b } = await loseResponseThenCompact(false)
    let runs = 0
    await b.update((tx) => {
      runs++
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
    })
    expect(runs).toBe(1)
    expect(await b.view(counter)).toBe(1)
    expect(await a.view(counter)).toBe(1)
  })

  it('reports CommitIndeterminate when a compaction that records no history (the Go client) folded the lost outcome', async () => {
    const { b } = await loseResponseThenCompact(true)
    const err = await b
      .update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
      .catch((e: unknown) => e)
    expect(isS3dbError(err, 'CommitIndeterminate')).toBe(true)
    // It did commit; b recovers and sees it.
    expect(await b.view(counter)).toBe(1)
  })

  it('keeps an ambiguous send ambiguous: a resend that loses to its own late first copy is not a lost race', async () => {
    // The first CAS times out unapplied; the resend is sent; then the first
    // lands late, another process compacts, and the resend gets 412. Judging
    // that 412 as a plain lost race re-ran the callback: applied twice.
    const store = new ScriptedStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await setupCounter(a)
    await b.view(counter)
    const put = store.put.bind(store)
    let held:
      | { key: string; body: Parameters<typeof put>[1]; options: Parameters<typeof put>[2] }
      | undefined
    let sends = 0
    store.put = async (key, body, options) => {
      if (
        key.endsWith('manifest.json') &&
        options?.ifMatch &&
        held === undefined &&
        sends++ === 0
      ) {
        // In flight, not yet applied: the client gives up on it.
        held = { key, body, options }
        throw new Error('socket hang up')
      }
      if (key.endsWith('manifest.json') && options?.ifMatch && held) {
        // The resend: the first copy lands just before it, then a compaction.
        const late = held
        held = { key: '', body: new Uint8Array(), options: {} }
        await put(late.key, late.body, late.options)
        await a.compact()
      }
      return put(key, body, options)
    }
    let runs = 0
    const outcome = await b
      .update((tx) => {
        runs++
        tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
      })
      .then(
        () => 'ok',
        (e: unknown) => (isS3dbError(e) ? e.code : String(e)),
      )
    expect(['ok', 'CommitIndeterminate']).toContain(outcome)
    expect(runs).toBe(1)
    expect(await a.view(counter)).toBe(1)
  })
})

/**
 * Two instances on a counter; b's next manifest CAS lands but b sees an
 * ambiguous error, and before b can read the outcome a compacts past it
 * (recording no folded history, as the Go client, with `goStyle`).
 */
async function loseResponseThenCompact(goStyle: boolean): Promise<{ a: S3db; b: S3db }> {
  const store = new ScriptedStore()
  const a = await openDb(store)
  const b = await openDb(store)
  await setupCounter(a)
  await b.view(counter)
  store.loseResponse.push(true)
  store.afterLostResponse = async () => {
    store.afterLostResponse = undefined
    await a.compact()
    if (goStyle) await stripFoldedHistory(store)
  }
  return { a, b }
}

/** Rewrites the manifest without s3db-ts's folded history, as a Go writer would. */
async function stripFoldedHistory(store: MemoryBlobStore): Promise<void> {
  const key = `${PREFIX}manifest.json`
  const res = await store.get(key)
  if (res.notModified) throw new Error('notModified')
  const json = JSON.parse(Buffer.from(res.body).toString('utf8'))
  delete json.snapshot.folded
  await store.put(key, Buffer.from(JSON.stringify(json)), { ifMatch: res.etag })
}

describe('isolation', () => {
  async function doctors(
    isolation: 'serializable' | 'snapshot',
  ): Promise<{ onCall: number; runs: number }> {
    const store = new MemoryBlobStore()
    const setup = await openDb(store)
    await setup.update((tx) =>
      tx.exec('CREATE TABLE doctors (name TEXT PRIMARY KEY, on_call INTEGER NOT NULL)'),
    )
    await setup.update((tx) => tx.run("INSERT INTO doctors VALUES ('alice', 1), ('bob', 1)"))
    const a = await openDb(store, { isolation })
    const b = await openDb(store, { isolation })
    await Promise.all([a.view(() => 0), b.view(() => 0)])
    // Both read before either writes (first run only): the classic write skew.
    let arrived = 0
    let release!: () => void
    const bothRead = new Promise<void>((r) => {
      release = r
    })
    let runs = 0
    const goOffCall = (db: S3db, me: string) =>
      db.update(async (tx) => {
        runs++
        const first = runs <= 2
        const onCall = tx.get<{ n: number }>(
          'SELECT count(*) AS n FROM doctors WHERE on_call = 1',
        )!.n
        if (first) {
          if (++arrived === 2) release()
          await bothRead
        }
        if (onCall >= 2) tx.run('UPDATE doctors SET on_call = 0 WHERE name = ?', [me])
      })
    await Promise.all([goOffCall(a, 'alice'), goOffCall(b, 'bob')])
    const onCall = await setup.view(
      (tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM doctors WHERE on_call = 1')!.n,
    )
    await expectReplayMatches(store, PREFIX, [setup, a, b])
    return { onCall, runs }
  }

  it('never lets both doctors go off call under serializable (100 rounds)', async () => {
    for (let i = 0; i < 100; i++) {
      const { onCall, runs } = await doctors('serializable')
      expect(onCall).toBe(1)
      expect(runs).toBe(3)
      await openDb.closeAll()
    }
  })

  it('allows the write skew under snapshot isolation (documented), rebasing without re-running', async () => {
    const { onCall, runs } = await doctors('snapshot')
    expect(onCall).toBe(0)
    expect(runs).toBe(2)
  })

  it('rebases disjoint writes under snapshot isolation and re-runs conflicting ones', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store, { isolation: 'snapshot' })
    const b = await openDb(store, { isolation: 'snapshot' })
    await a.update((tx) => tx.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)'))
    await a.update((tx) => tx.run("INSERT INTO kv VALUES ('x', 0), ('y', 0)"))
    await b.view(() => 0)
    store.beforeManifestPut.push(async () => {
      store.beforeManifestPut.unshift(async () => {})
      await a.update((tx) => tx.run("UPDATE kv SET v = 1 WHERE k = 'x'"))
    })
    let runs = 0
    await b.update((tx) => {
      runs++
      tx.run("UPDATE kv SET v = 2 WHERE k = 'y'")
    })
    expect(runs).toBe(1)
    store.beforeManifestPut.push(async () => {
      store.beforeManifestPut.unshift(async () => {})
      await a.update((tx) => tx.run("UPDATE kv SET v = v + 10 WHERE k = 'y'"))
    })
    runs = 0
    await b.update((tx) => {
      runs++
      tx.run("UPDATE kv SET v = v + 100 WHERE k = 'y'")
    })
    expect(runs).toBe(2)
    expect(await a.view((tx) => tx.all('SELECT * FROM kv ORDER BY k'))).toEqual([
      { k: 'x', v: 1 },
      { k: 'y', v: 112 },
    ])
    await expectReplayMatches(store, PREFIX, [a, b])
  })
})
