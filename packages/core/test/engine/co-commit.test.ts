import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import {
  keyInlineBytes,
  MAX_KEY_INLINE_BYTES,
  MAX_OFFER_ID,
  offeredAt,
  offerId,
  rowsHashOf,
} from '../../src/co-commit.js'
import { StoreUnavailableError } from '../../src/errors.js'
import {
  appendLog,
  carriedAt,
  DatabaseKeys,
  epochOf,
  parseManifest,
  recordsCarried,
  serializeManifest,
  withCarriedRecord,
} from '../../src/format/manifest.js'
import { PointWrites } from '../../src/point-writes.js'
import {
  type Follow,
  type ManifestVersion,
  type Publisher,
  publishManifest,
} from '../../src/publish.js'
import { systemRuntime } from '../../src/runtime.js'
import { S3db } from '../../src/s3db.js'
import type { BlobStore, ListOptions } from '../../src/store/blob-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { storePublisher } from '../../src/sync.js'
import { LatencyBlobStore } from '../../src/testing/latency-store.js'
import { expectReplayMatches, manifestOf, PREFIX, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

/** A memory store that records the most offers one manifest CAS carried. */
class BatchRecordingStore extends MemoryBlobStore {
  carriedMax = 0
  /** GETs of offers (their bytes are in small offers' keys: a leader need not read them). */
  offerGets = 0

  /** Listings of offers: the page size asked for, and the entries taken from them. */
  readonly offerLists: { pageSize: number | undefined; taken: number }[] = []

  override async get(key: string, options?: Parameters<MemoryBlobStore['get']>[1]) {
    if (/-o[0-9a-z]{2}[0-9a-f]{8}/.test(key)) this.offerGets++
    return super.get(key, options)
  }

  override async *list(prefix: string, options?: ListOptions) {
    if (!/\/cs-q\d+-[0-9a-f]+-o$/.test(prefix)) {
      yield* super.list(prefix, options)
      return
    }
    const record = { pageSize: options?.pageSize, taken: 0 }
    this.offerLists.push(record)
    for await (const e of super.list(prefix, options)) {
      record.taken++
      yield e
    }
  }

  override async put(
    key: string,
    body: Parameters<MemoryBlobStore['put']>[1],
    options: Parameters<MemoryBlobStore['put']>[2] = {},
  ) {
    const res = await super.put(key, body, options)
    if (key.endsWith('manifest.json')) {
      const m = parseManifest(body as Uint8Array, key, PREFIX)
      const last = m.carried?.at(-1)
      if (last?.seq === m.seq) this.carriedMax = Math.max(this.carriedMax, last.ids.length)
    }
    return res
  }
}

/** A store whose manifest PUTs first run the hooks in `before` (one each, in order). */
class GatedStore extends LatencyBlobStore {
  readonly before: Array<() => Promise<void>> = []

  constructor(inner: MemoryBlobStore) {
    super(inner, { latencyMs: 2 })
  }

  override async put(...args: Parameters<LatencyBlobStore['put']>) {
    if (args[0].endsWith('manifest.json')) await this.before.shift()?.()
    return super.put(...args)
  }
}

/** How many offers (co-commit changesets, `-o` in their id) the store holds. */
async function offerCount(store: MemoryBlobStore): Promise<number> {
  let n = 0
  for await (const e of store.list(`${PREFIX}changesets/`))
    if (/-o[0-9a-z]{2}[0-9a-f]{8}/.test(e.key)) n++
  return n
}

describe('point writes', () => {
  const db = new Database(':memory:')
  db.exec(`
    CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, w INTEGER);
    CREATE TABLE c (a TEXT, b INTEGER, x INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;
    CREATE TABLE trig (id INTEGER PRIMARY KEY, v INTEGER);
    CREATE TABLE audit (n INTEGER);
    CREATE TRIGGER trig_audit AFTER UPDATE ON trig BEGIN INSERT INTO audit VALUES (1); END;
    CREATE TABLE parent (id INTEGER PRIMARY KEY, v INTEGER);
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id), v INTEGER);
    INSERT INTO t VALUES (1, 0, 0), (2, 0, 0);
    INSERT INTO c VALUES ('k', 1, 0);
  `)
  const eligible = (statements: [string, unknown[] | undefined, number | undefined][]) => {
    const pw = new PointWrites(db)
    for (const [sql, params, changes] of statements) pw.note(sql, params, changes)
    return pw.eligible
  }

  it('takes updates and deletes by the whole primary key that change one row', () => {
    expect(eligible([['UPDATE t SET v = v + 1 WHERE id = ?', [1], 1]])).toBe(true)
    expect(eligible([['UPDATE t SET v = w + 1 WHERE id = ? AND w = 0', [1], 1]])).toBe(true)
    expect(eligible([['DELETE FROM t WHERE id = ?', [2], 1]])).toBe(true)
    // A plain INSERT reads only the absence of its keys, which its apply checks again.
    expect(eligible([['INSERT INTO t VALUES (?, 0, 0)', [3], 1]])).toBe(true)
    expect(eligible([['insert into main."t" (v) values (?)', [3], 1]])).toBe(true)
    expect(eligible([['UPDATE c SET x = 1 WHERE a = ? AND b = ?', ['k', 1], 1]])).toBe(true)
    expect(
      eligible([
        ['UPDATE t SET v = v - 1 WHERE id = ?', [1], 1],
        ['UPDATE t SET v = v + 1 WHERE id = ?', [2], 1],
      ]),
    ).toBe(true)
  })

  it('refuses anything that may read other rows or the absence of one', () => {
    // Found no row: it read an absence no changeset records.
    expect(eligible([['UPDATE t SET v = 1 WHERE id = ?', [9], 0]])).toBe(false)
    expect(eligible([['UPDATE t SET v = 1 WHERE id IN (?, ?)', [1, 9], 1]])).toBe(false)
    expect(eligible([['UPDATE t SET v = (SELECT max(v) FROM t) WHERE id = ?', [1], 1]])).toBe(false)
    expect(eligible([['UPDATE t SET v = 1 WHERE v = ?', [0], 1]])).toBe(false)
    expect(eligible([['UPDATE t SET v = 1 WHERE id > ?', [1], 1]])).toBe(false)
    expect(eligible([['UPDATE c SET x = 1 WHERE a = ?', ['k'], 1]])).toBe(false)
    expect(eligible([['UPDATE OR REPLACE t SET id = 2 WHERE id = ?', [1], 1]])).toBe(false)
    expect(eligible([['INSERT OR REPLACE INTO t VALUES (?, 0, 0)', [3], 1]])).toBe(false)
    expect(eligible([['REPLACE INTO t VALUES (?, 0, 0)', [3], 1]])).toBe(false)
    expect(
      eligible([['INSERT INTO t VALUES (?, 0, 0) ON CONFLICT (id) DO UPDATE SET v = 1', [3], 1]]),
    ).toBe(false)
    expect(eligible([['INSERT INTO t SELECT id + 10, v, w FROM t WHERE id = ?', [1], 1]])).toBe(
      false,
    )
    expect(eligible([['INSERT INTO t VALUES (?, (SELECT max(v) FROM t), 0)', [3], 1]])).toBe(false)
    expect(eligible([['INSERT INTO trig VALUES (?, 0)', [3], 1]])).toBe(false)
    expect(eligible([['INSERT INTO child VALUES (?, 1, 0)', [3], 1]])).toBe(false)
    // A read, exec or prepared statement (changes unknown).
    expect(eligible([['SELECT v FROM t WHERE id = ?', [1], undefined]])).toBe(false)
    expect(
      eligible([
        ['UPDATE t SET v = 1 WHERE id = ?', [1], 1],
        ['SELECT v FROM t WHERE id = ?', [2], undefined],
      ]),
    ).toBe(false)
    // Triggers and foreign keys (either way) read and write other rows.
    expect(eligible([['UPDATE trig SET v = 1 WHERE id = ?', [1], 1]])).toBe(false)
    expect(eligible([['UPDATE parent SET v = 1 WHERE id = ?', [1], 1]])).toBe(false)
    expect(eligible([['UPDATE child SET v = 1 WHERE id = ?', [1], 1]])).toBe(false)
  })
})

describe('offer keys', () => {
  const manifest = parseManifest(
    new TextEncoder().encode(
      JSON.stringify({ seq: 7, snapshot: { key: `${PREFIX}snapshots/snap-A.sqlite`, seq: 7 } }),
    ),
    'm',
    PREFIX,
  )
  const ulid = '01JA0000000000000000000000'
  const keys = new DatabaseKeys(PREFIX)

  it('rank offers by races lost, first the longest-waiting, far beyond 9 losses', () => {
    // 64 processes on one hot row each lose about 63 rounds between commits.
    const ids = Array.from({ length: 200 }, (_, i) =>
      offerId(manifest, 'o', i + 1, 'deadbeef', ulid),
    )
    expect(new Set(ids).size).toBe(ids.length)
    const byKey = [...ids].sort()
    expect(byKey).toEqual([...ids].reverse())
    for (const id of ids) {
      const key = keys.changeset('snap-A', id)
      expect(rowsHashOf(key)).toBe('deadbeef')
      expect(offeredAt(key)).toBe(offeredAt(keys.changeset('snap-A', ids[0]!)))
    }
    expect(offeredAt(keys.changeset('snap-A', ids[0]!))).toBeGreaterThan(1_700_000_000_000)
  })

  it('carry small offers in the key, read back only when exact', () => {
    for (const size of [1, 2, 3, 4, 5, 17, MAX_KEY_INLINE_BYTES]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 37 + size) & 0xff)
      const id = offerId(manifest, 'o', 1, 'deadbeef', ulid, bytes)
      const key = keys.changeset('snap-A', id)
      expect(keyInlineBytes(key, size), `size ${size}`).toEqual(bytes)
      // Still a valid carried id and file name; the rows hash and time still parse.
      expect(id).toMatch(/^[A-Za-z0-9-]+$/)
      expect(id.length).toBeLessThanOrEqual(MAX_OFFER_ID)
      expect(`cs-${id}.bin`.length).toBeLessThan(255)
      expect(rowsHashOf(key)).toBe('deadbeef')
      // Not the listed size: the object is read instead.
      expect(keyInlineBytes(key, size + 1)).toBeUndefined()
    }
    const big = new Uint8Array(MAX_KEY_INLINE_BYTES + 1)
    expect(offerId(manifest, 'o', 1, 'deadbeef', ulid, big)).not.toContain(`${ulid}-d`)
    // Waiting uploads are never carried: no bytes in their keys.
    expect(offerId(manifest, 'w', 1, 'deadbeef', ulid, new Uint8Array(3))).not.toContain('-d')
    // Non-canonical text (stray bits, letters outside the alphabet) is refused.
    const stem = keys.changeset('snap-A', offerId(manifest, 'o', 1, 'deadbeef', ulid))
    expect(keyInlineBytes(stem.replace('.bin', '-d01.bin'), 1)).toBeUndefined()
    expect(keyInlineBytes(stem.replace('.bin', '-dU0.bin'), 1)).toBeUndefined()
    expect(keyInlineBytes(stem.replace('.bin', '-d00.bin'), 1)).toEqual(new Uint8Array([0]))
  })

  it('records carried offers without their bytes, and finds whole ids too', () => {
    const key = keys.changeset(
      'snap-A',
      offerId(manifest, 'o', 1, 'deadbeef', ulid, new Uint8Array([1, 2, 3])),
    )
    const next = appendLog(manifest, key, new Uint8Array([1, 2, 3]))
    const recorded = withCarriedRecord(manifest, next, [key])
    const id = recorded.carried?.at(-1)?.ids[0]
    expect(id).toBe(offerId(manifest, 'o', 1, 'deadbeef', ulid))
    expect(carriedAt(recorded, key)).toBe(8)
    // A writer that knows no bytes in keys records the whole id.
    const whole = {
      ...next,
      carried: [{ seq: 8, ids: [key.slice(key.lastIndexOf('cs-') + 3, -4)] }],
    }
    expect(carriedAt(parseManifest(serializeManifest(whole), 'm', PREFIX), key)).toBe(8)
  })
})

