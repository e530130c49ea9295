/** Compaction of a 10 MB database with a 1000-entry log. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { S3db } from '@s3db/core'
import { diffCounts, totalRequests } from '@s3db/core/internal'
import Database from 'better-sqlite3'
import type { BenchOptions } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore, storeKinds } from '../lib/stores.ts'

export async function compaction(opts: BenchOptions): Promise<void> {
  const rows: Row[] = []
  const entries = opts.quick ? 200 : 1000
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-compact-'))
  try {
    const seed = join(dir, 'seed.sqlite')
    const sdb = new Database(seed)
    sdb.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    const insert = sdb.prepare('INSERT INTO blobs (data) VALUES (randomblob(4000))')
    sdb.transaction(() => {
      for (let i = 0; i < 2560; i++) insert.run()
    })()
    sdb.close()
    for (const kind of storeKinds(opts)) {
      const s = await openStore(kind, opts)
      try {
        await S3db.init(s.store, 'bench/compact/', { from: seed })
        // Build the log through the unshaped store, then compact through the shaped one.
        const builder = await S3db.open(s.counter, 'bench/compact/', { autoCompact: false })
        // One commit each (concurrent calls would be group-committed into a few).
        for (let i = 0; i < entries; i++) {
          await builder.update((tx) =>
            tx.run('UPDATE blobs SET data = randomblob(100) WHERE id = ?', [i + 1]),
          )
        }
        await builder.close()
        const db = await S3db.open(s.store, 'bench/compact/', { autoCompact: false })
        const log = db.stats().logLength
        const before = s.counter.snapshot()
        const t = performance.now()
        const result = await db.compact()
        const ms = performance.now() - t
        const c = diffCounts(s.counter.snapshot(), before)
        rows.push({
          store: s.name,
          'log entries': log,
          'snapshot MB': Math.round((result.snapshotBytes / 1048576) * 10) / 10,
          ms: Math.round(ms),
          requests: totalRequests(c),
          PUT: c.put,
          GET: c.get,
        })
        await db.close()
      } finally {
        await s.cleanup()
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  report('compaction', rows, { latencyMs: opts.latencyMs })
}
