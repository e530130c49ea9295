/**
 * @s3db/drizzle across OS processes (the built dist, fixtures/worker.mjs), on
 * the filesystem store and on MinIO: drizzle-kit migrations (including the
 * table rebuild with a foreign key) deployed by two processes at once are each
 * applied once; concurrent transactions from several processes on one row and
 * on bank transfers give exact results.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type BlobStore, FileSystemBlobStore, S3db } from '@s3db/core'
import { drizzle, migrate } from '@s3db/drizzle'
import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../packages/core/test/helpers.js'
import { s3SkipReason, withS3Bucket } from '../support/s3.js'
import * as schema from './fixtures/schema.js'

const execFileP = promisify(execFile)
const worker = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url))
const migrationsFolder = fileURLToPath(new URL('./fixtures/drizzle', import.meta.url))
const TAGS = (
  JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { tag: string }[]
  }
).entries.map((e) => e.tag)
const PREFIX = 'drizzle-mp/db/'
const skip = s3SkipReason()
if (skip) console.log(`drizzle MinIO multi-process test SKIPPED: ${skip}`)

interface Target {
  store: BlobStore
  spec: string
  env: NodeJS.ProcessEnv
  dir: string
}

/** Runs `procs` workers together (they start their work at the same moment) and parses their output. */
async function runWorkers<T>(target: Target, procs: number, mode: string[]): Promise<T[]> {
  const startAt = Date.now() + 2_500 // after every process opened the database
  const outs = await Promise.all(
    Array.from({ length: procs }, (_, i) =>
      execFileP(
        process.execPath,
        [
          worker,
          target.spec,
          PREFIX,
          join(target.dir, `replica-${mode[0]}-${i}.sqlite`),
          String(startAt),
          ...mode.map((m) => m.replace('{i}', String(i))),
        ],
        { env: { ...process.env, ...target.env }, timeout: 240_000 },
      ),
    ),
  )
  return outs.map((o) => JSON.parse(o.stdout) as T)
}

async function scenario(target: Target): Promise<void> {
  const s3db = await S3db.open(target.store, PREFIX)
  const db = drizzle(s3db, { schema })
  try {
    // Version 1 of the app, with data in the table that 0001 rebuilds.
    const { dir, cleanup } = await tempDir('drizzle-v1')
    try {
      const { cpSync, writeFileSync } = await import('node:fs')
      cpSync(migrationsFolder, dir, { recursive: true })
      const journal = JSON.parse(readFileSync(join(dir, 'meta', '_journal.json'), 'utf8'))
      journal.entries = journal.entries.slice(0, 1)
      writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify(journal))
      await migrate(db, { migrationsFolder: dir })
    } finally {
      await cleanup()
    }
    await db.batch([
      db.insert(schema.users).values({ id: 1, name: 'u', email: 'u@x', createdAt: new Date(0) }),
      db.insert(schema.posts).values({ id: 1, authorId: 1, title: 'p' }),
      db.insert(schema.comments).values({ id: 1, postId: 1, authorId: 1, body: 'kept' }),
    ])

    // Two processes deploy version 2 at once.
    const migrated = await runWorkers<{ applied: string[]; conflicts: number }>(target, 2, [
      'migrate',
      migrationsFolder,
    ])
    const applied = migrated.flatMap((m) => m.applied).sort()
    expect(applied).toEqual(TAGS.slice(1).sort())
    expect(await db.all(sql`select hash from __drizzle_migrations`)).toHaveLength(TAGS.length)
    expect(await db.select({ body: schema.comments.body }).from(schema.comments)).toEqual([
      { body: 'kept' },
    ])
    expect(await db.all(sql`select "table" from pragma_foreign_key_list('posts')`)).toEqual([
      { table: 'users' },
    ])
    expect(await db.$count(schema.tags)).toBe(2)

    // 3 processes x 4 concurrent workers x 5 read-then-write increments of one row.
    await db.insert(schema.counters).values({ id: 1, n: 0 })
    const incs = await runWorkers<{ acked: number; runs: number }>(target, 3, [
      'increment',
      '4',
      '5',
    ])
    const acked = incs.reduce((n, r) => n + r.acked, 0)
    expect(acked).toBe(60)
    expect(await db.select().from(schema.counters)).toEqual([{ id: 1, n: 60 }])

    // 2 processes x 5 concurrent workers x 5 transfers between 4 accounts.
    await db
      .insert(schema.accounts)
      .values([1, 2, 3, 4].map((id) => ({ id, owner: `o${id}`, balance: 100 })))
    const transfers = await runWorkers<{
      done: { from: number; to: number; amount: number }[]
      skipped: number
      runs: number
    }>(target, 2, ['transfer', '5', '5', '4', '{i}'])
    const expected = new Map([1, 2, 3, 4].map((id) => [id, 100]))
    for (const t of transfers.flatMap((r) => r.done)) {
      expected.set(t.from, expected.get(t.from)! - t.amount)
      expected.set(t.to, expected.get(t.to)! + t.amount)
    }
    const rows = await db.select().from(schema.accounts).orderBy(schema.accounts.id)
    expect(new Map(rows.map((r) => [r.id, r.balance]))).toEqual(expected)
    expect(rows.reduce((n, r) => n + r.balance, 0)).toBe(400)
    expect(transfers.reduce((n, r) => n + r.done.length + r.skipped, 0)).toBe(50)
    console.log(
      `${target.spec.split(':')[0]}: migrations applied by [${migrated.map((m) => m.applied.length)}] ` +
        `(${migrated.reduce((n, m) => n + m.conflicts, 0)} lost races); ` +
        `60 increments in ${incs.reduce((n, r) => n + r.runs, 0)} runs; ` +
        `${transfers.reduce((n, r) => n + r.done.length, 0)} transfers in ${transfers.reduce((n, r) => n + r.runs, 0)} runs`,
    )
  } finally {
    await s3db.close()
  }
}

describe('drizzle across OS processes', () => {
  it('filesystem store: concurrent deploys migrate once; increments and transfers are exact', {
    timeout: 300_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('drizzle-mp-fs')
    try {
      const root = join(dir, 'store')
      const store = await FileSystemBlobStore.open(root)
      await scenario({ store, spec: `fs:${root}`, env: {}, dir })
      await store.close()
    } finally {
      await cleanup()
    }
  })

  it.skipIf(Boolean(skip))(
    'MinIO: concurrent deploys migrate once; increments and transfers are exact',
    { timeout: 300_000 },
    async () => {
      await withS3Bucket('drizzle-mp', scenario)
    },
  )
})
