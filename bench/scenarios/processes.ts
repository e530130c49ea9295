/**
 * Serverless scale: N OS processes, each with one writer and one request in
 * flight, sharing one database on the filesystem store with injected latency
 * (and MinIO when available). Disjoint rows (each process its own row) and one
 * hot row. Prints tx/s, latency p50/p99/max, store requests per transaction,
 * commits per process (min-max and the smallest share of the mean), the longest
 * a process went without a commit, failures, and checks the final state
 * exactly. The engine before the change (a baseline git commit, built into
 * bench/.baseline) runs in the same run, next to the current one.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { S3db } from '@s3db/core'
import { baselineEngine, currentEngine } from '../lib/baseline.ts'
import { type BenchOptions, percentile } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { type BenchStore, openStore } from '../lib/stores.ts'

interface WorkerResult {
  proc: number
  latencies: number[]
  doneAt: number[]
  failures: string[]
  requests: number
  elapsedMs: number
  /** Manifest CASes this process won during the run. */
  cas: number
}

const worker = new URL('../workers/mp-writer.ts', import.meta.url).pathname

/** Starts the workers, waits until all are open, releases them together, collects results. */
async function runWorkers(
  engine: string,
  s: BenchStore,
  location: string,
  prefix: string,
  processes: number,
  hot: boolean,
  durationMs: number,
  latencyMs: number,
): Promise<{ results: WorkerResult[]; wallMs: number }> {
  const kind = s.root ? 'filesystem' : 's3'
  const children = Array.from({ length: processes }, (_, p) =>
    spawn(
      process.execPath,
      [
        worker,
        engine,
        kind,
        location,
        prefix,
        String(p),
        hot ? 'hot' : 'disjoint',
        String(durationMs),
        String(latencyMs),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    ),
  )
  const stderr: string[] = children.map(() => '')
  const lines = children.map((c, i) => {
    c.stderr.on('data', (d: Buffer) => {
      stderr[i] += d.toString()
    })
    const out: string[] = []
    const rl = createInterface({ input: c.stdout })
    const ready = new Promise<void>((resolve, reject) => {
      rl.on('line', (l) => {
        out.push(l)
        if (l === 'ready') resolve()
      })
      c.on('exit', (code) => {
        if (!out.includes('ready')) reject(new Error(`worker ${i} exited ${code}: ${stderr[i]}`))
      })
    })
    const exited = new Promise<number | null>((resolve) => c.on('exit', resolve))
    return { out, ready, exited }
  })
  try {
    await Promise.all(lines.map((l) => l.ready))
  } catch (err) {
    for (const c of children) c.kill()
    throw err
  }
  const start = performance.now()
  for (const c of children) c.stdin.write('go\n')
  const codes = await Promise.all(lines.map((l) => l.exited))
  const wallMs = performance.now() - start
  const results = lines.map((l, i) => {
    const json = l.out.find((x) => x.startsWith('{'))
    if (codes[i] !== 0 || !json) throw new Error(`worker ${i} exited ${codes[i]}: ${stderr[i]}`)
    return JSON.parse(json) as WorkerResult
  })
  return { results, wallMs }
}

async function measureOne(
  opts: BenchOptions,
  storeKind: 'filesystem' | 's3',
  engineName: string,
  engine: string,
  processes: number,
  hot: boolean,
  durationMs: number,
): Promise<Row> {
  const s = await openStore(storeKind, opts)
  const prefix = 'bench/procs/'
  try {
    const db = await S3db.open(s.store, prefix, { autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)'))
    await db.update((tx) => {
      for (let i = 0; i < processes; i++) tx.run('INSERT INTO t VALUES (?, 0)', [i])
    })
    const seqBefore = db.stats().seq
    const location =
      storeKind === 'filesystem' ? s.root! : JSON.stringify({ ...opts.s3, bucket: s.bucket })
    const { results, wallMs } = await runWorkers(
      engine,
      s,
      location,
      prefix,
      processes,
      hot,
      durationMs,
      opts.latencyMs,
    )
    // Exact final state: every acknowledged write is there, nothing else.
    // (a strong read: the default read consistency asks the store first).
    const rows = (await db.view((tx) => tx.all('SELECT id, v FROM t ORDER BY id'))) as {
      id: number
      v: number
    }[]
    // Successful CASes (batches): seq counts transactions, several per CAS with co-commit.
    const commits = results.reduce((n, r) => n + r.cas, 0)
    const seqMoved = db.stats().seq - seqBefore
    await db.close()
    const counts = results.map((r) => r.latencies.length)
    const total = counts.reduce((a, b) => a + b, 0)
    // Each winning CAS advances seq by one (co-commit carries several transactions in one).
    let exact = seqMoved === commits
    if (hot) exact &&= rows[0]?.v === total && rows.slice(1).every((r) => r.v === 0)
    else exact &&= results.every((r) => rows[r.proc]?.v === r.latencies.length)
    const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b)
    const requests = results.reduce((n, r) => n + r.requests, 0)
    const failures = results.reduce((n, r) => n + r.failures.length, 0)
    const mean = total / processes
    // Longest time a process went without a commit (from the start, between commits, to its end).
    const longestGap = Math.max(
      ...results.map((r) => {
        const times = [0, ...r.doneAt, r.elapsedMs]
        let gap = 0
        for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!)
        return gap
      }),
    )
    // Every process starts at once; leave the first third out for a steady rate.
    const settled = results.reduce(
      (n, r) => n + r.doneAt.filter((t) => t >= durationMs / 3 && t <= durationMs).length,
      0,
    )
    const failureKinds = [...new Set(results.flatMap((r) => r.failures.map((f) => f.slice(0, 60))))]
    if (failureKinds.length > 0) console.log(`  failures: ${failureKinds.join(' | ')}`)
    const sec = (ms: number) =>
      ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
    return {
      store:
        storeKind === 'filesystem' ? `filesystem+${opts.latencyMs}ms` : `minio+${opts.latencyMs}ms`,
      engine: engineName,
      workload: hot ? 'hot row' : 'disjoint rows',
      processes,
      'tx/s': Math.round((total / (wallMs / 1000)) * 10) / 10,
      'steady tx/s': Math.round((settled / ((2 * durationMs) / 3 / 1000)) * 10) / 10,
      p50: sec(percentile(latencies, 50)),
      p99: sec(percentile(latencies, 99)),
      max: sec(latencies.at(-1) ?? Number.NaN),
      'req/tx': Math.round((requests / Math.max(1, total)) * 10) / 10,
      'commits/proc': `${Math.min(...counts)}-${Math.max(...counts)}`,
      'min share': Math.round((Math.min(...counts) / Math.max(1, mean)) * 100) / 100,
      'longest wait': sec(longestGap),
      'tx/CAS': Math.round((total / Math.max(1, commits)) * 100) / 100,
      failures,
      exact: exact ? 'yes' : 'NO',
    }
  } finally {
    await s.cleanup()
  }
}

