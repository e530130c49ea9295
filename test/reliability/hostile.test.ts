/**
 * Hostile and broken objects in the bucket: each gives a clear typed error and
 * makes s3db write nothing. The suite of tamperings run on every store lives in
 * hostile/ (hostile-memory, hostile-filesystem and hostile-s3 tests); this file
 * holds the focused cases: memory bounds, damaged replicas, nested databases.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type BlobStore,
  FileSystemBlobStore,
  type GetOptions,
  isS3dbError,
  MemoryBlobStore,
  type PutBody,
  type PutOptions,
  S3db,
} from '@s3db/core'
import {
  DatabaseKeys,
  encodeChangeset,
  parseManifest,
  readManifest,
  serializeManifest,
} from '@s3db/core/internal'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { damagedPages } from './hostile/cases.js'
import { BASE_SNAPSHOT, healthy, listing, writeState } from './hostile/fixture.js'

const PREFIX = 'app/db/'
const keys = new DatabaseKeys(PREFIX)

/** A memory store that records every write and delete. */
class RecordingStore extends MemoryBlobStore {
  writes: string[] = []
  recording = false
  override async put(key: string, body: PutBody, options?: PutOptions) {
    if (this.recording) this.writes.push(`PUT ${key}`)
    return super.put(key, body, options)
  }
  override async delete(key: string) {
    if (this.recording) this.writes.push(`DELETE ${key}`)
    return super.delete(key)
  }
  override async deleteMany(ks: readonly string[]) {
    if (this.recording) this.writes.push(...ks.map((k) => `DELETE ${k}`))
    return super.deleteMany(ks)
  }
}

function sqliteImage(schema: string): Uint8Array {
  const db = new Database(':memory:')
  db.exec(schema)
  const image = db.serialize()
  db.close()
  return image
}

async function manifestOf(store: MemoryBlobStore) {
  const res = await store.get(keys.manifest)
  if (res.notModified) throw new Error('notModified')
  return parseManifest(res.body, keys.manifest, PREFIX)
}

/** A database whose log has one real changeset, to be tampered with. */
async function healthyDatabase(): Promise<RecordingStore> {
  const store = new RecordingStore()
  const db = await S3db.open(store, PREFIX, { autoCompact: false })
  await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
  await db.update((tx) => tx.run("INSERT INTO t VALUES (1, 'one')"))
  await db.close()
  return store
}

async function expectRefused(store: RecordingStore, code: string, message?: RegExp): Promise<void> {
  store.recording = true
  const err = await S3db.open(store, PREFIX).catch((e: unknown) => e)
  store.recording = false
  expect(isS3dbError(err) ? err.code : String(err)).toBe(code)
  if (message) expect((err as Error).message).toMatch(message)
  expect(store.writes).toEqual([])
}

