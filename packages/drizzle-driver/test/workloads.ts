/**
 * Concurrent drizzle workloads whose outcome is exactly checkable: read-then-write
 * increments of one row (lost updates would show) and bank transfers between
 * accounts (money must be conserved, no balance may go negative, and the final
 * balances must equal what the acknowledged transfers imply).
 */
import type { S3dbDatabase } from '@s3db/drizzle'
import { eq, inArray } from 'drizzle-orm'
import { expect } from 'vitest'
import { type Schema, schema } from './support.js'

const { accounts, counters } = schema

type Db = S3dbDatabase<Schema>

/**
 * `workers` concurrent workers spread over `dbs`, each doing `each` increments
 * of counter 1 by reading it and writing read + 1 in one transaction.
 * Returns the number of callback runs (>= increments; more means re-runs).
 */
export async function incrementConcurrently(
  dbs: Db[],
  workers: number,
  each: number,
): Promise<{ runs: number }> {
  await dbs[0]!.insert(counters).values({ id: 1, n: 0 }).onConflictDoNothing()
  let runs = 0
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const db = dbs[w % dbs.length]!
      for (let i = 0; i < each; i++) {
        await db.transaction(async (tx) => {
          runs++
          const row = await tx.select().from(counters).where(eq(counters.id, 1)).get()
          // Yield between the read and the write so transactions really interleave.
          await new Promise((r) => setImmediate(r))
          await tx
            .update(counters)
            .set({ n: row!.n + 1 })
            .where(eq(counters.id, 1))
        })
      }
    }),
  )
  for (const db of dbs) {
    const row = await db.select().from(counters).where(eq(counters.id, 1)).get()
    expect(row?.n).toBe(workers * each)
  }
  return { runs }
}

interface Transfer {
  from: number
  to: number
  amount: number
}

/**
 * `workers` concurrent workers over `dbs`, each making `each` pseudo-random
 * transfers between `accountCount` accounts that start with 100 each; a
 * transfer is skipped (inside the transaction) when the balance is too low.
 */
export async function transferConcurrently(
  dbs: Db[],
  workers: number,
  each: number,
  accountCount = 4,
): Promise<{ committed: number; skipped: number; runs: number }> {
  const start = 100
  await dbs[0]!.insert(accounts).values(
    Array.from({ length: accountCount }, (_, i) => ({
      id: i + 1,
      owner: `owner-${i + 1}`,
      balance: start,
    })),
  )
  const done: Transfer[] = []
  let skipped = 0
  let runs = 0
  // mulberry32: deterministic, and unlike a small LCG its low bits are not periodic.
  let seed = 42
  const random = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return (((t ^ (t >>> 14)) >>> 0) % 2 ** 31) % n
  }
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const db = dbs[w % dbs.length]!
      for (let i = 0; i < each; i++) {
        const from = random(accountCount) + 1
        const to = ((from + random(accountCount - 1)) % accountCount) + 1
        const amount = 5 + random(40)
        const result = await db.transaction(async (tx) => {
          runs++
          const rows = await tx
            .select()
            .from(accounts)
            .where(inArray(accounts.id, [from, to]))
          const source = rows.find((r) => r.id === from)!
          if (source.balance < amount) return undefined
          await new Promise((r) => setImmediate(r))
          await tx
            .update(accounts)
            .set({ balance: source.balance - amount })
            .where(eq(accounts.id, from))
          const target = rows.find((r) => r.id === to)!
          await tx
            .update(accounts)
            .set({ balance: target.balance + amount })
            .where(eq(accounts.id, to))
          return { from, to, amount }
        })
        if (result) done.push(result)
        else skipped++
      }
    }),
  )
  const expected = new Map<number, number>()
  for (let i = 1; i <= accountCount; i++) expected.set(i, start)
  for (const t of done) {
    expected.set(t.from, expected.get(t.from)! - t.amount)
    expected.set(t.to, expected.get(t.to)! + t.amount)
  }
  for (const db of dbs) {
    const rows = await db.select().from(accounts).orderBy(accounts.id)
    expect(rows.reduce((n, r) => n + r.balance, 0)).toBe(start * accountCount)
    expect(rows.every((r) => r.balance >= 0)).toBe(true)
    expect(new Map(rows.map((r) => [r.id, r.balance]))).toEqual(expected)
  }
  return { committed: done.length, skipped, runs }
}
