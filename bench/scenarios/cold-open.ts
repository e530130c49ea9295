/**
 * Cold open of 1 MB, 10 MB and 100 MB databases: time to open with an empty
 * local cache and answer a first query, against a plain download of the same
 * snapshot object in the same run; and the peak RSS (memory stays bounded).
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { S3db } from '@s3db/core'
import Database from 'better-sqlite3'
import { type BenchOptions, peakRss } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore, storeKinds } from '../lib/stores.ts'

function seedFile(path: string, bytes: number): void {
  const db = new Database(path)
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO blobs (data) VALUES (randomblob(?))')
  db.transaction(() => {
    for (let done = 0; done < bytes; done += 4000) insert.run(4000)
  })()
  db.close()
}

export async function coldOpen(opts: BenchOptions): Promise<void> {
  const sizes = opts.quick ? [1, 10] : [1, 10, 100]
  const rows: Row[] = []
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-cold-'))
  try {
    for (const mb of sizes) {
      const seed = join(dir, `seed-${mb}.sqlite`)
      seedFile(seed, mb * 1024 * 1024)
      for (const kind of storeKinds(opts)) {
        // Memory: 20 ms round trips and 100 MB/s per connection, like one S3 stream.
        const s = await openStore(kind, { ...opts, bytesPerSecond: 100e6 })
        try {
          const prefix = `bench/cold${mb}/`
          const init = await S3db.init(s.store, prefix, { from: seed })
          // Baseline: a plain streamed download of the same object to a file.
          const plainStart = performance.now()
          const res = await s.store.getStream(init.snapshotKey)
          if (res.notModified) throw new Error('unexpected notModified')
          await pipeline(
            res.body as AsyncIterable<Uint8Array>,
            createWriteStream(join(dir, 'plain.bin')),
          )
          const plainMs = performance.now() - plainStart
          const { value: openMs, peakMiB } = await peakRss(async () => {
            const t = performance.now()
            const db = await S3db.open(s.store, prefix, { autoCompact: false })
            await db.view((tx) => tx.get('SELECT id FROM blobs LIMIT 1'))
            const ms = performance.now() - t
            await db.close()
            return ms
          })
          rows.push({
            store: s.name,
            'db MB': mb,
            'snapshot MB': Math.round((init.bytes / 1048576) * 10) / 10,
            'plain download ms': Math.round(plainMs),
            'cold open + query ms': Math.round(openMs),
            ratio: Math.round((openMs / plainMs) * 100) / 100,
            'peak RSS MiB': peakMiB,
          })
        } finally {
          await s.cleanup()
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  report('cold-open', rows, {
    latencyMs: opts.latencyMs,
    memoryBytesPerSecondPerConnection: 100e6,
    target: 'ratio <= 1.2',
    note: 'cold open = manifest GET + snapshot download (parallel ranges above 16 MB) + a first strong view (1 conditional GET)',
  })
}
