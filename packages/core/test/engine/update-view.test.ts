import { describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { S3dbEvent } from '../../src/events.js'
import { S3db } from '../../src/s3db.js'
import { CountingBlobStore, diffCounts, totalRequests } from '../../src/store/counting-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { codeOf, expectReplayMatches, manifestOf, PREFIX, useDatabases } from '../helpers.js'

const openDb = useDatabases()

describe('S3db.open', () => {
  it('rejects bad prefixes before touching the store', async () => {
    const store = new MemoryBlobStore()
    for (const prefix of ['db', '/db/', 'a/../b/', '']) {
      expect(await codeOf(S3db.open(store, prefix))).toBe('InvalidArgument')
    }
    const keys: string[] = []
    for await (const e of store.list('')) keys.push(e.key)
    expect(keys).toEqual([])
  })

  it('bootstraps an empty database: manifest at seq 0 over an empty snapshot of its own', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    const m = await manifestOf(store)
    expect(m).toMatchObject({
      seq: 0,
      schemaVersion: 0,
      log: [],
      snapshot: { seq: 0 },
    })
    // A unique key (not the Go client's fixed snap-init.sqlite): the first
    // manifest of a re-created database differs from the deleted one's.
    expect(m.snapshot.key).toMatch(/snapshots\/snap-[0-9A-Z]{26}\.sqlite$/)
    expect(db.stats()).toMatchObject({ seq: 0, localSeq: 0, logLength: 0 })
  })

  it('lets exactly one of 8 concurrent openers create the database; all see it', async () => {
    const store = new MemoryBlobStore()
    let manifestCreates = 0
    const put = store.put.bind(store)
    store.put = async (key, body, options) => {
      const res = await put(key, body, options)
      if (key.endsWith('manifest.json') && options?.ifNoneMatch) manifestCreates++
      return res
    }
    const dbs = await Promise.all(Array.from({ length: 8 }, () => openDb(store)))
    expect(manifestCreates).toBe(1)
    // The losers removed the empty snapshots they had uploaded.
    const snapshots: string[] = []
    for await (const e of store.list(`${PREFIX}snapshots/`)) snapshots.push(e.key)
    expect(snapshots).toEqual([(await manifestOf(store)).snapshot.key])
    await dbs[0]!.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    for (const db of dbs)
      expect(await db.view((tx) => tx.all('SELECT name FROM sqlite_schema'))).toEqual([
        { name: 't' },
      ])
  })

  it('refuses a manifest from a newer format, writing nothing', async () => {
    const store = new MemoryBlobStore()
    const body = new TextEncoder().encode(
      JSON.stringify({
        format_version: 9,
        seq: 0,
        schema_version: 0,
        snapshot: { key: `${PREFIX}snapshots/snap-x.sqlite`, seq: 0 },
        log: [],
      }),
    )
    await store.put(`${PREFIX}manifest.json`, body)
    const puts: string[] = []
    const put = store.put.bind(store)
    store.put = async (key, b, o) => {
      puts.push(key)
      return put(key, b, o)
    }
    expect(await codeOf(S3db.open(store, PREFIX))).toBe('FormatTooNew')
    expect(puts).toEqual([])
  })

  it('refuses a corrupt manifest with Corrupt', async () => {
    const store = new MemoryBlobStore()
    await store.put(`${PREFIX}manifest.json`, new TextEncoder().encode('not json'))
    expect(await codeOf(S3db.open(store, PREFIX))).toBe('Corrupt')
  })

  it('validates options', async () => {
    const store = new MemoryBlobStore()
    expect(await codeOf(S3db.open(store, PREFIX, { maxRetries: -1 }))).toBe('InvalidArgument')
    expect(await codeOf(S3db.open(store, PREFIX, { isolation: 'read-committed' as never }))).toBe(
      'InvalidArgument',
    )
    expect(
      await codeOf(S3db.open(store, PREFIX, { readConsistency: { maxStalenessMs: -5 } })),
    ).toBe('InvalidArgument')
  })
})

