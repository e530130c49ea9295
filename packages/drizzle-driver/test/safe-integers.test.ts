/**
 * Integers beyond 2^53 through Drizzle: never rounded. Bigint-mode columns
 * (`numeric({ mode: 'bigint' })`, `bigintInteger()`, `numeric()` strings) read
 * exactly and a read-modify-write stays exact; a number column holding such a
 * value raises UnsafeIntegerError naming the column.
 */
import { MemoryBlobStore, S3db, type S3dbOptions, UnsafeIntegerError } from '@s3db/core'
import { bigintInteger, drizzle } from '@s3db/drizzle'
import { eq, relations, sql } from 'drizzle-orm'
import { blob, integer, numeric, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, describe, expect, it } from 'vitest'

const BIG = 9_007_199_254_740_993n // 2^53 + 1: as a number it would read as ...992

const ledger = sqliteTable('ledger', {
  id: integer('id').primaryKey(),
  count: integer('count').notNull(),
  balance: numeric('balance', { mode: 'bigint' }).notNull(),
  flake: bigintInteger('flake'),
  amount: numeric('amount'),
  packed: blob('packed', { mode: 'bigint' }),
  memo: text('memo'),
})
const entries = sqliteTable('entries', {
  id: bigintInteger('id').primaryKey(),
  ledgerId: integer('ledger_id').notNull(),
  value: numeric('value', { mode: 'bigint' }).notNull(),
})
const ledgerRelations = relations(ledger, ({ many }) => ({ entries: many(entries) }))
const entriesRelations = relations(entries, ({ one }) => ({
  ledger: one(ledger, { fields: [entries.ledgerId], references: [ledger.id] }),
}))
const schema = { ledger, entries, ledgerRelations, entriesRelations }

const opened: S3db[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()))
})

async function open(options: S3dbOptions = {}) {
  const s3db = await S3db.open(new MemoryBlobStore(), 'drizzle/ints/', options)
  opened.push(s3db)
  await s3db.update((tx) =>
    tx.exec(`
      CREATE TABLE ledger (id INTEGER PRIMARY KEY, count INTEGER NOT NULL, balance NUMERIC NOT NULL,
                           flake INTEGER, amount NUMERIC, packed BLOB, memo TEXT);
      CREATE TABLE entries (id INTEGER PRIMARY KEY, ledger_id INTEGER NOT NULL, value NUMERIC NOT NULL);
    `),
  )
  const db = drizzle(s3db, { schema })
  // Bigint values are bound exactly.
  await db.insert(ledger).values([
    { id: 1, count: 7, balance: 5n, flake: 6n, amount: '1.5', packed: 8n },
    { id: 2, count: 8, balance: BIG, flake: BIG + 1n, amount: `${BIG}`, packed: BIG },
  ])
  await db.insert(entries).values({ id: BIG, ledgerId: 2, value: -BIG })
  return { s3db, db }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (err: unknown) => err,
  )
}

function expectUnsafe(err: unknown, column: string, table: string | undefined): void {
  expect(err).toBeInstanceOf(UnsafeIntegerError)
  expect(err).toMatchObject({ code: 'UnsafeInteger', column, table })
}

