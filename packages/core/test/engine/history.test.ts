import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  FileSystemBlobStore,
  isS3dbError,
  MemoryBlobStore,
  S3db,
  StoreUnavailableError,
} from '@s3db/core'
import { DatabaseKeys, parseManifest, readHistory, resolvePoint } from '@s3db/core/internal'
import { describe, expect, it } from 'vitest'
import { codeOf, manifestOf, PREFIX, tempDir, wrapStore } from '../helpers.js'
import { historySuite } from './history-suite.js'

historySuite('memory store', async (fn) => fn(new MemoryBlobStore()))

historySuite('filesystem store', async (fn) => {
  const { dir, cleanup } = await tempDir('history')
  try {
    await fn(await FileSystemBlobStore.open(dir))
  } finally {
    await cleanup()
  }
})

describe('history and the Go client', () => {
  it('a Go snapshot switch ends the history: earlier seqs are HistoryUnavailable, never a wrong state', async () => {
    const store = new MemoryBlobStore()
    const prefix = PREFIX
    const keys = new DatabaseKeys(prefix)
    const { dir, cleanup } = await tempDir('go')
    const db = await S3db.open(store, prefix, { history: { retain: '30d' }, autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    for (let i = 1; i <= 3; i++) await db.update((tx) => tx.run('INSERT INTO t VALUES (?)', [i]))
    await db.compact()
    await db.update((tx) => tx.run('INSERT INTO t VALUES (4)'))
    const before = await manifestOf(store)
    expect(before.log[0]!.time).toBeGreaterThan(0)
    // What a Go writer leaves: the same state under a new snapshot at the same
    // seq, every field it does not know (times, folded history) dropped.
    const snap = keys.snapshot('GOPUSH')
    const file = await S3db.open(store, prefix, { at: { seq: before.seq } })
    const rows = await file.view((tx) => tx.all('SELECT id FROM t'))
    await file.close()
    expect(rows).toHaveLength(4)
    await S3db.pull(store, prefix, join(dir, 'go.sqlite'))
    const bytes = readFileSync(join(dir, 'go.sqlite'))
    await store.put(snap, bytes)
    const goManifest = {
      format_version: 1,
      seq: before.seq,
      schema_version: 0,
      snapshot: { key: snap, seq: before.seq, size: bytes.byteLength },
      log: [],
    }
    const m = await store.get(keys.manifest)
    if (m.notModified) throw new Error('unexpected')
    await store.put(keys.manifest, new TextEncoder().encode(JSON.stringify(goManifest)), {
      ifMatch: m.etag,
    })
    // The state at the current seq still reads; anything before it is unavailable.
    const now = await S3db.open(store, prefix, { at: { seq: before.seq } })
    expect(await now.view((tx) => tx.all('SELECT id FROM t'))).toEqual(rows)
    await now.close()
    expect(await codeOf(S3db.open(store, prefix, { at: { seq: 2 } }))).toBe('HistoryUnavailable')
    const log = await S3db.log(store, prefix)
    expect(log.oldestSeq).toBe(before.seq)
    // The next TypeScript commit records its time again, and history grows from there.
    await db.update((tx) => tx.run('INSERT INTO t VALUES (5)'))
    const after = await manifestOf(store)
    expect(after.log.at(-1)!.time).toBeGreaterThan(0)
    const next = await S3db.open(store, prefix, { at: { seq: after.seq } })
    expect(await next.view((tx) => tx.all('SELECT id FROM t'))).toHaveLength(5)
    await next.close()
    await db.close()
    await cleanup()
  })

  it('a manifest whose times are missing or malformed still parses; lookups use the next known time', async () => {
    const keys = new DatabaseKeys('x/')
    const m = parseManifest(
      new TextEncoder().encode(
        JSON.stringify({
          seq: 2,
          snapshot: { key: 'x/snapshots/snap-a.sqlite', seq: 0, time: 'soon' },
          log: [
            { key: 'x/changesets/snap-a/cs-1.bin', seq: 1, time: -5 },
            { key: 'x/changesets/snap-a/cs-2.bin', seq: 2, time: 1000 },
          ],
        }),
      ),
      keys.manifest,
      keys.prefix,
    )
    expect(m.snapshot.time).toBeUndefined()
    expect(m.log.map((e) => e.time)).toEqual([undefined, 1000])
    const h = await readHistory(new MemoryBlobStore(), keys, undefined, {
      manifest: m,
      etag: 'e',
    })
    // Unknown times take the next known one: before it nothing can be said.
    expect(h.commits.map((c) => c.effectiveTime)).toEqual([1000, 1000, 1000])
    expect(resolvePoint(h, { time: 1000 })).toBe(2)
    expect(() => resolvePoint(h, { time: 999 })).toThrow(/before the oldest retained state/)
  })
})

describe('fold records and exact outcomes', () => {
  it('a fold record that cannot be written stops the snapshot switch before its CAS, exactly, and leaves nothing behind', async () => {
    const inner = new MemoryBlobStore()
    let failRecords = false
    const store = wrapStore(inner, {
      put: (k, b, o) =>
        failRecords && k.includes('/history/folds/')
          ? // An answer lost in transit: the record may or may not be there.
            inner.put(k, b, o).then(() => {
              throw new StoreUnavailableError('injected: connection reset', { maybeApplied: true })
            })
          : inner.put(k, b, o),
    })
    const db = await S3db.open(store, PREFIX, { autoCompact: false, maxRetries: 0 })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await db.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    const listing = async () => {
      const out: string[] = []
      for await (const e of inner.list(PREFIX)) out.push(`${e.key} ${e.etag}`)
      return out.sort()
    }
    const before = await listing()
    failRecords = true
    // A DDL commit (a snapshot switch): refused, not indeterminate, nothing left.
    const ddl = await db
      .update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
      .catch((e: unknown) => e)
    expect(isS3dbError(ddl, 'StoreUnavailable')).toBe(true)
    expect((ddl as StoreUnavailableError).maybeApplied).toBe(false)
    expect(await listing()).toEqual(before)
    // A compaction: the same, except that compaction leaves its snapshot upload
    // for gc (as it does after any failed publish); no fold record is left.
    expect(await codeOf(db.compact())).toBe('StoreUnavailable')
    const afterCompact = await listing()
    expect(afterCompact.filter((k) => !k.includes('/snapshots/'))).toEqual(
      before.filter((k) => !k.includes('/snapshots/')),
    )
    expect(afterCompact.filter((k) => k.includes('/snapshots/'))).toHaveLength(
      before.filter((k) => k.includes('/snapshots/')).length + 1,
    )
    failRecords = false
    await db.update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
    expect((await manifestOf(inner)).seq).toBe(3)
    await db.close()
  })
})