describe('update and view', () => {
  it('publishes DDL as a snapshot commit and data as changesets, visible to another instance', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await a.update((tx) =>
      tx.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)'),
    )
    let m = await manifestOf(store)
    expect(m.seq).toBe(1)
    expect(m.snapshot.seq).toBe(1)
    expect(m.log).toEqual([])
    const id = await a.update(
      (tx) => tx.run('INSERT INTO items (name) VALUES (?)', ['first']).lastInsertRowid,
    )
    expect(id).toBe(1)
    m = await manifestOf(store)
    expect(m.seq).toBe(2)
    expect(m.log).toHaveLength(1)
    expect(m.log[0]!.key).toMatch(
      /^app\/db\/changesets\/snap-[0-9A-Z]+\/cs-q\d{16}-[0-9a-f]{10}-pzz[0-9a-f]{8}[0-9A-Z]{26}\.bin$/,
    )
    expect(await b.view((tx) => tx.all('SELECT * FROM items'))).toEqual([{ id: 1, name: 'first' }])
    await expectReplayMatches(store, PREFIX, [a, b])
  })

  it('returns the callback value and rethrows its error, publishing nothing on error', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    const before = await manifestOf(store)
    const boom = new Error('boom')
    await expect(
      db.update((tx) => {
        tx.run('INSERT INTO t VALUES (1, 1)')
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(await manifestOf(store)).toEqual(before)
    expect(await db.view((tx) => tx.all('SELECT * FROM t'))).toEqual([])
    expect(await db.update(async (tx) => tx.run('INSERT INTO t VALUES (2, 2)').changes)).toBe(1)
  })

  it('costs at most 2 requests per warm uncontended write, 1 per strong view or no-op, 0 within maxStalenessMs', async () => {
    const store = new CountingBlobStore(new MemoryBlobStore())
    const db = await openDb(store, { autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    await db.update((tx) => tx.run('INSERT INTO t VALUES (1, 0)'))
    const cost = async (fn: () => Promise<unknown>) => {
      const before = store.snapshot()
      await fn()
      return diffCounts(store.snapshot(), before)
    }
    const write = await cost(() => db.update((tx) => tx.run('UPDATE t SET v = v + 1 WHERE id = 1')))
    expect(write).toMatchObject({ put: 2, get: 0, list: 0, head: 0 })
    const read = await cost(() => db.view((tx) => tx.get('SELECT v FROM t')))
    expect(totalRequests(read)).toBe(1)
    expect(read.get).toBe(1)
    // A write that changes nothing still confirms its base (strict serializability).
    const noop = await cost(() => db.update((tx) => tx.get('SELECT v FROM t')))
    expect(noop).toMatchObject({ get: 1, put: 0 })
    const netNoop = await cost(() =>
      db.update((tx) => {
        tx.run('UPDATE t SET v = 99 WHERE id = 1')
        tx.run('UPDATE t SET v = 1 WHERE id = 1')
      }),
    )
    expect(netNoop).toMatchObject({ get: 1, put: 0 })
    const stale = await openDb(store, {
      readConsistency: { maxStalenessMs: 60_000 },
      autoCompact: false,
    })
    const cached = await cost(() => stale.view((tx) => tx.get('SELECT v FROM t')))
    expect(totalRequests(cached)).toBe(0)
    const cachedNoop = await cost(() => stale.update((tx) => tx.get('SELECT v FROM t')))
    expect(totalRequests(cachedNoop)).toBe(0)
  })

  it('rejects writes inside view with ReadOnly, and transaction control inside update', async () => {
    const db = await openDb(new MemoryBlobStore())
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    expect(await codeOf(db.view((tx) => tx.run('INSERT INTO t VALUES (1)')))).toBe('ReadOnly')
    expect(await codeOf(db.view((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)')))).toBe(
      'ReadOnly',
    )
    expect(await codeOf(db.update((tx) => tx.exec('COMMIT')))).toBe('InvalidArgument')
    expect(await codeOf(db.update((tx) => tx.exec('  begin immediate')))).toBe('InvalidArgument')
    // Savepoints are fine.
    await db.update((tx) => {
      tx.exec('SAVEPOINT a')
      tx.run('INSERT INTO t VALUES (1)')
      tx.exec('ROLLBACK TO a')
      tx.exec('RELEASE a')
      tx.run('INSERT INTO t VALUES (2)')
    })
    expect(await db.view((tx) => tx.all('SELECT id FROM t'))).toEqual([{ id: 2 }])
  })

  it('throws a clear error instead of deadlocking on re-entrant use', async () => {
    const db = await openDb(new MemoryBlobStore())
    const err = await db.update(() => db.update(() => 1)).catch((e: unknown) => e)
    expect(isS3dbError(err, 'ReentrantTransaction')).toBe(true)
    expect((err as Error).message).toMatch(/tx argument/)
    expect(await codeOf(db.update(() => db.view(() => 1)))).toBe('ReentrantTransaction')
    expect(await codeOf(db.view(() => db.update(() => 1)))).toBe('ReentrantTransaction')
  })

  it('invalidates tx after the transaction ends', async () => {
    const db = await openDb(new MemoryBlobStore())
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const leaked = await db.update((tx) => tx)
    expect(() => leaked.all('SELECT * FROM t')).toThrow(/transaction has ended/)
    const stmt = await db.view((tx) => tx.prepare('SELECT * FROM t'))
    expect(() => stmt.all()).toThrow(/transaction has ended/)
  })

  it('gives each view a consistent snapshot that never sees an in-flight write', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) => {
      tx.exec('CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER)')
    })
    await db.update((tx) => tx.run('INSERT INTO acct VALUES (1, 100), (2, 0)'))
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let writerInside!: () => void
    const inside = new Promise<void>((r) => {
      writerInside = r
    })
    const write = db.update(async (tx) => {
      tx.run('UPDATE acct SET bal = bal - 50 WHERE id = 1')
      writerInside()
      await gate
      tx.run('UPDATE acct SET bal = bal + 50 WHERE id = 2')
    })
    await inside
    // The write is half done locally: a view must not see any of it.
    expect(await db.view((tx) => tx.all('SELECT bal FROM acct ORDER BY id'))).toEqual([
      { bal: 100 },
      { bal: 0 },
    ])
    const total = db.view(async (tx) => {
      const first = tx.get<{ bal: number }>('SELECT bal FROM acct WHERE id = 1')!.bal
      release()
      await write
      const second = tx.get<{ bal: number }>('SELECT bal FROM acct WHERE id = 2')!.bal
      return first + second
    })
    expect(await total).toBe(100)
    expect(await db.view((tx) => tx.all('SELECT bal FROM acct ORDER BY id'))).toEqual([
      { bal: 50 },
      { bal: 50 },
    ])
  })

  it('refuses writes to tables without a PRIMARY KEY and publishes nothing', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) => tx.exec('CREATE TABLE nopk (a INTEGER, b TEXT)'))
    const before = await manifestOf(store)
    const err = await db
      .update((tx) => tx.run('INSERT INTO nopk VALUES (1, ?)', ['x']))
      .catch((e: unknown) => e)
    expect(isS3dbError(err, 'NoPrimaryKey')).toBe(true)
    expect(await manifestOf(store)).toEqual(before)
  })

  it('group-commits concurrent updates into fewer commits, each callback exactly once', async () => {
    const store = new CountingBlobStore(new MemoryBlobStore())
    const events: S3dbEvent[] = []
    const db = await openDb(store, { onEvent: (e) => events.push(e), autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
    events.length = 0
    const runs = new Map<number, number>()
    const before = store.snapshot()
    await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        db.update((tx) => {
          runs.set(i, (runs.get(i) ?? 0) + 1)
          tx.run('INSERT INTO t VALUES (?, ?)', [i, `v${i}`])
        }),
      ),
    )
    const commits = events.filter((e) => e.type === 'commit')
    expect(commits.reduce((n, e) => n + (e.type === 'commit' ? e.transactions : 0), 0)).toBe(64)
    expect(commits.length).toBeLessThan(64)
    expect(diffCounts(store.snapshot(), before).put).toBe(2 * commits.length)
    expect([...runs.values()].every((n) => n === 1)).toBe(true)
    expect(await db.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 64 })
  })

  it('fails only the callback that threw inside a group commit', async () => {
    const db = await openDb(new MemoryBlobStore())
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db.update((tx) => {
          tx.run('INSERT INTO t VALUES (?)', [i])
          if (i % 3 === 0) throw new Error(`fail ${i}`)
        }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(
      Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? 'rejected' : 'fulfilled')),
    )
    expect(
      await db.view((tx) =>
        tx.all<{ id: number }>('SELECT id FROM t ORDER BY id').map((r) => r.id),
      ),
    ).toEqual([1, 2, 4, 5, 7, 8])
  })

  it('emits commit and sync events with request counts', async () => {
    const store = new MemoryBlobStore()
    const events: S3dbEvent[] = []
    const a = await openDb(store, { onEvent: (e) => events.push(e) })
    const b = await openDb(store)
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await b.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    await a.view((tx) => tx.all('SELECT * FROM t'))
    const commit = events.find((e) => e.type === 'commit')
    expect(commit).toMatchObject({ type: 'commit', kind: 'snapshot', transactions: 1, attempts: 1 })
    const sync = events.find((e) => e.type === 'sync' && e.toSeq === 2)
    expect(sync).toMatchObject({
      type: 'sync',
      fromSeq: 1,
      toSeq: 2,
      changesets: 1,
      snapshot: false,
    })
    // The changeset came with the manifest (the newest entry's inline bytes).
    if (sync?.type === 'sync') expect(sync.requests.get).toBe(0)
    // Three commits behind: all three came with it too (small ones, newest first).
    for (let i = 2; i <= 4; i++) await b.update((tx) => tx.run('INSERT INTO t VALUES (?)', [i]))
    await a.view((tx) => tx.all('SELECT * FROM t'))
    const behind = events.find((e) => e.type === 'sync' && e.toSeq === 5)
    expect(behind).toMatchObject({ fromSeq: 2, changesets: 3 })
    if (behind?.type === 'sync') expect(behind.requests.get).toBe(0)
  })

  it('rejects use after close', async () => {
    const db = await S3db.open(new MemoryBlobStore(), PREFIX)
    await db.close()
    expect(await codeOf(db.update(() => 1))).toBe('Closed')
    expect(await codeOf(db.view(() => 1))).toBe('Closed')
  })

  // Regression: capture kept rows of a table the failed callback had created, and
  // reading them at commit replaced the callback's error with "no such table".
  it('rethrows the callback error when the failed callback created and wrote a table', async () => {
    const db = await openDb(new MemoryBlobStore())
    const err = await db
      .update((tx) => {
        tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)')
        tx.run('INSERT INTO t VALUES (1)')
        throw new Error('my own error')
      })
      .catch((e: unknown) => e)
    expect((err as Error).message).toBe('my own error')
    expect(
      await db.view((tx) => tx.all("SELECT name FROM sqlite_schema WHERE type = 'table'")),
    ).toEqual([])
  })

  // Regression: capture triggers name every column, so SQLite refused DROP COLUMN
  // (drizzle-kit generates it when a column is removed).
  it('runs ALTER TABLE ... DROP COLUMN inside update and publishes it as a snapshot', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)'))
    await db.update((tx) => tx.run("INSERT INTO t VALUES (1, 'a', 'b')"))
    await db.update((tx) => {
      tx.exec('ALTER TABLE t DROP COLUMN b')
      tx.run("INSERT INTO t VALUES (2, 'c')")
    })
    await db.update((tx) => tx.prepare('ALTER TABLE t RENAME COLUMN a TO c').run())
    const m = await manifestOf(store)
    expect(m.log).toEqual([])
    const other = await openDb(store)
    expect(await other.view((tx) => tx.all('SELECT * FROM t ORDER BY id'))).toEqual([
      { id: 1, c: 'a' },
      { id: 2, c: 'c' },
    ])
    // Capture works again afterwards: the next write is a changeset that others apply.
    await db.update((tx) => tx.run("UPDATE t SET c = 'z' WHERE id = 1"))
    expect((await manifestOf(store)).log).toHaveLength(1)
    expect(await other.view((tx) => tx.get('SELECT c FROM t WHERE id = 1'))).toEqual({ c: 'z' })
  })
  // Regression: dropping a table discarded its recorded rows; when a savepoint
  // rollback then restored the table, the commit went out as a changeset without
  // them, so other replicas missed the update.
  it('publishes writes made before a table was dropped and restored by a rollback', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    await db.update((tx) => tx.run('INSERT INTO t VALUES (1, 0)'))
    await db.update((tx) => {
      tx.run('UPDATE t SET v = 5 WHERE id = 1')
      tx.exec('SAVEPOINT x')
      tx.exec('DROP TABLE t')
      tx.exec('ROLLBACK TO x')
      tx.exec('RELEASE x')
    })
    const other = await openDb(store)
    expect(await db.view((tx) => tx.get('SELECT v FROM t'))).toEqual({ v: 5 })
    expect(await other.view((tx) => tx.get('SELECT v FROM t'))).toEqual({ v: 5 })
    await expectReplayMatches(store, PREFIX, [db, other])
  })
})
