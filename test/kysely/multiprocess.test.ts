/**
 * Kysely through several OS processes on one database (filesystem store and
 * MinIO): concurrent bank transactions stay exact, and concurrent migrators
 * apply each migration exactly once. Children import the built dist
 * (`npm run build` first).
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type BlobStore, FileSystemBlobStore, S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { expectReplayMatches, tempDir } from '../../packages/core/test/helpers.js'
import { s3SkipReason, withS3Bucket } from '../support/s3.js'
import { ACCOUNTS, type Bank, INITIAL_BALANCE, setupBank } from './bank.js'

const execFileP = promisify(execFile)
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const PROCS = 3
const WORKERS = 3
const EACH = 8

interface Target {
  store: BlobStore
  spec: string
  env: NodeJS.ProcessEnv
  dir: string
}

async function child<T>(script: string, args: string[], target: Target, env = {}): Promise<T> {
  const { stdout } = await execFileP(process.execPath, [fixture(script), ...args], {
    env: { ...process.env, ...target.env, ...env },
    timeout: 240_000,
  })
  return JSON.parse(stdout) as T
}

async function bank(target: Target): Promise<void> {
  const prefix = 'kysely-mp/bank/'
  const setup = await S3db.open(target.store, prefix)
  try {
    const db = new S3dbKysely<Bank>({ s3db: setup })
    await setupBank(db)
    const outs = await Promise.all(
      Array.from({ length: PROCS }, (_, i) =>
        child<{ acked: number; runs: number }>(
          'kysely-bank.mjs',
          [
            target.spec,
            prefix,
            String(WORKERS),
            String(EACH),
            join(target.dir, `bank-${i}.sqlite`),
            String(i + 1),
          ],
          target,
        ),
      ),
    )
    const acked = outs.reduce((n, o) => n + o.acked, 0)
    const runs = outs.reduce((n, o) => n + o.runs, 0)
    expect(acked).toBe(PROCS * WORKERS * EACH)
    const { n } = await db
      .selectFrom('counter')
      .select('n')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    expect(n).toBe(acked)
    const balances = await db.selectFrom('account').select('balance').execute()
    expect(balances.reduce((s, r) => s + r.balance, 0)).toBe(ACCOUNTS * INITIAL_BALANCE)
    expect(balances.every((r) => r.balance >= 0)).toBe(true)
    expect(runs).toBeGreaterThan(acked)
    await expectReplayMatches(target.store, prefix, [setup])
    console.log(
      `${target.spec.split(':')[0]}: ${PROCS} processes x ${WORKERS} workers x ${EACH} transactions, ${runs - acked} re-runs`,
    )
  } finally {
    await setup.close()
  }
}

async function migrators(target: Target): Promise<void> {
  const prefix = 'kysely-mp/migrate/'
  const barrierDir = join(target.dir, 'barrier')
  const outs = await Promise.all(
    [0, 1].map((i) =>
      child<{ applied: string[]; upRuns: number }>(
        'kysely-migrate.mjs',
        [target.spec, prefix, join(target.dir, `migrate-${i}.sqlite`)],
        target,
        { MIGRATION_BARRIER_DIR: barrierDir },
      ),
    ),
  )
  const names = ['001_people', '002_items', '003_item_owner']
  // Together the two processes committed each migration once.
  expect(outs.flatMap((o) => o.applied).sort()).toEqual(names)
  // Both ran every migration on the same state (the barrier), yet only one
  // commit landed: the loser re-ran the whole check and found nothing to do.
  expect(outs.reduce((n, o) => n + o.upRuns, 0)).toBeGreaterThanOrEqual(2 * names.length)
  const s3db = await S3db.open(target.store, prefix)
  try {
    const db = new S3dbKysely<{
      migration_log: { name: string }
      kysely_migration: { name: string }
    }>({ s3db })
    const executed = await db
      .selectFrom('kysely_migration')
      .select('name')
      .orderBy('name')
      .execute()
    expect(executed.map((r) => r.name)).toEqual(names)
    const log = await db.selectFrom('migration_log').select('name').orderBy('name').execute()
    expect(log.map((r) => r.name)).toEqual(names)
    const columns = await sql<{ name: string }>`select name from pragma_table_info('item')`.execute(
      db,
    )
    expect(columns.rows.map((r) => r.name)).toEqual(['id', 'title', 'owner_id'])
    console.log(
      `${target.spec.split(':')[0]}: migrators applied ${JSON.stringify(outs.map((o) => o.applied))}, up() ran ${outs.reduce((n, o) => n + o.upRuns, 0)} times`,
    )
  } finally {
    await s3db.close()
  }
}

async function onFilesystem(fn: (t: Target) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir('kysely-mp-fs')
  try {
    const root = join(dir, 'store')
    const store = await FileSystemBlobStore.open(root)
    try {
      await fn({ store, spec: `fs:${root}`, env: {}, dir })
    } finally {
      await store.close()
    }
  } finally {
    await cleanup()
  }
}

describe('Kysely across OS processes (filesystem store)', () => {
  it(
    `${PROCS} processes x ${WORKERS} concurrent transactions: exact counter, conserved total`,
    {
      timeout: 300_000,
    },
    () => onFilesystem(bank),
  )

  it(
    'two processes migrating at once apply each migration exactly once',
    {
      timeout: 120_000,
    },
    () => onFilesystem(migrators),
  )
})

describe.skipIf(Boolean(s3SkipReason()))('Kysely across OS processes (MinIO)', () => {
  it(
    `${PROCS} processes x ${WORKERS} concurrent transactions: exact counter, conserved total`,
    {
      timeout: 300_000,
    },
    () => withS3Bucket('kysely-mp', bank),
  )

  it(
    'two processes migrating at once apply each migration exactly once',
    {
      timeout: 120_000,
    },
    () => withS3Bucket('kysely-mp', migrators),
  )
})

if (s3SkipReason()) console.log(`MinIO multi-process Kysely tests skipped: ${s3SkipReason()}`)