describe('carried records', () => {
  const base = parseManifest(
    new TextEncoder().encode(
      JSON.stringify({
        format_version: 1,
        seq: 5,
        schema_version: 0,
        snapshot: { key: `${PREFIX}snapshots/snap-a.sqlite`, seq: 5 },
        log: [],
      }),
    ),
    'm',
    PREFIX,
  )
  const offer = `${PREFIX}changesets/snap-a/cs-q0000000000000005-0123456789-ozz0123abcd01J0000000000000000000000.bin`

  it('records every commit that advances seq, round-trips, and proves both ways', () => {
    const next = {
      ...base,
      seq: 6,
      log: [{ key: `${PREFIX}changesets/snap-a/cs-x.bin`, seq: 6, size: 1 }],
    }
    const m = withCarriedRecord(base, next, [offer])
    const read = parseManifest(serializeManifest(m), 'm', PREFIX)
    expect(carriedAt(read, offer)).toBe(6)
    expect(recordsCarried(read, 6)).toBe(true)
    // The next commit carries nothing: its record says so.
    const after = withCarriedRecord(
      read,
      {
        ...read,
        seq: 7,
        log: [...read.log, { key: `${PREFIX}changesets/snap-a/cs-y.bin`, seq: 7, size: 1 }],
      },
      [],
    )
    expect(recordsCarried(after, 7)).toBe(true)
    expect(carriedAt(after, offer)).toBe(6)
    // A commit that keeps seq (compaction, push) adds no record.
    expect(withCarriedRecord(after, { ...after, log: [] }, [])).toEqual({ ...after, log: [] })
  })

  it('drops malformed records as a whole (unknown, never "not carried")', () => {
    const bad = JSON.stringify({
      format_version: 1,
      seq: 5,
      schema_version: 0,
      snapshot: { key: `${PREFIX}snapshots/snap-a.sqlite`, seq: 5 },
      log: [],
      carried: [
        { seq: 5, ids: ['ok'] },
        { seq: 4, ids: [] },
      ],
    })
    expect(parseManifest(new TextEncoder().encode(bad), 'm', PREFIX).carried).toBeUndefined()
  })
})