describe('hostile input', () => {
  it('manifest: not JSON, wrong types, a gap, a newer format, huge', async () => {
    const bad = [
      ['not json', 'Corrupt'],
      [
        JSON.stringify({
          seq: 'one',
          snapshot: { key: `${PREFIX}snapshots/s.sqlite`, seq: 0 },
          log: [],
        }),
        'Corrupt',
      ],
      [
        JSON.stringify({
          seq: 3,
          snapshot: { key: `${PREFIX}snapshots/s.sqlite`, seq: 0 },
          log: [{ key: `${PREFIX}changesets/e/cs-a.bin`, seq: 3 }],
        }),
        'Corrupt',
      ],
      [
        JSON.stringify({
          format_version: 2,
          seq: 0,
          snapshot: { key: `${PREFIX}snapshots/s.sqlite`, seq: 0 },
          log: [],
        }),
        'FormatTooNew',
      ],
      [`{"seq":0,"pad":"${'x'.repeat(65 * 1024 * 1024)}"}`, 'Corrupt'],
    ] as const
    for (const [body, code] of bad) {
      const store = new RecordingStore()
      await store.put(keys.manifest, new TextEncoder().encode(body))
      await expectRefused(store, code)
    }
  })

  it('snapshot: missing, truncated, not SQLite', async () => {
    const missing = await healthyDatabase()
    await missing.delete((await manifestOf(missing)).snapshot.key)
    await expectRefused(missing, 'Corrupt', /references .*snapshots.*does not exist/)

    const truncated = await healthyDatabase()
    const ref = (await manifestOf(truncated)).snapshot
    const full = await truncated.get(ref.key)
    if (full.notModified) throw new Error('notModified')
    await truncated.put(ref.key, full.body.subarray(0, 1000))
    await expectRefused(truncated, 'Corrupt', /bytes but the manifest says/)

    const text = await healthyDatabase()
    const m = await manifestOf(text)
    const fake = new TextEncoder().encode('this is not a database '.repeat(200))
    await text.put(m.snapshot.key, fake)
    await text.put(
      keys.manifest,
      serializeManifest({ ...m, snapshot: { ...m.snapshot, size: fake.byteLength } }),
    )
    await expectRefused(text, 'Corrupt', /not a SQLite database/)
  })

  it('snapshot with a different schema than the log expects', async () => {
    const store = await healthyDatabase()
    const m = await manifestOf(store)
    const other = sqliteImage('CREATE TABLE unrelated (id INTEGER PRIMARY KEY)')
    await store.put(m.snapshot.key, other)
    await store.put(
      keys.manifest,
      serializeManifest({ ...m, snapshot: { ...m.snapshot, size: other.byteLength } }),
    )
    await expectRefused(store, 'Corrupt')
  })

  it('changeset: truncated, malformed, for an unknown table, with a different PK layout', async () => {
    const mutate = async (make: (original: Uint8Array) => Uint8Array) => {
      const store = await healthyDatabase()
      const m = await manifestOf(store)
      const entry = m.log[0]!
      const original = await store.get(entry.key)
      if (original.notModified) throw new Error('notModified')
      const bytes = make(original.body)
      await store.put(entry.key, bytes)
      await store.put(
        keys.manifest,
        serializeManifest({ ...m, log: [{ ...entry, size: bytes.byteLength }] }),
      )
      return store
    }
    await expectRefused(await mutate((b) => b.subarray(0, b.byteLength - 3)), 'Corrupt')
    await expectRefused(
      await mutate(() => new Uint8Array([0x54, 0xff, 0xff, 0xff, 0xff, 0x0f])),
      'Corrupt',
    )
    const unknown = encodeChangeset({
      tables: [
        { name: 'nope', pk: [1, 0], changes: [{ op: 'INSERT', indirect: false, new: [1n, 'x'] }] },
      ],
    })
    await expectRefused(await mutate(() => unknown), 'Corrupt')
    const wrongPk = encodeChangeset({
      tables: [
        { name: 't', pk: [0, 1], changes: [{ op: 'INSERT', indirect: false, new: [1n, 'x'] }] },
      ],
    })
    await expectRefused(await mutate(() => wrongPk), 'Corrupt')
  })

  it('ignores unexpected extra objects under the prefix, and gc leaves them alone', async () => {
    const store = await healthyDatabase()
    const extras = [
      `${PREFIX}README`,
      `${PREFIX}snapshots/notes.txt`,
      `${PREFIX}changesets/x/other.json`,
      `${PREFIX}changesets/cs-top.bin`,
    ]
    for (const k of extras) await store.put(k, new TextEncoder().encode('hello'))
    const db = await S3db.open(store, PREFIX)
    expect(await db.view((tx) => tx.all('SELECT * FROM t'))).toEqual([{ id: 1, v: 'one' }])
    await db.compact()
    await db.gc({ gracePeriod: 0, minAge: 0 })
    for (const k of extras) expect((await store.stat(k)).size).toBe(5)
    await db.close()
  })

  it('never leaks the bytes of a hostile manifest into errors beyond a short excerpt', async () => {
    const store = new RecordingStore()
    const secretish = createHash('sha256').update('x').digest('hex')
    await store.put(
      keys.manifest,
      new TextEncoder().encode(`{"seq": 0, "junk": "${secretish}", "snapshot": 5}`),
    )
    const err = await S3db.open(store, PREFIX).catch((e: unknown) => e)
    expect(isS3dbError(err, 'Corrupt')).toBe(true)
    expect((err as Error).message).not.toContain(secretish)
  })
})

/** `store` with one method routed through `around` (the rest bound to the store). */
function wrapped(
  store: BlobStore,
  method: 'get' | 'getStream',
  around: (call: () => Promise<unknown>) => Promise<unknown>,
): BlobStore {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown
      if (typeof value !== 'function') return value
      if (prop === method)
        return (key: string, options?: GetOptions) => around(() => target[method](key, options))
      return value.bind(target)
    },
  })
}

const gc = (globalThis as { gc?: () => void }).gc
function collect(): void {
  if (!gc) throw new Error('run with --expose-gc (vitest.config.ts sets it)')
  gc()
}

