/**
 * Overhead of @s3db/kysely over Kysely's own SqliteDialect: a simple select by
 * primary key, same data, same query. Kysely's SqliteDialect reads the local
 * replica file of the S3db directly (read-only), so both read the same file.
 *
 * s3db cases run each query as a view on a MemoryBlobStore:
 * - `{ maxStalenessMs: large }`: no store request, so what is measured is the
 *   dialect and the view machinery (local overhead);
 * - `'strong'`: every view also asks the store for the manifest (a conditional
 *   GET answered by the in-memory store).
 * A raw `S3db.view` row separates core's share from the dialect's.
 *
 * Run: npm run build && node bench/kysely-overhead.ts [--seconds 3] [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { MemoryBlobStore, S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { median } from './lib/measure.ts'
import { report } from './lib/report.ts'

interface Schema {
  item: { id: number; name: string; price: number }
}

const ITEMS = 1_000
const PREFIX = 'bench/kysely/'
const { values } = parseArgs({
  options: { seconds: { type: 'string' }, quick: { type: 'boolean', default: false } },
})
const seconds = Number(values.seconds ?? (values.quick ? 0.5 : 3))
const ROUNDS = 5

/** Calls `fn` repeatedly for `ms` milliseconds and returns ops/s. */
async function measure(fn: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  const end = performance.now() + ms
  let ops = 0
  const start = performance.now()
  while (performance.now() < end) {
    for (let j = 0; j < 100; j++) await fn(ops++)
  }
  return ops / ((performance.now() - start) / 1000)
}

const id = (i: number) => (i % ITEMS) + 1
const selectById = (db: Kysely<Schema>, i: number) =>
  db.selectFrom('item').select(['id', 'name', 'price']).where('id', '=', id(i)).executeTakeFirst()

const dir = mkdtempSync(join(tmpdir(), 's3db-bench-kysely-'))
const closers: Array<() => unknown> = []
try {
  const store = new MemoryBlobStore()
  const localPath = join(dir, 'replica.sqlite')
  const stale = await S3db.open(store, PREFIX, {
    localPath,
    readConsistency: { maxStalenessMs: 3_600_000 },
  })
  closers.push(() => stale.close())
  const staleDb = new S3dbKysely<Schema>({ s3db: stale })
  await staleDb.schema
    .createTable('item')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('price', 'real', (c) => c.notNull())
    .execute()
  await staleDb.transaction().execute(async (trx) => {
    for (let i = 1; i <= ITEMS; i += 100) {
      await trx
        .insertInto('item')
        .values(
          Array.from({ length: 100 }, (_, k) => ({
            id: i + k,
            name: `item ${i + k}`,
            price: (i + k) / 4,
          })),
        )
        .execute()
    }
  })

  const strong = await S3db.open(store, PREFIX, { readConsistency: 'strong' })
  closers.push(() => strong.close())
  const strongDb = new S3dbKysely<Schema>({ s3db: strong })

  // Kysely's own dialect on the same local file (the replica of `stale`).
  const file = new Database(localPath, { readonly: true })
  closers.push(() => file.close())
  const plain = new Kysely<Schema>({ dialect: new SqliteDialect({ database: file }) })

  // Same results from every path before timing anything.
  const expected = JSON.stringify(await selectById(plain, 41))
  for (const db of [staleDb, strongDb]) {
    if (JSON.stringify(await selectById(db, 41)) !== expected) {
      throw new Error('the dialects disagree on the benchmark query')
    }
  }

  const cases: { driver: string; consistency: string; run: (i: number) => Promise<unknown> }[] = [
    { driver: 'Kysely SqliteDialect', consistency: 'local file', run: (i) => selectById(plain, i) },
    {
      driver: 's3db raw view (no Kysely)',
      consistency: 'maxStalenessMs',
      run: (i) =>
        stale.view((tx) => tx.get('SELECT id, name, price FROM item WHERE id = ?', [id(i)])),
    },
    { driver: '@s3db/kysely', consistency: 'maxStalenessMs', run: (i) => selectById(staleDb, i) },
    { driver: '@s3db/kysely', consistency: 'strong', run: (i) => selectById(strongDb, i) },
  ]
  // Rounds interleave the cases, so load from elsewhere on the machine hits
  // them alike; each case reports its median round.
  for (const c of cases) for (let i = 0; i < 500; i++) await c.run(i)
  const samples = cases.map(() => [] as number[])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, c] of cases.entries()) {
      samples[k]!.push(await measure(c.run, (seconds * 1000) / ROUNDS))
    }
  }
  const baseline = median(samples[0]!)
  const rows = cases.map((c, k) => {
    const opsPerSec = median(samples[k]!)
    return {
      query: 'select by id',
      driver: c.driver,
      consistency: c.consistency,
      'ops/s': Math.round(opsPerSec),
      'us/op': 1e6 / opsPerSec,
      'slowdown vs SqliteDialect': baseline / opsPerSec,
    }
  })
  report('kysely-overhead', rows, {
    items: ITEMS,
    secondsPerCase: seconds,
    rounds: ROUNDS,
    statistic: 'median round',
    store: 'MemoryBlobStore',
    note: 'every query is awaited; s3db runs each as a view on a reader connection',
  })
} finally {
  for (const close of closers.reverse()) await close()
  rmSync(dir, { recursive: true, force: true })
}
