/** A reader catching up after k commits by others: requests and time. */
import { S3db } from '@s3db/core'
import { diffCounts } from '@s3db/core/internal'
import type { BenchOptions } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore, storeKinds } from '../lib/stores.ts'

export async function sync(opts: BenchOptions): Promise<void> {
  const rows: Row[] = []
  for (const kind of storeKinds(opts)) {
    const s = await openStore(kind, opts)
    try {
      const writer = await S3db.open(s.store, 'bench/sync/', { autoCompact: false })
      const reader = await S3db.open(s.store, 'bench/sync/', { autoCompact: false })
      await writer.update((tx) =>
        tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)'),
      )
      await reader.view(() => 0)
      let id = 0
      for (const k of [1, 10, 100]) {
        // One commit per update: run them one after another.
        for (let i = 0; i < k; i++)
          await writer.update((tx) =>
            tx.run('INSERT INTO t VALUES (?, ?)', [id++, 'x'.repeat(100)]),
          )
        const before = s.counter.snapshot()
        const t = performance.now()
        await reader.view((tx) => tx.get('SELECT count(*) AS n FROM t'))
        const ms = performance.now() - t
        const c = diffCounts(s.counter.snapshot(), before)
        rows.push({
          store: s.name,
          'new commits': k,
          GET: c.get,
          'other requests': c.put + c.list + c.head + c.delete,
          ms: Math.round(ms * 10) / 10,
          'ms / RTT': kind === 'memory' ? Math.round((ms / opts.latencyMs) * 10) / 10 : '',
        })
      }
      await writer.close()
      await reader.close()
    } finally {
      await s.cleanup()
    }
  }
  report('sync', rows, {
    latencyMs: opts.latencyMs,
    note: 'changesets are fetched 8 at a time in parallel',
  })
}
