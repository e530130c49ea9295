/**
 * What checked integer reads cost: reading 100k rows (3 INTEGER, 1 REAL, 1 TEXT
 * column, all integers within the safe range) through `tx.all`, `tx.iterate`
 * and `values()`, and 100k point queries with `tx.get`, in the default mode (numbers, checked so that no integer
 * beyond 2^53 is returned rounded) and with `safeIntegers` (bigint), next to
 * better-sqlite3 on the same replica file with no check at all (what a read
 * cost before the check existed). Each view runs with a large
 * `maxStalenessMs`, so no store request is timed.
 *
 * Run: npm run build && node --expose-gc bench/safe-integers.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MemoryBlobStore, S3db } from '@s3db/core'
import Database from 'better-sqlite3'
import { median } from './lib/measure.ts'
import { report } from './lib/report.ts'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const ROWS = 100_000
const ROUNDS = values.quick ? 3 : 25
const SQL = 'SELECT id, a, b, c, d FROM t'
const BY_ID = 'SELECT a FROM t WHERE id = ?'

const dir = mkdtempSync(join(tmpdir(), 's3db-bench-safe-integers-'))
const closers: Array<() => unknown> = []
try {
  const localPath = join(dir, 'replica.sqlite')
  const db = await S3db.open(new MemoryBlobStore(), 'bench/ints/', {
    localPath,
    readConsistency: { maxStalenessMs: 3_600_000 },
  })
  closers.push(() => db.close())
  await db.update((tx) => {
    tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b REAL, c TEXT, d INTEGER)')
    const insert = tx.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?)')
    for (let i = 1; i <= ROWS; i++) insert.run([i, i * 7919, i / 3, `row ${i}`, i % 2])
  })
  const file = new Database(localPath, { readonly: true })
  closers.push(() => file.close())
  const direct = file.prepare(SQL)
  const byId = file.prepare(BY_ID)

  const cases: { read: string; mode: string; run: () => Promise<unknown> | unknown }[] = [
    { read: 'all', mode: 'better-sqlite3, unchecked', run: () => direct.all() },
    { read: 'all', mode: 'default (checked numbers)', run: () => db.view((tx) => tx.all(SQL)) },
    {
      read: 'all',
      mode: 'safeIntegers (bigint)',
      run: () => db.view((tx) => tx.prepare(SQL).safeIntegers().all()),
    },
    { read: 'values', mode: 'better-sqlite3, unchecked', run: () => direct.raw(true).all() },
    {
      read: 'values',
      mode: 'default (checked numbers)',
      run: () => db.view((tx) => tx.prepare(SQL).values()),
    },
    {
      read: 'iterate',
      mode: 'better-sqlite3, unchecked',
      run: () => {
        let n = 0
        for (const _ of direct.raw(false).iterate()) n++
        return n
      },
    },
    {
      read: 'iterate',
      mode: 'default (checked numbers)',
      run: () =>
        db.view((tx) => {
          let n = 0
          for (const _ of tx.iterate(SQL)) n++
          return n
        }),
    },
    {
      read: 'get x100k',
      mode: 'better-sqlite3, unchecked',
      run: () => {
        // In one read transaction, as a view runs them.
        file.exec('BEGIN')
        let sum = 0
        for (let i = 1; i <= ROWS; i++) sum += (byId.get(i) as { a: number }).a
        file.exec('COMMIT')
        return sum
      },
    },
    {
      read: 'get x100k',
      mode: 'default (checked numbers)',
      run: () =>
        db.view((tx) => {
          let sum = 0
          for (let i = 1; i <= ROWS; i++) sum += tx.get<{ a: number }>(BY_ID, [i])!.a
          return sum
        }),
    },
  ]
  // Same rows from every path before timing anything.
  const expected = JSON.stringify(direct.raw(false).all())
  if (JSON.stringify(await db.view((tx) => tx.all(SQL))) !== expected) {
    throw new Error('checked read returned other rows than better-sqlite3')
  }
  direct.raw(false)

  // Rounds interleave the cases, so load from elsewhere hits them alike.
  const samples = cases.map(() => [] as number[])
  for (const c of cases) await c.run()
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, c] of cases.entries()) {
      // Garbage of the previous case is not this one's cost (with --expose-gc).
      globalThis.gc?.()
      // CPU time of this process: on a shared machine, others' load shows in
      // wall time far more than in it.
      const start = process.cpuUsage()
      await c.run()
      const used = process.cpuUsage(start)
      samples[k]!.push((used.user + used.system) / 1000)
      direct.raw(false)
    }
  }
  const baselines = new Map<string, number>()
  const rows = cases.map((c, k) => {
    const ms = median(samples[k]!)
    const best = Math.min(...samples[k]!)
    if (!baselines.has(c.read)) baselines.set(c.read, ms)
    return {
      read: c.read,
      mode: c.mode,
      'CPU ms per 100k': ms,
      'vs unchecked': ms / baselines.get(c.read)!,
      'best CPU ms': best,
    }
  })
  report('safe-integers', rows, {
    rows: ROWS,
    columns: '3 INTEGER, 1 REAL, 1 TEXT',
    rounds: ROUNDS,
    statistic: 'median round of process CPU time (user + system)',
  })
} finally {
  for (const close of closers.reverse()) await close()
  rmSync(dir, { recursive: true, force: true })
}