export async function processes(opts: BenchOptions): Promise<void> {
  const counts = opts.processes ?? (opts.quick ? [4] : [1, 4, 16, 64])
  const durationMs = opts.durationMs ?? (opts.quick ? 2000 : 15000)
  const ref = opts.baseline ?? (opts.quick ? 'none' : 'fb64384')
  const engines: Array<[string, string]> = []
  if (ref !== 'none') engines.push([`before (${ref})`, baselineEngine(ref)])
  engines.push(['after', currentEngine()])
  const stores: Array<'filesystem' | 's3'> = (
    opts.stores ?? (opts.s3 && !opts.quick ? ['filesystem', 's3'] : ['filesystem'])
  ).filter((k) => k === 'filesystem' || opts.s3)
  const workloads = opts.workloads ?? ['disjoint', 'hot']
  const rows: Row[] = []
  for (const storeKind of stores) {
    for (const workload of workloads) {
      for (const n of counts) {
        for (const [name, engine] of engines) {
          const row = await measureOne(
            opts,
            storeKind,
            name,
            engine,
            n,
            workload === 'hot',
            durationMs,
          )
          console.log(Object.values(row).join('  '))
          rows.push(row)
        }
      }
    }
  }
  report('processes', rows, {
    latencyMs: opts.latencyMs,
    durationMs,
    baseline: ref,
    note: 'one writer per OS process, default settings; min share = fewest commits of a process / mean; steady tx/s = commits in the last two thirds of the run, per second (every process starts at once)',
  })
}
