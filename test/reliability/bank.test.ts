/**
 * Bank transfers through the Drizzle driver and the Kysely dialect at once,
 * under 10% injected store faults with 4 writers: the total is conserved after
 * every transaction, no balance goes negative (the transactions check), and
 * every acknowledged transfer is applied exactly once.
 */
import { MemoryBlobStore, S3db } from '@s3db/core'
import { FaultInjectingBlobStore } from '@s3db/core/internal'
import { drizzle } from '@s3db/drizzle'
import { S3dbKysely } from '@s3db/kysely'
import { eq, sql } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, describe, expect, it } from 'vitest'
import { expectReplayMatches, PREFIX } from '../../packages/core/test/helpers.js'

const accounts = sqliteTable('accounts', {
  id: integer('id').primaryKey(),
  balance: integer('balance').notNull(),
})
const transfers = sqliteTable('transfers', {
  id: text('id').primaryKey(),
  amount: integer('amount').notNull(),
})
interface Database {
  accounts: { id: number; balance: number }
  transfers: { id: string; amount: number }
}

const ACCOUNTS = 6
const START = 100
const open: S3db[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close().catch(() => {})))
})

describe('bank transfers through Drizzle and Kysely under faults', () => {
  it('conserves the total after every transaction and applies each acknowledged transfer once', {
    timeout: 120_000,
  }, async () => {
    const store = new FaultInjectingBlobStore(new MemoryBlobStore(), {
      seed: 31,
      rate: 0.1,
      manifestKey: `${PREFIX}manifest.json`,
    })
    store.enabled = false
    const admin = await S3db.open(store, PREFIX, { autoCompact: false })
    open.push(admin)
    await admin.update((tx) => {
      tx.exec(
        'CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); CREATE TABLE transfers (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)',
      )
      for (let i = 0; i < ACCOUNTS; i++) tx.run('INSERT INTO accounts VALUES (?, ?)', [i, START])
    })
    store.enabled = true
    const instances = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        S3db.open(store, PREFIX, { autoCompact: 10 + i, gcGracePeriod: 0 }),
      ),
    )
    open.push(...instances)
    const outcomes = new Map<string, 'acked' | 'failed' | 'indeterminate' | 'refused'>()

    // Writers 0 and 1 use Drizzle, 2 and 3 Kysely; each makes 15 random transfers.
    const drizzleTransfer = async (
      db: S3db,
      id: string,
      from: number,
      to: number,
      amount: number,
    ) => {
      const orm = drizzle(db)
      return orm.transaction(async (tx) => {
        const [row] = await tx.select().from(accounts).where(eq(accounts.id, from))
        if (row!.balance < amount) return false
        await tx
          .update(accounts)
          .set({ balance: sql`${accounts.balance} - ${amount}` })
          .where(eq(accounts.id, from))
        await tx
          .update(accounts)
          .set({ balance: sql`${accounts.balance} + ${amount}` })
          .where(eq(accounts.id, to))
        await tx.insert(transfers).values({ id, amount })
        return true
      })
    }
    const kyselyTransfer = async (
      db: S3db,
      id: string,
      from: number,
      to: number,
      amount: number,
    ) => {
      const k = new S3dbKysely<Database>({ s3db: db })
      return k.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('accounts')
          .select('balance')
          .where('id', '=', from)
          .executeTakeFirstOrThrow()
        if (row.balance < amount) return false
        await trx
          .updateTable('accounts')
          .set((eb) => ({ balance: eb('balance', '-', amount) }))
          .where('id', '=', from)
          .execute()
        await trx
          .updateTable('accounts')
          .set((eb) => ({ balance: eb('balance', '+', amount) }))
          .where('id', '=', to)
          .execute()
        await trx.insertInto('transfers').values({ id, amount }).execute()
        return true
      })
    }
    let seed = 7
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    let stop = false
    const totals: number[] = []
    const watcher = (async () => {
      while (!stop) {
        const total = await admin
          .view((tx) => tx.get<{ t: number }>('SELECT sum(balance) AS t FROM accounts')!.t)
          .catch(() => undefined)
        if (total !== undefined) totals.push(total)
        await new Promise((r) => setTimeout(r, 3))
      }
    })()
    await Promise.all(
      instances.map(async (db, w) => {
        for (let i = 0; i < 15; i++) {
          const id = `w${w}-${i}`
          const from = Math.floor(rand() * ACCOUNTS)
          const to = (from + 1 + Math.floor(rand() * (ACCOUNTS - 1))) % ACCOUNTS
          const amount = 1 + Math.floor(rand() * 60)
          try {
            const ok = await (w < 2 ? drizzleTransfer : kyselyTransfer)(db, id, from, to, amount)
            outcomes.set(id, ok ? 'acked' : 'refused')
          } catch (err) {
            outcomes.set(
              id,
              (err as { code?: string }).code === 'CommitIndeterminate'
                ? 'indeterminate'
                : 'failed',
            )
          }
        }
      }),
    )
    stop = true
    await watcher
    store.enabled = false
    expect(totals.length).toBeGreaterThan(5)
    expect(new Set(totals)).toEqual(new Set([ACCOUNTS * START]))
    const final = await admin.view((tx) => ({
      balances: tx.all<{ balance: number }>('SELECT balance FROM accounts').map((r) => r.balance),
      applied: new Set(tx.all<{ id: string }>('SELECT id FROM transfers').map((r) => r.id)),
    }))
    expect(final.balances.every((b) => b >= 0)).toBe(true)
    expect(final.balances.reduce((a, b) => a + b, 0)).toBe(ACCOUNTS * START)
    for (const [id, outcome] of outcomes) {
      if (outcome === 'acked') expect(final.applied.has(id), `acknowledged ${id}`).toBe(true)
      if (outcome === 'failed' || outcome === 'refused')
        expect(final.applied.has(id), `unacknowledged ${id}`).toBe(false)
    }
    const acked = [...outcomes.values()].filter((o) => o === 'acked').length
    expect(acked).toBeGreaterThan(20)
    expect(store.total).toBeGreaterThan(10)
    await expectReplayMatches(store, PREFIX, [admin, ...instances])
  })
})