describe('Drizzle reads of integers beyond 2^53', () => {
  it('read bigint-mode columns exactly: select, where, returning and relational queries', async () => {
    const { db } = await open()
    expect(await db.select().from(ledger).where(eq(ledger.id, 2))).toEqual([
      { id: 2, count: 8, balance: BIG, flake: BIG + 1n, amount: `${BIG}`, packed: BIG, memo: null },
    ])
    expect(await db.select({ id: ledger.id }).from(ledger).where(eq(ledger.balance, BIG))).toEqual([
      { id: 2 },
    ])
    expect(await db.select().from(entries)).toEqual([{ id: BIG, ledgerId: 2, value: -BIG }])
    const returned = await db
      .update(ledger)
      .set({ count: 9 })
      .where(eq(ledger.flake, BIG + 1n))
      .returning({ balance: ledger.balance, count: ledger.count })
    expect(returned).toEqual([{ balance: BIG, count: 9 }])
    // A sql expression decoded as a bigint column is exact too.
    const [doubled] = await db
      .select({ twice: sql`${ledger.balance} * 2`.mapWith(ledger.balance) })
      .from(ledger)
      .where(eq(ledger.id, 2))
    expect(doubled).toEqual({ twice: BIG * 2n })
    // Relational queries: top-level columns are read as the schema decodes them.
    expect(await db.query.ledger.findFirst({ where: eq(ledger.id, 2) })).toEqual({
      id: 2,
      count: 9,
      balance: BIG,
      flake: BIG + 1n,
      amount: `${BIG}`,
      packed: BIG,
      memo: null,
    })
    expect(await db.query.entries.findMany()).toEqual([{ id: BIG, ledgerId: 2, value: -BIG }])
  })

  it('refuse a relation loaded with `with` that holds one (drizzle decodes it with JSON.parse)', async () => {
    const { db } = await open()
    await db.insert(entries).values({ id: 3n, ledgerId: 1, value: 4n })
    // Safe values in a relation read as before.
    expect(
      await db.query.ledger.findFirst({
        columns: { id: true },
        where: eq(ledger.id, 1),
        with: { entries: true },
      }),
    ).toEqual({ id: 1, entries: [{ id: 3n, ledgerId: 1, value: 4n }] })
    const err = await rejection(
      db.query.ledger.findFirst({ where: eq(ledger.id, 2), with: { entries: true } }),
    )
    expectUnsafe(err, 'entries', undefined)
    expect((err as Error).message).toMatch(/JSON\.parse.*select builder/)
    expectUnsafe(
      await rejection(
        // (Not all of ledger: SQLite's JSON cannot hold its BLOB column.)
        db.query.entries.findMany({ with: { ledger: { columns: { id: true, flake: true } } } }),
      ),
      'ledger',
      undefined,
    )
    // Text that merely looks like such JSON is no relation: returned as it is.
    await db
      .update(ledger)
      .set({ memo: `[${BIG}]` })
      .where(eq(ledger.id, 1))
    expect(
      await db.query.ledger.findFirst({ columns: { memo: true }, where: eq(ledger.id, 1) }),
    ).toEqual({
      memo: `[${BIG}]`,
    })
  })

  it('keep a read-modify-write exact, in a transaction and in a single statement', async () => {
    const { db } = await open()
    await db.transaction(async (tx) => {
      const [row] = await tx
        .select({ balance: ledger.balance, flake: ledger.flake })
        .from(ledger)
        .where(eq(ledger.id, 2))
      await tx
        .update(ledger)
        .set({ balance: row!.balance + 1n, flake: row!.flake! * 2n })
        .where(eq(ledger.id, 2))
    })
    await db
      .update(ledger)
      .set({ balance: sql`${ledger.balance} + 1` })
      .where(eq(ledger.id, 2))
    const [after] = await db
      .select({ balance: ledger.balance, flake: ledger.flake })
      .from(ledger)
      .where(eq(ledger.id, 2))
    expect(after).toEqual({ balance: BIG + 2n, flake: (BIG + 1n) * 2n })
    const batch = await db.batch([
      db.update(ledger).set({ count: 1 }).where(eq(ledger.id, 2)).returning({ b: ledger.balance }),
      db.select({ b: ledger.balance }).from(ledger).where(eq(ledger.id, 2)),
    ])
    expect(batch).toEqual([[{ b: BIG + 2n }], [{ b: BIG + 2n }]])
  })

  it('raise UnsafeIntegerError naming the column when a number column holds one', async () => {
    const { s3db, db } = await open()
    await s3db.update((tx) => tx.run('UPDATE ledger SET count = ? WHERE id = 2', [BIG]))
    const byId = eq(ledger.id, 2)
    expectUnsafe(await rejection(db.select().from(ledger).where(byId)), 'count', 'ledger')
    expectUnsafe(
      await rejection(db.select({ count: ledger.count }).from(ledger).where(byId).get()),
      'count',
      'ledger',
    )
    expectUnsafe(
      await rejection(
        db.transaction((tx) => tx.select({ n: ledger.count }).from(ledger).where(byId)),
      ),
      'count',
      'ledger',
    )
    expectUnsafe(
      await rejection(
        db.update(ledger).set({ amount: '0' }).where(byId).returning({ count: ledger.count }),
      ),
      'count',
      'ledger',
    )
    // The refused update was not committed.
    expect(await db.select({ amount: ledger.amount }).from(ledger).where(byId)).toEqual([
      { amount: `${BIG}` },
    ])
    expectUnsafe(await rejection(db.query.ledger.findFirst({ where: byId })), 'count', 'ledger')
    expectUnsafe(
      await rejection(
        db
          .select({ n: sql<number>`${ledger.count} - 1` })
          .from(ledger)
          .where(byId),
      ),
      // An expression is named by its SQL text and has no table.
      `"count" - 1`,
      undefined,
    )
    // Raw SQL without a decoder follows the database (numbers, checked).
    expectUnsafe(
      await rejection(db.all(sql`SELECT count FROM ledger WHERE id = 2`)),
      'count',
      'ledger',
    )
  })

  it('follow the column types even when the database reads bigints; raw SQL follows the database', async () => {
    const { db } = await open({ safeIntegers: true })
    expect(
      await db
        .select({ id: ledger.id, count: ledger.count, balance: ledger.balance })
        .from(ledger)
        .orderBy(ledger.id),
    ).toEqual([
      { id: 1, count: 7, balance: 5n },
      { id: 2, count: 8, balance: BIG },
    ])
    expect(await db.all(sql`SELECT id, count, balance FROM ledger ORDER BY id`)).toEqual([
      { id: 1n, count: 7n, balance: 5n },
      { id: 2n, count: 8n, balance: BIG },
    ])
  })
})