describe('co-commit', () => {
  it('carries the point writes of other processes in one commit, each exactly once', async () => {
    const store = new BatchRecordingStore()
    const n = 6
    const rounds = 12
    const setup = await openDb(store)
    await setup.update((tx) => {
      tx.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)')
      for (let i = 0; i < 2 * n; i++) tx.run('INSERT INTO accounts VALUES (?, 100)', [i])
    })
    const dbs = await Promise.all(
      Array.from({ length: n }, () => openDb(new LatencyBlobStore(store, { latencyMs: 5 }))),
    )
    // Each process moves money between its own two accounts (point writes),
    // process 0 also runs transactions that read every account (not offered).
    const seen: number[] = []
    await Promise.all(
      dbs.map(async (db, p) => {
        for (let r = 0; r < rounds; r++) {
          await db.update((tx) => {
            tx.run('UPDATE accounts SET balance = balance - 1 WHERE id = ?', [2 * p])
            tx.run('UPDATE accounts SET balance = balance + 1 WHERE id = ?', [2 * p + 1])
          })
          if (p === 0 && r % 3 === 0) {
            seen.push(
              await db.update(
                (tx) =>
                  (tx.get('SELECT sum(balance) AS s FROM accounts') as { s: number } | undefined)!
                    .s,
              ),
            )
          }
        }
      }),
    )
    for (const s of seen) expect(s).toBe(200 * n)
    const fresh = await expectReplayMatches(store, PREFIX, [setup, ...dbs])
    const balances = (fresh.accounts as string[])
      .map((r) => JSON.parse(r) as [number, number])
      .sort((a, b) => a[0] - b[0])
      .map((r) => r[1])
    expect(balances).toEqual(
      Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 100 - rounds : 100 + rounds)),
    )
    // Every transaction is one log entry; some CAS carried more than one.
    // One commit carried the offers of other processes, each exactly once.
    const m = await manifestOf(store)
    const carried = (m.carried ?? []).flatMap((r) => r.ids)
    expect(new Set(carried).size).toBe(carried.length)
    expect(store.carriedMax).toBeGreaterThan(0)
    // The offers were small: leaders took their bytes from the listing.
    expect(store.offerGets).toBe(0)
    // A gathering's first listing asks for two entries and takes at most two:
    // enough to tell who leads (a follower reads no page of everyone's offers).
    const firstLooks = store.offerLists.filter((l) => l.pageSize === 2)
    expect(firstLooks.length).toBeGreaterThan(n)
    expect(Math.max(...firstLooks.map((l) => l.taken))).toBeLessThanOrEqual(2)
  })

  it('keeps offer keys within 1024 bytes under a long prefix and epoch (no bytes in them then)', async () => {
    // A snapshot another client named at length (its name is the epoch of
    // every changeset key) under a 500-byte prefix leaves no room for bytes.
    const store = new MemoryBlobStore()
    const prefix = `${'p'.repeat(499)}/`
    const open = (s: MemoryBlobStore | LatencyBlobStore) =>
      S3db.open(s, prefix, { autoCompact: false })
    const setup = await open(store)
    await setup.update((tx) => {
      tx.exec('CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)')
      for (let i = 0; i < 4; i++) tx.run('INSERT INTO c VALUES (?, 0)', [i])
    })
    await setup.close()
    const keys = new DatabaseKeys(prefix)
    const current = await storePublisher(store, keys).read()
    const snapshot = await store.get(current.manifest.snapshot.key)
    if (snapshot.notModified) throw new Error('notModified')
    const renamed = `${prefix}snapshots/snap-${'x'.repeat(395)}.sqlite`
    await store.put(renamed, snapshot.body)
    const replaced = {
      ...current.manifest,
      snapshot: { key: renamed, seq: current.manifest.seq, size: snapshot.body.byteLength },
      log: [],
    }
    await store.put(keys.manifest, serializeManifest(replaced), { ifMatch: current.etag })
    const dbs = await Promise.all(
      Array.from({ length: 4 }, () => open(new LatencyBlobStore(store, { latencyMs: 5 }))),
    )
    try {
      await Promise.all(
        dbs.map(async (db, p) => {
          for (let r = 0; r < 8; r++)
            await db.update((tx) => tx.run('UPDATE c SET v = v + 1 WHERE id = ?', [p]))
        }),
      )
      const offers: string[] = []
      for await (const e of store.list(prefix))
        if (/-o[0-9a-z]{2}[0-9a-f]{8}/.test(e.key)) offers.push(e.key)
      expect(offers.length).toBeGreaterThan(0)
      for (const key of offers) {
        expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024)
        expect(key).not.toMatch(/-d[0-9A-Z]+\.bin$/)
      }
      const fresh = await expectReplayMatches(store, prefix, dbs)
      expect(fresh.c).toEqual(['[0,8]', '[1,8]', '[2,8]', '[3,8]'])
    } finally {
      await Promise.all(dbs.map((db) => db.close()))
    }
  })

  it('under snapshot isolation carries any changeset commit, and rebased commits stay exact', async () => {
    const store = new BatchRecordingStore()
    const n = 5
    const setup = await openDb(store, { isolation: 'snapshot' })
    await setup.update((tx) => {
      tx.exec('CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)')
      for (let i = 0; i <= n; i++) tx.run('INSERT INTO c VALUES (?, 0)', [i])
    })
    const dbs = await Promise.all(
      Array.from({ length: n }, () =>
        openDb(new LatencyBlobStore(store, { latencyMs: 5 }), { isolation: 'snapshot' }),
      ),
    )
    // Reads (not point writes) on its own row, and a shared row 0 now and then.
    await Promise.all(
      dbs.map(async (db, p) => {
        for (let r = 0; r < 10; r++) {
          await db.update((tx) => {
            const row = tx.get('SELECT v FROM c WHERE id = ?', [p + 1]) as { v: number }
            tx.run('UPDATE c SET v = ? WHERE id = ?', [row.v + 1, p + 1])
            if (r % 4 === 0) tx.run('UPDATE c SET v = v + 1 WHERE id = 0')
          })
        }
      }),
    )
    const fresh = await expectReplayMatches(store, PREFIX, [setup, ...dbs])
    const values = (fresh.c as string[])
      .map((r) => JSON.parse(r) as [number, number])
      .sort((a, b) => a[0] - b[0])
      .map((r) => r[1])
    expect(values).toEqual([3 * n, ...Array.from({ length: n }, () => 10)])
  })

  it('a leader that lost with carried offers and was rebased publishes no stale row of them', async () => {
    const store = new MemoryBlobStore()
    const snapshot = { isolation: 'snapshot' } as const
    const setup = await openDb(store, snapshot)
    await setup.update((tx) => {
      tx.exec('CREATE TABLE c (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)')
      for (let i = 1; i <= 4; i++) tx.run('INSERT INTO c VALUES (?, 0)', [i])
    })
    const aStore = new GatedStore(store)
    const cStore = new GatedStore(store)
    const eStore = new GatedStore(store)
    const a = await openDb(aStore, snapshot)
    const b = await openDb(store, snapshot)
    const c = await openDb(cStore, snapshot)
    const e = await openDb(eStore, snapshot)
    // C's and E's CASes wait until A is done (a CAS of theirs sent after
    // that, e.g. after following first, does not wait).
    const releases: Array<() => void> = []
    let open = false
    const gate = () => (open ? Promise.resolve() : new Promise<void>((r) => releases.push(r)))
    cStore.before.push(gate)
    eStore.before.push(gate)
    const pending: Promise<unknown>[] = []
    /** Starts an update on a contended process (it just took in a commit) and waits for its offer. */
    const offer = async (db: typeof c, id: number) => {
      const before = await offerCount(store)
      await db.view(() => 0)
      pending.push(db.update((tx) => tx.run('UPDATE c SET v = v + 1 WHERE id = ?', [id])))
      for (let i = 0; i < 1000 && (await offerCount(store)) === before; i++)
        await new Promise((r) => setTimeout(r, 2))
      expect(await offerCount(store)).toBeGreaterThan(before)
    }
    // Before A's first CAS: B commits row 2, so A loses and rebases onto it,
    // and C offers row 3 on B's commit (its CAS waits).
    aStore.before.push(async () => {
      await b.update((tx) => tx.run('UPDATE c SET v = v + 1 WHERE id = 2'))
      await offer(c, 3)
    })
    // A's second attempt leads (its key sorts first: it lost a race) and
    // carries C's offer. Before its CAS, D (fresh, uncontended) commits row 3
    // too, so A loses again, and E offers row 4 on D's commit.
    aStore.before.push(async () => {
      const d = await openDb(store, snapshot)
      await d.update((tx) => tx.run('UPDATE c SET v = v + 1 WHERE id = 3'))
      await offer(e, 4)
    })
    // A's third attempt is its changeset rebased onto D's commit. Change
    // capture still remembers row 3 as it was on B's commit (from carrying C's
    // offer): merging E's offer into what capture holds would publish row 3's
    // stale old value, a log no replica can apply.
    await a.update((tx) => tx.run('UPDATE c SET v = v + 1 WHERE id = 1'))
    open = true
    for (const release of releases) release()
    await Promise.all(pending)
    const fresh = await expectReplayMatches(store, PREFIX, [setup, a, b, c, e])
    expect(fresh.c).toEqual(['[1,1]', '[2,1]', '[3,2]', '[4,1]'])
    const carried = ((await manifestOf(store)).carried ?? []).flatMap((r) => r.ids)
    expect(new Set(carried).size).toBe(carried.length)
  })

  it('carries plain INSERTs, with chosen and with generated keys, each exactly once', async () => {
    const store = new BatchRecordingStore()
    const n = 5
    const setup = await openDb(store)
    await setup.update((tx) =>
      tx.exec(
        'CREATE TABLE e (id INTEGER PRIMARY KEY, who INTEGER NOT NULL, r INTEGER NOT NULL, UNIQUE (who, r))',
      ),
    )
    const dbs = await Promise.all(
      Array.from({ length: n }, () => openDb(new LatencyBlobStore(store, { latencyMs: 5 }))),
    )
    const ids: number[] = []
    await Promise.all(
      dbs.map(async (db, p) => {
        for (let r = 0; r < 8; r++) {
          // Even rounds let SQLite choose the rowid (two processes may choose the same
          // one); odd rounds choose negative ones (never chosen by SQLite).
          const id = await db.update((tx) =>
            r % 2 === 0
              ? Number(tx.run('INSERT INTO e (who, r) VALUES (?, ?)', [p, r]).lastInsertRowid)
              : Number(
                  tx.run('INSERT INTO e VALUES (?, ?, ?)', [-(1 + p * 100 + r), p, r])
                    .lastInsertRowid,
                ),
          )
          ids.push(id)
        }
      }),
    )
    const fresh = await expectReplayMatches(store, PREFIX, [setup, ...dbs])
    const rows = (fresh.e as string[]).map((r) => JSON.parse(r) as [number, number, number])
    expect(rows).toHaveLength(8 * n)
    // Every acknowledged rowid is the row that landed, once.
    expect(new Set(ids).size).toBe(8 * n)
    expect(rows.map((r) => r[0]).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b))
    expect(store.carriedMax).toBeGreaterThan(0)
  })

  it('keeps a hot row exact: offers on the same row are never published together', async () => {
    const store = new MemoryBlobStore()
    const setup = await openDb(store)
    await setup.update((tx) => {
      tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)')
      tx.run('INSERT INTO t VALUES (0, 0)')
    })
    const dbs = await Promise.all(
      Array.from({ length: 4 }, () => openDb(new LatencyBlobStore(store, { latencyMs: 5 }))),
    )
    await Promise.all(
      dbs.map(async (db) => {
        for (let r = 0; r < 10; r++)
          await db.update((tx) => tx.run('UPDATE t SET v = v + 1 WHERE id = 0'))
      }),
    )
    const fresh = await expectReplayMatches(store, PREFIX, [setup, ...dbs])
    expect(fresh.t).toEqual(['[0,40]'])
  })
})

