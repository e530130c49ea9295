/**
 * The bank workload shared by the in-process concurrency tests: each
 * transaction increments the hot counter row from the value it read and moves
 * money between two accounts (read-modify-write, so a lost update or a
 * non-serializable interleaving shows in the totals).
 */

import type { BlobStore } from '@s3db/core'
import { S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import type { Kysely } from 'kysely'
import { expect } from 'vitest'
import { expectReplayMatches } from '../../packages/core/test/helpers.js'

export interface Bank {
  account: { id: number; balance: number }
  counter: { id: number; n: number }
}

export const ACCOUNTS = 6
export const INITIAL_BALANCE = 1000

export interface Tally {
  /** Transactions that resolved (committed). */
  acked: number
  /** Callback executions, re-runs included. */
  runs: number
}

/** Creates the schema and the initial rows. */
export async function setupBank(db: Kysely<Bank>): Promise<void> {
  await db.schema
    .createTable('account')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('balance', 'integer', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('counter')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('n', 'integer', (c) => c.notNull())
    .execute()
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('counter').values({ id: 1, n: 0 }).execute()
    await trx
      .insertInto('account')
      .values(Array.from({ length: ACCOUNTS }, (_, i) => ({ id: i + 1, balance: INITIAL_BALANCE })))
      .execute()
  })
}

/** One transaction: counter += 1, and move up to `amount` from `from` to `to`. */
export async function transfer(
  db: Kysely<Bank>,
  from: number,
  to: number,
  amount: number,
  tally: Tally,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    tally.runs++
    const { n } = await trx
      .selectFrom('counter')
      .select('n')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow()
    await trx
      .updateTable('counter')
      .set({ n: n + 1 })
      .where('id', '=', 1)
      .execute()
    const src = await trx
      .selectFrom('account')
      .select('balance')
      .where('id', '=', from)
      .executeTakeFirstOrThrow()
    const moved = Math.min(src.balance, amount)
    await trx
      .updateTable('account')
      .set({ balance: src.balance - moved })
      .where('id', '=', from)
      .execute()
    const dst = await trx
      .selectFrom('account')
      .select('balance')
      .where('id', '=', to)
      .executeTakeFirstOrThrow()
    await trx
      .updateTable('account')
      .set({ balance: dst.balance + moved })
      .where('id', '=', to)
      .execute()
  })
  tally.acked++
}

/**
 * Runs `workers` concurrent transfer loops of `each` transactions on every
 * instance at once, then checks exact counts, conserved money, re-runs and
 * that a fresh replica built from the store equals every live one.
 */
export async function runBank(
  store: BlobStore,
  prefix: string,
  options: { instances: number; workers: number; each: number },
): Promise<Tally> {
  const instances = await Promise.all(
    Array.from({ length: options.instances }, () => S3db.open(store, prefix, { autoCompact: 20 })),
  )
  try {
    const dbs = instances.map((s3db) => new S3dbKysely<Bank>({ s3db }))
    await setupBank(dbs[0]!)
    const tally: Tally = { acked: 0, runs: 0 }
    let seed = 1
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed
    }
    await Promise.all(
      dbs.flatMap((db) =>
        Array.from({ length: options.workers }, async () => {
          for (let i = 0; i < options.each; i++) {
            const from = (next() % ACCOUNTS) + 1
            const to = ((from + (next() % (ACCOUNTS - 1))) % ACCOUNTS) + 1
            await transfer(db, from, to, next() % 300, tally)
          }
        }),
      ),
    )
    const total = options.instances * options.workers * options.each
    expect(tally.acked).toBe(total)
    for (const db of dbs) {
      const { n } = await db
        .selectFrom('counter')
        .select('n')
        .where('id', '=', 1)
        .executeTakeFirstOrThrow()
      expect(n).toBe(total)
      const balances = await db.selectFrom('account').select('balance').execute()
      expect(balances.reduce((s, r) => s + r.balance, 0)).toBe(ACCOUNTS * INITIAL_BALANCE)
      expect(balances.every((r) => r.balance >= 0)).toBe(true)
    }
    expect(tally.runs).toBeGreaterThan(tally.acked)
    await expectReplayMatches(store, prefix, instances)
    return tally
  } finally {
    await Promise.all(instances.map((i) => i.close()))
  }
}
