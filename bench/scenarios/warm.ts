/**
 * Uncontended warm write and warm read: store requests per operation and latency
 * in multiples of the store's own round trip, measured in the same run.
 */
import { S3db } from '@s3db/core'
import { diffCounts, totalRequests } from '@s3db/core/internal'
import { type BenchOptions, perOp, summarize } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore, storeKinds } from '../lib/stores.ts'

async function timeEach(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn()
    out.push(performance.now() - t)
  }
  return out
}

export async function warm(opts: BenchOptions): Promise<void> {
  const rows: Row[] = []
  const n = opts.quick ? 20 : 100
  for (const kind of storeKinds(opts)) {
    const s = await openStore(kind, opts)
    try {
      // Baseline: one small PUT and one conditional GET on the raw store.
      const probe = new TextEncoder().encode('x'.repeat(200))
      const { etag } = await s.store.put('bench/probe', probe)
      const putRtt = summarize(await timeEach(n, () => s.store.put('bench/probe', probe))).p50
      const getRtt = summarize(
        await timeEach(n, () => s.store.get('bench/probe', { ifNoneMatch: etag })),
      ).p50
      const db = await S3db.open(s.store, 'bench/warm/', { autoCompact: false })
      await db.update((tx) =>
        tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)'),
      )
      await db.update((tx) => tx.run('INSERT INTO t VALUES (1, 0)'))
      const stale = await S3db.open(s.store, 'bench/warm/', {
        autoCompact: false,
        readConsistency: { maxStalenessMs: 3_600_000 },
      })
      await db.view((tx) => tx.get('SELECT v FROM t'))
      await stale.view((tx) => tx.get('SELECT v FROM t'))
      const cases: Array<[string, () => Promise<unknown>, number, string]> = [
        [
          'warm write',
          () => db.update((tx) => tx.run('UPDATE t SET v = v + 1 WHERE id = 1')),
          putRtt,
          '1 PUT (Go s3db: 3)',
        ],
        [
          'warm read (strong)',
          () => db.view((tx) => tx.get('SELECT v FROM t')),
          getRtt,
          '1 cond. GET (Go s3db: 1 full GET)',
        ],
        [
          'warm read (maxStalenessMs)',
          () => stale.view((tx) => tx.get('SELECT v FROM t')),
          getRtt,
          '0',
        ],
        ['no-op update', () => db.update((tx) => tx.get('SELECT v FROM t')), putRtt, '0'],
      ]
      for (const [op, fn, rtt, limit] of cases) {
        const before = s.counter.snapshot()
        const lat = summarize(await timeEach(n, fn))
        const c = diffCounts(s.counter.snapshot(), before)
        rows.push({
          store: s.name,
          op,
          'req/op': Math.round((totalRequests(c) / n) * 100) / 100,
          ...perOp(c, n),
          'p50 ms': lat.p50,
          'p99 ms': lat.p99,
          'p50 / store RTT': Math.round((lat.p50 / rtt) * 100) / 100,
          'physical limit': limit,
        })
      }
      await db.close()
      await stale.close()
    } finally {
      await s.cleanup()
    }
  }
  report('warm', rows, { latencyMs: opts.latencyMs, opsPerCase: n })
}