/** Uploads a one-byte changeset and publishes it over `base` (the current manifest by default). */
async function publishByte(
  p: Publisher,
  store: BlobStore,
  byte: number,
  options: { base?: ManifestVersion; follow?: Follow } = {},
) {
  const keys = new DatabaseKeys(PREFIX)
  const base = options.base ?? (await p.read())
  const key = keys.changeset(epochOf(base.manifest.snapshot.key), systemRuntime.newId())
  await store.put(key, new Uint8Array([byte]))
  return publishManifest(p, {
    base,
    next: appendLog(base.manifest, key, new Uint8Array([byte])),
    own: { key, uploadedAt: systemRuntime.monotonic() },
    follow: options.follow,
  })
}

describe('follow', () => {
  it("a follower that sends its own CAS after waiting reports the send's round trip, not the wait", async () => {
    // The round trip co-commit waits are measured in comes from this: counting
    // the follow's wait in it made every timed-out follower's unit 2-3x longer,
    // its next lead slower, and its followers time out in turn.
    const memory = new MemoryBlobStore()
    await (await openDb(memory)).update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const store = new LatencyBlobStore(memory, { latencyMs: 5 })
    const p = storePublisher(store, new DatabaseKeys(PREFIX))
    const outcome = await publishByte(p, store, 1, {
      follow: { firstMs: 40, everyMs: 40, steadyMs: 200, waitMs: 200 },
    })
    expect(outcome.committed).toBe(true)
    if (!outcome.committed) return
    expect(outcome.sendMs).toBeGreaterThanOrEqual(4)
    expect(outcome.sendMs).toBeLessThan(100)
  })
})

