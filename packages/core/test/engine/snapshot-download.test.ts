import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { ProgressEvent } from '../../src/events.js'
import { downloadSnapshot, partAt, planParts } from '../../src/snapshot-download.js'
import { CountingBlobStore } from '../../src/store/counting-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { forEachLimited } from '../../src/util/pool.js'
import { tempDir } from '../helpers.js'

let dir: string
let cleanup: () => Promise<void>
beforeEach(async () => {
  ;({ dir, cleanup } = await tempDir('download'))
})
afterEach(async () => {
  await cleanup()
})

/** A real SQLite database image of about `size` bytes (random blobs). */
function sqliteImage(size: number): Uint8Array {
  const db = new Database(':memory:')
  db.exec('CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB)')
  const insert = db.prepare('INSERT INTO b (v) VALUES (?)')
  for (let n = 0; n < size; n += 10_000) insert.run(randomBytes(10_000))
  const image = db.serialize()
  db.close()
  return image
}

describe('downloadSnapshot', () => {
  it('downloads large snapshots as parallel ranges, reporting progress', async () => {
    const inner = new MemoryBlobStore()
    const store = new CountingBlobStore(inner)
    const body = sqliteImage(1_000_000)
    await inner.put('db/snapshots/snap-a.sqlite', body)
    const progress: ProgressEvent[] = []
    const path = await downloadSnapshot(
      store,
      { key: 'db/snapshots/snap-a.sqlite', seq: 1, size: body.byteLength },
      dir,
      {
        minPartSize: 128 * 1024,
        maxPartSize: 1 << 20,
        concurrency: 4,
        onProgress: (e) => progress.push(e),
      },
    )
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(body))).toBe(true)
    expect(store.counts.get).toBe(4)
    expect(progress.at(-1)).toMatchObject({
      bytesDone: body.byteLength,
      bytesTotal: body.byteLength,
    })
  })

  it('rejects a size mismatch and a non-SQLite object as Corrupt, leaving no file', async () => {
    const store = new MemoryBlobStore()
    const short = sqliteImage(5000)
    const claimed = short.byteLength + 1000
    await store.put('db/snapshots/short.sqlite', short)
    await store.put('db/snapshots/text.sqlite', new TextEncoder().encode('hello '.repeat(100)))
    const opts = { minPartSize: 1 << 30, maxPartSize: 1 << 30, concurrency: 2 }
    for (const [key, size] of [
      ['db/snapshots/short.sqlite', claimed],
      ['db/snapshots/text.sqlite', 600],
    ] as const) {
      const err = await downloadSnapshot(store, { key, seq: 1, size }, dir, opts).catch(
        (e: unknown) => e,
      )
      expect(isS3dbError(err, 'Corrupt')).toBe(true)
    }
    const ranged = await downloadSnapshot(
      store,
      { key: 'db/snapshots/short.sqlite', seq: 1, size: claimed },
      dir,
      {
        ...opts,
        minPartSize: 1000,
        maxPartSize: 1000,
      },
    ).catch((e: unknown) => e)
    expect(isS3dbError(ranged, 'Corrupt')).toBe(true)
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(dir)).toEqual([])
  })

  it('plans one range per connection within the size bounds', () => {
    const opts = { minPartSize: 100, maxPartSize: 1000, concurrency: 4 }
    const partsOf = (size: number) => {
      const plan = planParts(size, opts)
      return Array.from({ length: plan.count }, (_, i) => partAt(plan, i))
    }
    const lengths = (size: number) => partsOf(size).map((p) => p.end - p.start)
    expect(lengths(0)).toEqual([]) // unknown size: one plain stream
    expect(lengths(199)).toEqual([199]) // too small to split
    expect(lengths(250)).toEqual([125, 125])
    expect(lengths(1000)).toEqual([250, 250, 250, 250])
    expect(lengths(10_000)).toHaveLength(10) // capped at maxPartSize
    for (const size of [1, 99, 401, 3999, 10_001]) {
      const parts = partsOf(size)
      expect(parts[0]?.start).toBe(0)
      expect(parts.at(-1)?.end).toBe(size)
      for (let i = 1; i < parts.length; i++) expect(parts[i]?.start).toBe(parts[i - 1]?.end)
      for (const p of parts) expect(p.end - p.start).toBeLessThanOrEqual(1000)
    }
  })

  it('runs parallel work at most `limit` at a time, in order of start, and stops at the first failure', async () => {
    let running = 0
    let peak = 0
    const started: number[] = []
    await forEachLimited([...Array(10).keys()], 3, async (item, i) => {
      expect(item).toBe(i)
      started.push(i)
      running++
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, 2))
      running--
    })
    expect(peak).toBe(3)
    expect(started).toEqual([...Array(10).keys()])
    const seen: number[] = []
    const err = await forEachLimited([0, 1, 2, 3, 4, 5], 1, async (i) => {
      seen.push(i)
      if (i === 2) throw new Error('boom')
    }).catch((e: unknown) => e)
    expect((err as Error).message).toBe('boom')
    expect(seen).toEqual([0, 1, 2])
  })
})
