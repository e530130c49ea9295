/**
 * Hostile and broken objects in the bucket: each gives a clear typed error and
 * makes s3db write nothing.
 */
import { createHash } from 'node:crypto'
import { isS3dbError, MemoryBlobStore, type PutBody, type PutOptions, S3db } from '@s3db/core'
import {
  DatabaseKeys,
  encodeChangeset,
  parseManifest,
  serializeManifest,
} from '@s3db/core/internal'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'

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
