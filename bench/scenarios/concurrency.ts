/**
 * N concurrent writers in one process (group commit) on disjoint rows and on one
 * hot row, and 4 OS processes on one store: commits/s, requests per commit,
 * latency percentiles.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { S3db } from '@s3db/core'
import { diffCounts, totalRequests } from '@s3db/core/internal'
import { type BenchOptions, summarize } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore } from '../lib/stores.ts'

const execFileP = promisify(execFile)

async function inProcess(
  opts: BenchOptions,
  writers: number,
  hot: boolean,
  durationMs: number,
): Promise<Row> {
  const s = await openStore('memory', opts)
  try {
    const db = await S3db.open(s.store, 'bench/conc/', { autoCompact: 1000 })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)'))
    await db.update((tx) => {
      for (let i = 0; i < writers; i++) tx.run('INSERT INTO t VALUES (?, 0)', [i])
    })
    const latencies: number[] = []
    const before = s.counter.snapshot()
    const commitsBefore = db.stats().seq
    const deadline = performance.now() + durationMs
    const start = performance.now()
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        while (performance.now() < deadline) {
          const t = performance.now()
          await db.update((tx) => tx.run('UPDATE t SET v = v + 1 WHERE id = ?', [hot ? 0 : w]))
          latencies.push(performance.now() - t)
        }
      }),
    )
    const elapsed = (performance.now() - start) / 1000
    const c = diffCounts(s.counter.snapshot(), before)
    const commits = db.stats().seq - commitsBefore
    const lat = summarize(latencies)
    await db.close()
    return {
      store: s.name,
      workload: hot ? 'hot row' : 'disjoint rows',
      writers: `${writers} in 1 process`,
      'tx/s': Math.round(latencies.length / elapsed),
      'commits/s': Math.round(commits / elapsed),
      'tx/commit': Math.round((latencies.length / Math.max(1, commits)) * 10) / 10,
      'req/tx': Math.round((totalRequests(c) / latencies.length) * 100) / 100,
      'p50 ms': lat.p50,
      'p99 ms': lat.p99,
    }
  } finally {
    await s.cleanup()
  }
}

async function multiProcess(
  opts: BenchOptions,
  processes: number,
  perProcess: number,
  hot: boolean,
  durationMs: number,
): Promise<Row> {
  const s = await openStore('filesystem', opts)
  try {
    const db = await S3db.open(s.store, 'bench/mp/', { autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)'))
    await db.update((tx) => {
      for (let i = 0; i < processes * perProcess; i++) tx.run('INSERT INTO t VALUES (?, 0)', [i])
    })
    const seqBefore = db.stats().seq
    const script = new URL('../workers/writer.ts', import.meta.url).pathname
    const start = performance.now()
    const outs = await Promise.all(
      Array.from({ length: processes }, (_, p) =>
        execFileP(process.execPath, [
          script,
          s.root!,
          'bench/mp/',
          String(p),
          String(perProcess),
          hot ? 'hot' : 'disjoint',
          String(durationMs),
          String(opts.latencyMs),
        ]),
      ),
    )
    const elapsed = (performance.now() - start) / 1000
    const results = outs.map(
      (o) => JSON.parse(o.stdout) as { latencies: number[]; requests: number },
    )
    const latencies = results.flatMap((r) => r.latencies)
    const requests = results.reduce((n, r) => n + r.requests, 0)
    await db.view(() => 0)
    const commits = db.stats().seq - seqBefore
    await db.close()
    const lat = summarize(latencies)
    return {
      store: `filesystem+${opts.latencyMs}ms`,
      workload: hot ? 'hot row' : 'disjoint rows',
      writers: `${processes} processes x ${perProcess}`,
      'tx/s': Math.round(latencies.length / elapsed),
      'commits/s': Math.round(commits / elapsed),
      'tx/commit': Math.round((latencies.length / Math.max(1, commits)) * 10) / 10,
      'req/tx': Math.round((requests / latencies.length) * 100) / 100,
      'p50 ms': lat.p50,
      'p99 ms': lat.p99,
    }
  } finally {
    await s.cleanup()
  }
}

export async function concurrency(opts: BenchOptions): Promise<void> {
  const duration = opts.quick ? 1500 : 5000
  const rows: Row[] = []
  for (const hot of [false, true]) {
    for (const n of [1, 8, 64]) rows.push(await inProcess(opts, n, hot, duration))
    rows.push(await multiProcess(opts, 4, 1, hot, duration))
    rows.push(await multiProcess(opts, 4, 8, hot, duration))
  }
  const tps = (w: string, writers: string) =>
    Number(rows.find((r) => r.workload === w && r.writers === writers)?.['tx/s'] ?? 0)
  const scaling =
    tps('disjoint rows', '64 in 1 process') / Math.max(1, tps('disjoint rows', '1 in 1 process'))
  report('concurrency', rows, {
    latencyMs: opts.latencyMs,
    durationMs: duration,
    groupCommitScaling64vs1: Math.round(scaling * 10) / 10,
  })
  console.log(
    `group commit: 64 writers commit ${scaling.toFixed(1)}x the transactions/s of 1 writer (target >= 10x)`,
  )
}
