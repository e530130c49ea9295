/**
 * Integers beyond 2^53 through Kysely: never rounded. By default a read raises
 * UnsafeIntegerError naming the column; SafeIntegersPlugin (per query or per
 * instance) or the S3db's `safeIntegers` option reads them as bigint, and a
 * read-modify-write stays exact.
 */
import { type S3db, UnsafeIntegerError } from '@s3db/core'
import { S3dbKysely, SafeIntegersPlugin } from '@s3db/kysely'
import { type Kysely, sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { openMemory } from './fixtures.js'

interface DB {
  ledger: { id: number; balance: bigint; note: string }
}

const BIG = 9_007_199_254_740_993n // 2^53 + 1: as a number it would read as ...992

const opened: S3db[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()))
})

async function ledger(options: { safeIntegers?: boolean } = {}) {
  const { s3db } = await openMemory(options)
  opened.push(s3db)
  const db = new S3dbKysely<DB>({ s3db })
  await db.schema
    .createTable('ledger')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('balance', 'integer', (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .execute()
  // Bigint parameters are bound exactly (no plugin needed to write).
  await db
    .insertInto('ledger')
    .values([
      { id: 1, balance: 7n, note: 'small' },
      { id: 2, balance: BIG, note: 'big' },
    ])
    .execute()
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

function expectUnsafe(err: unknown): void {
  expect(err).toBeInstanceOf(UnsafeIntegerError)
  expect(err).toMatchObject({ code: 'UnsafeInteger', column: 'balance', table: 'ledger' })
  expect((err as Error).message).toMatch(/"balance".*SafeIntegersPlugin/)
}

describe('Kysely reads of integers beyond 2^53', () => {
  it('raise UnsafeIntegerError naming the column by default: outside and inside transactions, streamed', async () => {
    const { db } = await ledger()
    const select = (k: Kysely<DB>) => k.selectFrom('ledger').select('balance').where('id', '=', 2)
    expectUnsafe(await rejection(select(db).executeTakeFirst()))
    expectUnsafe(await rejection(db.transaction().execute((trx) => select(trx).executeTakeFirst())))
    const stream = async () => {
      for await (const _ of select(db).stream()) {
        // reading is what fails
      }
    }
    expectUnsafe(await rejection(stream()))
    // A write that returns it is refused (and rolled back), not run twice.
    expectUnsafe(
      await rejection(
        db
          .updateTable('ledger')
          .set({ note: 'x' })
          .where('id', '=', 2)
          .returning('balance')
          .execute(),
      ),
    )
    expect(
      await db.selectFrom('ledger').select('note').where('id', '=', 2).executeTakeFirst(),
    ).toEqual({ note: 'big' })
    // Safe values still read as numbers.
    expect(
      await db.selectFrom('ledger').select(['id', 'balance']).where('id', '=', 1).execute(),
    ).toEqual([{ id: 1, balance: 7 }])
  })

  it('read exactly per query with SafeIntegersPlugin, and a read-modify-write stays exact', async () => {
    const { db } = await ledger()
    const exact = new SafeIntegersPlugin()
    expect(
      await db
        .selectFrom('ledger')
        .select(['id', 'balance'])
        .orderBy('id')
        .withPlugin(exact)
        .execute(),
    ).toEqual([
      { id: 1n, balance: 7n },
      { id: 2n, balance: BIG },
    ])
    // Only that query: the next one without the plugin still refuses to round.
    expectUnsafe(
      await rejection(db.selectFrom('ledger').select('balance').where('id', '=', 2).execute()),
    )
    // Read-modify-write in a transaction (which may re-run) and outside one.
    await db.transaction().execute(async (trx) => {
      const { balance } = await trx
        .selectFrom('ledger')
        .select('balance')
        .where('id', '=', 2)
        .withPlugin(exact)
        .executeTakeFirstOrThrow()
      await trx
        .updateTable('ledger')
        .set({ balance: balance + 1n })
        .where('id', '=', 2)
        .execute()
    })
    await db
      .updateTable('ledger')
      .set((eb) => ({ balance: eb('balance', '+', 1n) }))
      .where('id', '=', 2)
      .execute()
    const streamed: unknown[] = []
    for await (const row of db
      .selectFrom('ledger')
      .select('balance')
      .where('id', '=', 2)
      .withPlugin(exact)
      .stream()) {
      streamed.push(row)
    }
    expect(streamed).toEqual([{ balance: BIG + 2n }])
    // Raw SQL takes the plugin too.
    const raw = await sql<{ b: bigint }>`SELECT balance AS b FROM ledger WHERE id = 2`
      .withPlugin(exact)
      .execute(db)
    expect(raw.rows).toEqual([{ b: BIG + 2n }])
  })

  it('read exactly per instance with db.withPlugin; a query can opt back into numbers', async () => {
    const { db } = await ledger()
    const exact = db.withPlugin(new SafeIntegersPlugin())
    expect(
      await exact.selectFrom('ledger').select('balance').where('id', '=', 2).execute(),
    ).toEqual([{ balance: BIG }])
    const inTx = await exact
      .transaction()
      .execute((trx) => trx.selectFrom('ledger').select(['id', 'balance']).orderBy('id').execute())
    expect(inTx).toEqual([
      { id: 1n, balance: 7n },
      { id: 2n, balance: BIG },
    ])
    const numbers = new SafeIntegersPlugin({ enabled: false })
    expect(
      await exact
        .selectFrom('ledger')
        .select('balance')
        .where('id', '=', 1)
        .withPlugin(numbers)
        .execute(),
    ).toEqual([{ balance: 7 }])
    expectUnsafe(
      await rejection(
        exact
          .selectFrom('ledger')
          .select('balance')
          .where('id', '=', 2)
          .withPlugin(numbers)
          .execute(),
      ),
    )
  })

  it('read exactly with the S3db safeIntegers option, and insert ids beyond 2^53 exactly', async () => {
    const { db } = await ledger({ safeIntegers: true })
    expect(
      await db.selectFrom('ledger').select(['id', 'balance']).where('id', '=', 2).execute(),
    ).toEqual([{ id: 2n, balance: BIG }])
    const total = await db
      .selectFrom('ledger')
      .select((eb) => eb.fn.sum<bigint>('balance').as('total'))
      .executeTakeFirstOrThrow()
    expect(total).toEqual({ total: BIG + 7n })
    const inserted = await db
      .insertInto('ledger')
      .values({ id: sql<number>`${BIG + 1n}`, balance: 0n, note: 'rowid' })
      .executeTakeFirstOrThrow()
    expect(inserted.insertId).toBe(BIG + 1n)
  })
})
