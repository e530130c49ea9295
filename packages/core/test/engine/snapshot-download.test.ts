import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { ProgressEvent } from '../../src/events.js'
import { downloadSnapshot } from '../../src/snapshot-download.js'
import { CountingBlobStore } from '../../src/store/counting-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { tempDir } from '../helpers.js'

let dir: string
let cleanup: () => Promise<void>
beforeEach(async () => {
  ;({ dir, cleanup } = await tempDir('download'))
})
afterEach(async () => {
  await cleanup()
})

function fakeSqlite(size: number): Uint8Array {
  const bytes = randomBytes(size)
  Buffer.from('SQLite format 3\0', 'latin1').copy(bytes, 0)
  return bytes
}

describe('downloadSnapshot', () => {
  it('downloads large snapshots as parallel ranges, reporting progress', async () => {
    const inner = new MemoryBlobStore()
    const store = new CountingBlobStore(inner)
    const body = fakeSqlite(1_000_000)
    await inner.put('db/snapshots/snap-a.sqlite', body)
    const progress: ProgressEvent[] = []
    const path = await downloadSnapshot(
      store,
      { key: 'db/snapshots/snap-a.sqlite', seq: 1, size: body.byteLength },
      dir,
      {
        rangedThreshold: 100_000,
        partSize: 128 * 1024,
        concurrency: 4,
        onProgress: (e) => progress.push(e),
      },
    )
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(body))).toBe(true)
    expect(store.counts.get).toBe(Math.ceil(body.byteLength / (128 * 1024)))
    expect(progress.at(-1)).toMatchObject({
      bytesDone: body.byteLength,
      bytesTotal: body.byteLength,
    })
  })

  it('rejects a size mismatch and a non-SQLite object as Corrupt, leaving no file', async () => {
    const store = new MemoryBlobStore()
    await store.put('db/snapshots/short.sqlite', fakeSqlite(5000))
    await store.put('db/snapshots/text.sqlite', new TextEncoder().encode('hello '.repeat(100)))
    const opts = { rangedThreshold: 1 << 30, partSize: 1 << 20, concurrency: 2 }
    for (const [key, size] of [
      ['db/snapshots/short.sqlite', 6000],
      ['db/snapshots/text.sqlite', 600],
    ] as const) {
      const err = await downloadSnapshot(store, { key, seq: 1, size }, dir, opts).catch(
        (e: unknown) => e,
      )
      expect(isS3dbError(err, 'Corrupt')).toBe(true)
    }
    const ranged = await downloadSnapshot(
      store,
      { key: 'db/snapshots/short.sqlite', seq: 1, size: 6000 },
      dir,
      {
        ...opts,
        rangedThreshold: 100,
        partSize: 1000,
      },
    ).catch((e: unknown) => e)
    expect(isS3dbError(ranged, 'Corrupt')).toBe(true)
    const { readdir } = await import('node:fs/promises')
    expect(await readdir(dir)).toEqual([])
  })
})