describe('hostile input: memory stays bounded whatever the store claims or holds', () => {
  it('a snapshot size of 1e14 in the manifest allocates nothing for it (Corrupt at the first answer)', async () => {
    const store = new MemoryBlobStore()
    const state = healthy()
    ;(state.manifest as { snapshot: { size: number } }).snapshot.size = 1e14
    await writeState(store, PREFIX, state)
    collect()
    const baseline = process.memoryUsage().heapUsed
    let peak = 0
    // Sampled while the download runs: a planner that listed every range of the
    // claimed size held 12 million of them (1.24 GB) here.
    const sampling = wrapped(store, 'getStream', (call) => {
      peak = Math.max(peak, process.memoryUsage().heapUsed - baseline)
      return call()
    })
    const before = await listing(store, '')
    const err = await S3db.open(sampling, PREFIX).catch((e: unknown) => e)
    expect(isS3dbError(err, 'Corrupt'), String(err)).toBe(true)
    expect((err as Error).message).toMatch(/bytes but the manifest says 100000000000000/)
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThan(64 * 1024 * 1024)
    expect(await listing(store, '')).toEqual(before)
  })

  for (const kind of ['memory', 'filesystem'] as const) {
    it(`a 50 MB manifest is refused before it is read (${kind} store)`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 's3db-hostile-big-'))
      const inner: BlobStore =
        kind === 'memory' ? new MemoryBlobStore() : await FileSystemBlobStore.open(dir)
      try {
        const huge = new Uint8Array(50 * 1024 * 1024).fill(0x20)
        huge.set(new TextEncoder().encode('{"seq": 0, "pad": "'), 0)
        await inner.put(keys.manifest, huge)
        collect()
        const baseline = process.memoryUsage().arrayBuffers
        let held = 0
        // What a read leaves in hand before anything parses it.
        const sampling = wrapped(inner, 'get', async (call) => {
          try {
            return await call()
          } finally {
            held = Math.max(held, process.memoryUsage().arrayBuffers - baseline)
          }
        })
        const err = await readManifest(sampling, keys.manifest, PREFIX).catch((e: unknown) => e)
        expect(isS3dbError(err, 'Corrupt'), String(err)).toBe(true)
        expect(held).toBeLessThan(8 * 1024 * 1024)
      } finally {
        if (inner instanceof FileSystemBlobStore) await inner.close()
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})

describe('hostile input: damaged replicas and snapshots', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 's3db-hostile-replica-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('SQLITE_CORRUPT while querying a replica is Corrupt with a remedy, and the next call rebuilds it', async () => {
    const store = new MemoryBlobStore()
    await writeState(store, PREFIX, healthy())
    const localPath = join(dir, 'damaged.sqlite')
    const first = await S3db.open(store, PREFIX, { localPath })
    expect(await first.view((tx) => tx.get('SELECT count(*) AS n FROM pad'))).toEqual({ n: 40 })
    await first.close()
    // Disk damage while no process runs: the last page (a leaf of pad) is garbage.
    const file = await readFile(localPath)
    await writeFile(localPath, damagedPages(file))
    const db = await S3db.open(store, PREFIX, { localPath })
    try {
      // The position record is intact, so the file is reused; t still reads fine.
      expect(await db.view((tx) => tx.all('SELECT id FROM t ORDER BY id'))).toHaveLength(3)
      const err = await db
        .view((tx) => tx.all('SELECT sum(length(b)) FROM pad'))
        .catch((e: unknown) => e)
      expect(isS3dbError(err, 'Corrupt'), String(err)).toBe(true)
      expect((err as Error).message).toMatch(
        /local replica is damaged.*rebuilt from the store.*retry/,
      )
      expect(((err as Error).cause as { code?: string }).code).toMatch(/^SQLITE_CORRUPT/)
      // Retried: rebuilt from the store, right data.
      expect(await db.view((tx) => tx.get('SELECT count(*) AS n FROM pad'))).toEqual({ n: 40 })
      await db.update((tx) => tx.run("INSERT INTO t VALUES (7, 'seven')"))
      expect(await db.view((tx) => tx.all('SELECT id FROM t ORDER BY id'))).toHaveLength(4)
    } finally {
      await db.close()
    }
  })

  it('a replica file that is no database any more is rebuilt at open', async () => {
    const store = new MemoryBlobStore()
    await writeState(store, PREFIX, healthy())
    const localPath = join(dir, 'garbage.sqlite')
    await (await S3db.open(store, PREFIX, { localPath })).close()
    await writeFile(localPath, Buffer.alloc(64 * 1024, 'garbage '))
    const db = await S3db.open(store, PREFIX, { localPath })
    try {
      expect(await db.view((tx) => tx.all('SELECT id, v FROM t ORDER BY id'))).toEqual([
        { id: 1, v: 'uno' },
        { id: 2, v: 'two' },
        { id: 3, v: 'three' },
      ])
    } finally {
      await db.close()
    }
  })

  it('a snapshot with damaged pages behind a valid header is refused at download (quick_check)', async () => {
    const store = new RecordingStore()
    const state = healthy()
    const damaged = damagedPages(BASE_SNAPSHOT)
    state.objects.set('snapshots/snap-base.sqlite', damaged)
    await writeState(store, PREFIX, state)
    await expectRefused(
      store,
      'Corrupt',
      /damaged SQLite database.*restore the object, or push a good copy/,
    )
    // The same bytes open, and only a query of the damaged table fails: what a
    // replica would have served without the check.
    const path = join(dir, 'raw.sqlite')
    await writeFile(path, damaged)
    const raw = new Database(path)
    expect(raw.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2 })
    expect(() => raw.prepare('SELECT sum(length(b)) FROM pad').get()).toThrow(/malformed/)
    raw.close()
  })
})

