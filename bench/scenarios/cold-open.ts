/**
 * Cold open of 1 MB, 10 MB and 100 MB databases: time to open with an empty
 * local cache, and to answer a first strong query, against a plain download of
 * the same snapshot object in the same run; requests; the peak RSS (memory stays
 * bounded).
 */
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { S3db } from '@s3db/core'
import { DEFAULT_TRANSFER_SETTINGS, planParts } from '@s3db/core/internal'
import Database from 'better-sqlite3'
import { type BenchOptions, median, peakRss } from '../lib/measure.ts'
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

const BANDWIDTH = 100e6

/**
 * The best a cold open can do on the latency-shaped memory store: one round trip
 * for the manifest, then the snapshot in `parts` parallel ranges; a plain
 * download is one round trip and one stream. (A first strong query adds a round
 * trip of its own.)
 */
function openLimitRatio(bytes: number, latencyMs: number): number {
  const parts = planParts(bytes, {
    minPartSize: DEFAULT_TRANSFER_SETTINGS.minRangeBytes,
    maxPartSize: DEFAULT_TRANSFER_SETTINGS.maxRangeBytes,
    concurrency: DEFAULT_TRANSFER_SETTINGS.fetchConcurrency,
  }).count
  const streamMs = (bytes / BANDWIDTH) * 1000
  return (2 * latencyMs + streamMs / Math.max(1, parts)) / (latencyMs + streamMs)
}

const round2 = (x: number) => Math.round(x * 100) / 100

export async function coldOpen(opts: BenchOptions): Promise<void> {
  const sizes = opts.quick ? [1, 10] : [1, 10, 100]
  const rows: Row[] = []
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-cold-'))
  try {
    for (const mb of sizes) {
      const seed = join(dir, `seed-${mb}.sqlite`)
      seedFile(seed, mb * 1024 * 1024)
      // The median of a few runs: one run on a shared machine is noisy.
      const runs = mb >= 100 ? 1 : 3
      for (const kind of storeKinds(opts)) {
        // Memory: 20 ms round trips and 100 MB/s per connection, like one S3 stream.
        const s = await openStore(kind, { ...opts, bytesPerSecond: BANDWIDTH })
        try {
          const prefix = `bench/cold${mb}/`
          const init = await S3db.init(s.store, prefix, { from: seed })
          const plain: number[] = []
          const open: number[] = []
          const query: number[] = []
          let gets = 0
          let peak = 0
          for (let run = 0; run < runs; run++) {
            // Baseline: a plain streamed download of the same object to a file.
            const plainStart = performance.now()
            const res = await s.store.getStream(init.snapshotKey)
            if (res.notModified) throw new Error('unexpected notModified')
            await pipeline(
              res.body as AsyncIterable<Uint8Array>,
              createWriteStream(join(dir, 'plain.bin')),
            )
            plain.push(performance.now() - plainStart)
            const before = s.counter.snapshot()
            const { peakMiB } = await peakRss(async () => {
              const t = performance.now()
              const db = await S3db.open(s.store, prefix, { autoCompact: false })
              const opened = performance.now()
              await db.view((tx) => tx.get('SELECT id FROM blobs LIMIT 1'))
              open.push(opened - t)
              query.push(performance.now() - t)
              await db.close()
            })
            gets = s.counter.snapshot().get - before.get
            peak = Math.max(peak, peakMiB)
          }
          const plainMs = median(plain)
          rows.push({
            store: s.name,
            'db MB': mb,
            'snapshot MB': Math.round((init.bytes / 1048576) * 10) / 10,
            'plain download ms': Math.round(plainMs),
            'open ms': Math.round(median(open)),
            'open ratio': round2(median(open) / plainMs),
            'open + strong query ms': Math.round(median(query)),
            'open + query ratio': round2(median(query) / plainMs),
            'open ratio limit':
              kind === 'memory' ? round2(openLimitRatio(init.bytes, opts.latencyMs)) : '-',
            GETs: gets,
            'peak RSS MiB': peak,
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
    memoryBytesPerSecondPerConnection: BANDWIDTH,
    target: 'ratio <= 1.2',
    note: 'open = manifest GET + snapshot download (parallel ranges of at least 2 MiB); the first strong query adds 1 conditional GET. open ratio limit: (2 RTT + transfer / ranges) / (RTT + transfer), the best possible on the shaped memory store. Medians of 3 runs (1 at 100 MB).',
  })
}