describe('late copies', () => {
  it('a loss decided after a send that failed without proof reports that a late copy may land', async () => {
    // The loss is exact, but a copy of the send still in flight could match the
    // manifest it was sent over if an operator restored it byte for byte: the
    // writer must then keep the objects the send names (GC removes them later).
    const memory = new MemoryBlobStore()
    await (await openDb(memory)).update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    const keys = new DatabaseKeys(PREFIX)
    const winner = storePublisher(memory, keys)
    let failNext = true
    const flaky = new Proxy(memory, {
      get(target, prop, receiver) {
        if (prop !== 'put') {
          const v = Reflect.get(target, prop, receiver)
          return typeof v === 'function' ? v.bind(target) : v
        }
        return async (...args: Parameters<MemoryBlobStore['put']>) => {
          if (failNext && args[0].endsWith('manifest.json')) {
            failNext = false
            // Another writer's commit lands first; ours is lost, and the error
            // does not say so.
            await publishByte(winner, memory, 2)
            throw new StoreUnavailableError('connection reset', { maybeApplied: true })
          }
          return target.put(...args)
        }
      },
    })
    const p = storePublisher(flaky, keys)
    for (const unproven of [true, false]) {
      failNext = unproven
      const base = await p.read()
      // This time the other commit lands first and our CAS gets a plain 412.
      if (!unproven) await publishByte(winner, memory, 3)
      const outcome = await publishByte(p, memory, 1, { base })
      expect(outcome.committed).toBe(false)
      if (outcome.committed || outcome.reason !== 'conflict') throw new Error('expected a conflict')
      expect(outcome.lateCopies, `unproven ${unproven}`).toBe(unproven)
    }
  })
})