describe('hostile input: nested databases and the last seq', () => {
  it('gc never deletes outside its own namespace: a database nested under another', async () => {
    const store = new MemoryBlobStore()
    const outer = await S3db.open(store, 'app/db/', { autoCompact: false })
    const inner = await S3db.open(store, 'app/db/inner/', { autoCompact: false })
    for (const [db, name] of [
      [outer, 'outer'],
      [inner, 'inner'],
    ] as const) {
      await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
      for (let i = 0; i < 3; i++)
        await db.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, name]))
      // Compaction leaves unreferenced snapshots and changesets: what gc collects.
      await db.compact()
    }
    const innerKeys = [...(await listing(store, 'app/db/inner/')).entries()]
    const outerResult = await outer.gc({ gracePeriod: 0, minAge: 0 })
    expect(outerResult.deleted.length).toBeGreaterThan(0)
    expect(outerResult.deleted.every((k) => !k.startsWith('app/db/inner/'))).toBe(true)
    expect([...(await listing(store, 'app/db/inner/')).entries()]).toEqual(innerKeys)
    const outerKeys = [...(await listing(store, 'app/db/')).entries()].filter(
      ([k]) => !k.startsWith('app/db/inner/'),
    )
    const innerResult = await inner.gc({ gracePeriod: 0, minAge: 0 })
    expect(innerResult.deleted.length).toBeGreaterThan(0)
    expect(
      [...(await listing(store, 'app/db/')).entries()].filter(
        ([k]) => !k.startsWith('app/db/inner/'),
      ),
    ).toEqual(outerKeys)
    for (const [db, name] of [
      [outer, 'outer'],
      [inner, 'inner'],
    ] as const) {
      expect(await db.view((tx) => tx.all('SELECT DISTINCT v FROM t'))).toEqual([{ v: name }])
      await db.close()
    }
  })

  it('a database at seq 2^53 - 1 refuses update and push (Corrupt), writing nothing', async () => {
    const store = new RecordingStore()
    const state = healthy()
    const m = state.manifest as { seq: number; snapshot: { seq: number }; log: { seq: number }[] }
    m.seq = Number.MAX_SAFE_INTEGER
    m.snapshot.seq = m.seq - 2
    m.log[0]!.seq = m.seq - 1
    m.log[1]!.seq = m.seq
    await writeState(store, PREFIX, state)
    const db = await S3db.open(store, PREFIX, { autoCompact: false })
    const dir = await mkdtemp(join(tmpdir(), 's3db-hostile-seq-'))
    try {
      store.recording = true
      const err = await db
        .update((tx) => tx.run("INSERT INTO t VALUES (9, 'x')"))
        .catch((e: unknown) => e)
      expect(isS3dbError(err, 'Corrupt'), String(err)).toBe(true)
      expect((err as Error).message).toMatch(
        /nothing was written.*pull it to a file, then init a new prefix/,
      )
      // A schema change (a snapshot commit) takes the same path.
      const ddl = await db
        .update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
        .catch((e: unknown) => e)
      expect(isS3dbError(ddl, 'Corrupt'), String(ddl)).toBe(true)
      const file = join(dir, 'copy.sqlite')
      await S3db.pull(store, PREFIX, file)
      const pushed = await S3db.push(store, PREFIX, file, { force: true }).catch((e: unknown) => e)
      expect(isS3dbError(pushed, 'Corrupt'), String(pushed)).toBe(true)
      expect(store.writes).toEqual([])
      expect(await db.view((tx) => tx.all('SELECT id FROM t ORDER BY id'))).toHaveLength(3)
    } finally {
      store.recording = false
      await db.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
