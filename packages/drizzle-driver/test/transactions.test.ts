/**
 * Transactions, batches and statements outside transactions: what maps to
 * which s3db operation, re-runs on conflict, rollback without re-run, misuse
 * errors, and exact results under concurrency from several instances.
 */
import {
  type CommitEvent,
  MemoryBlobStore,
  ReentrantTransactionError,
  type S3dbEvent,
  TransactionEndedError,
} from '@s3db/core'
import { drizzle, migrate, type S3dbTransaction } from '@s3db/drizzle'
import { type ExtractTablesWithRelations, eq, sql, TransactionRollbackError } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  migrationsFolder,
  type Opened,
  openDrizzle,
  openMigrated,
  type Schema,
  schema,
} from './support.js'
import { incrementConcurrently, transferConcurrently } from './workloads.js'

const { accounts, counters, tags } = schema

const opened: Opened[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()))
})

/** `count` instances of one fresh, migrated database on a shared memory store. */
async function instances(count: number, onEvent?: (e: S3dbEvent) => void): Promise<Opened[]> {
  const store = new MemoryBlobStore()
  const first = await openDrizzle(store, { onEvent })
  opened.push(first)
  await migrate(first.db, { migrationsFolder })
  for (let i = 1; i < count; i++) opened.push(await openDrizzle(store))
  return opened.slice(-count)
}

describe('db.transaction', () => {
  it('re-runs the callback on the newer state when another instance committed first', async () => {
    const [a, b] = await instances(2)
    await a!.db.insert(counters).values({ id: 1, n: 0 })
    await b!.db.select().from(counters) // b's replica now has the row
    let runs = 0
    const seen: number[] = []
    await b!.db.transaction(async (tx) => {
      runs++
      const row = await tx.select().from(counters).where(eq(counters.id, 1)).get()
      seen.push(row!.n)
      // A concurrent writer commits while this callback is running (first run only).
      if (runs === 1) await a!.db.update(counters).set({ n: 10 }).where(eq(counters.id, 1))
      await tx
        .update(counters)
        .set({ n: row!.n + 1 })
        .where(eq(counters.id, 1))
    })
    expect(runs).toBe(2)
    expect(seen).toEqual([0, 10])
    expect(await a!.db.select().from(counters)).toEqual([{ id: 1, n: 11 }])
  })

  it('awaits an async callback: writes after awaits are part of the commit', async () => {
    const { db, s3db, close } = await openMigrated()
    opened.push({ db, s3db, close })
    const seq = s3db.stats().seq
    await db.transaction(async (tx) => {
      await tx.insert(counters).values({ id: 1, n: 1 })
      await new Promise((r) => setTimeout(r, 20))
      await tx.insert(counters).values({ id: 2, n: 2 })
      await new Promise((r) => setImmediate(r))
      await tx.update(counters).set({ n: 3 }).where(eq(counters.id, 2))
    })
    expect(s3db.stats().seq).toBe(seq + 1)
    expect(await db.select().from(counters).orderBy(counters.id)).toEqual([
      { id: 1, n: 1 },
      { id: 2, n: 3 },
    ])
  })

  it('returns the value of the committed run', async () => {
    const [db] = (await instances(1)).map((o) => o.db)
    const value = await db!.transaction(async (tx) => {
      const [row] = await tx.insert(tags).values({ id: 7, name: 'seven' }).returning()
      return row
    })
    expect(value).toEqual({ id: 7, name: 'seven' })
  })

  it('tx.rollback(): rejects with TransactionRollbackError and publishes nothing; decided on a stale replica, it is re-decided on the current state', async () => {
    const [a, b] = await instances(2)
    await b!.db.insert(counters).values({ id: 1, n: 0 })
    await a!.db.update(counters).set({ n: 5 }) // b is now behind without knowing it
    const seq = a!.s3db.stats().seq
    // b's first run reads n = 0 (stale) and rolls back; the store holds 5, so the
    // decision is taken again on the current state (strict serializability).
    const seen: number[] = []
    const err = await b!.db
      .transaction(async (tx) => {
        const [row] = await tx.select().from(counters)
        seen.push(row!.n)
        await tx.update(counters).set({ n: 99 })
        if (row!.n < 10) tx.rollback()
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransactionRollbackError)
    expect(seen).toEqual([0, 5])
    expect(await a!.db.select().from(counters)).toEqual([{ id: 1, n: 5 }])
    expect(b!.s3db.stats().seq).toBe(seq)

    // On a current replica a rollback is final after one conditional GET: one run.
    let runs = 0
    await expect(
      b!.db.transaction(async (tx) => {
        runs++
        tx.rollback()
      }),
    ).rejects.toBeInstanceOf(TransactionRollbackError)
    expect(runs).toBe(1)

    // The same for an ordinary error decided on a stale replica.
    await a!.db.update(counters).set({ n: 6 })
    let errorRuns = 0
    await expect(
      b!.db.transaction(async () => {
        errorRuns++
        throw new Error('nope')
      }),
    ).rejects.toThrow('nope')
    expect(errorRuns).toBe(2)
  })

  it('a rollback in one of several concurrent transactions (group-committed together) undoes only it', async () => {
    const commits: CommitEvent[] = []
    const [o] = await instances(1, (e) => {
      if (e.type === 'commit') commits.push(e)
    })
    const db = o!.db
    const before = commits.length
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((id) =>
        db.transaction(async (tx) => {
          await tx.insert(counters).values({ id, n: id })
          if (id === 2) tx.rollback()
          if (id === 3) throw new Error('three fails')
          return id
        }),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TransactionRollbackError)
    expect(await db.select().from(counters).orderBy(counters.id)).toEqual([
      { id: 1, n: 1 },
      { id: 4, n: 4 },
    ])
    // The first starts alone; the other three run in one group commit.
    expect(commits.length - before).toBeLessThan(2 + 1)
  })

  it("rejects with the callback's own error after it created and wrote a table", async () => {
    const [o] = await instances(1)
    const seq = o!.s3db.stats().seq
    const boom = new Error('boom after DDL')
    await expect(
      o!.db.transaction(async (tx) => {
        await tx.run(sql`create table scratch (id integer primary key)`)
        await tx.run(sql`insert into scratch values (1)`)
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(o!.s3db.stats().seq).toBe(seq)
  })

  it('nested transactions are savepoints: a failed inner one leaves the outer one intact', async () => {
    const [db] = (await instances(1)).map((o) => o.db)
    await db!.transaction(async (tx) => {
      await tx.insert(counters).values({ id: 1, n: 1 })
      await tx.transaction(async (inner) => {
        await inner.insert(counters).values({ id: 2, n: 2 })
        await inner
          .transaction(async (innermost) => {
            await innermost.insert(counters).values({ id: 3, n: 3 })
            throw new Error('undo 3')
          })
          .catch(() => {})
      })
      await expect(
        tx.transaction(async (inner) => {
          await inner.insert(counters).values({ id: 4, n: 4 })
          inner.rollback()
        }),
      ).rejects.toBeInstanceOf(TransactionRollbackError)
    })
    expect(await db!.select().from(counters).orderBy(counters.id)).toEqual([
      { id: 1, n: 1 },
      { id: 2, n: 2 },
    ])
  })

  it('rejects use of tx after the transaction ended', async () => {
    const [db] = (await instances(1)).map((o) => o.db)
    let leaked: S3dbTransaction<Schema, ExtractTablesWithRelations<Schema>> | undefined
    await db!.transaction(async (tx) => {
      leaked = tx
      await tx.insert(counters).values({ id: 1, n: 1 })
    })
    await expect(leaked!.select().from(counters)).rejects.toBeInstanceOf(TransactionEndedError)
    await expect(leaked!.insert(counters).values({ id: 2, n: 2 })).rejects.toBeInstanceOf(
      TransactionEndedError,
    )
    await expect(leaked!.transaction(async () => {})).rejects.toBeInstanceOf(TransactionEndedError)
    expect(await db!.select().from(counters)).toEqual([{ id: 1, n: 1 }])
  })

  it('the outer db inside a transaction callback fails with an error naming tx', async () => {
    const [db] = (await instances(1)).map((o) => o.db)
    const attempts: [string, () => Promise<unknown>][] = [
      ['select', () => db!.select().from(counters)],
      ['insert', () => db!.insert(counters).values({ id: 9, n: 9 })],
      ['relational', () => db!.query.counters.findMany()],
      ['sql', () => db!.all(sql`select 1`)],
      ['transaction', () => db!.transaction(async () => {})],
      ['batch', () => db!.batch([db!.select().from(counters)])],
      ['migrate', () => migrate(db!, { migrationsFolder })],
    ]
    const errors = await db!.transaction(async (tx) => {
      const out: unknown[] = []
      for (const [, attempt] of attempts) out.push(await attempt().catch((e: unknown) => e))
      await tx.insert(counters).values({ id: 1, n: 1 })
      return out
    })
    for (const err of errors) {
      expect(err).toBeInstanceOf(ReentrantTransactionError)
      expect((err as Error).message).toMatch(/use the `tx` argument/)
    }
    expect(await db!.select().from(counters)).toEqual([{ id: 1, n: 1 }])
  })

  it('cancels through an AbortSignal', async () => {
    const [db] = (await instances(1)).map((o) => o.db)
    const controller = new AbortController()
    controller.abort()
    await expect(
      db!.transaction(async (tx) => tx.insert(counters).values({ id: 1, n: 1 }), {
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ code: 'Aborted' })
    expect(await db!.select().from(counters)).toEqual([])
  })
})

describe('db.batch', () => {
  it('runs all statements as one commit and returns each result like drizzle', async () => {
    const commits: CommitEvent[] = []
    const [o] = await instances(1, (e) => {
      if (e.type === 'commit') commits.push(e)
    })
    const db = o!.db
    const before = commits.length
    const seq = o!.s3db.stats().seq
    const [inserted, updated, all, first, raw, run] = await db.batch([
      db.insert(accounts).values({ id: 1, owner: 'a', balance: 10 }).returning(),
      db.update(accounts).set({ balance: 20 }).where(eq(accounts.id, 1)).returning(),
      db.select().from(accounts),
      db.query.accounts.findFirst(),
      db.all(sql`select owner from ${accounts}`),
      db.insert(accounts).values({ id: 2, owner: 'b', balance: 0 }),
    ])
    expect(inserted).toEqual([{ id: 1, owner: 'a', balance: 10 }])
    expect(updated).toEqual([{ id: 1, owner: 'a', balance: 20 }])
    expect(all).toEqual([{ id: 1, owner: 'a', balance: 20 }])
    expect(first).toEqual({ id: 1, owner: 'a', balance: 20 })
    expect(raw).toEqual([{ owner: 'a' }])
    expect(run).toMatchObject({ changes: 1 })
    expect(commits.length - before).toBe(1)
    expect(o!.s3db.stats().seq).toBe(seq + 1)
  })

  it('publishes nothing when one statement fails', async () => {
    const [o] = await instances(1)
    const db = o!.db
    await db.insert(accounts).values({ id: 1, owner: 'a', balance: 10 })
    const seq = o!.s3db.stats().seq
    await expect(
      db.batch([
        db.insert(accounts).values({ id: 2, owner: 'b', balance: 0 }),
        db.insert(accounts).values({ id: 1, owner: 'dup', balance: 0 }),
      ]),
    ).rejects.toMatchObject({ cause: { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' } })
    expect(o!.s3db.stats().seq).toBe(seq)
    expect(await db.select().from(accounts)).toEqual([{ id: 1, owner: 'a', balance: 10 }])
  })
})

describe('statements outside a transaction', () => {
  it('reads are views (no commit); each write is its own commit, visible to other instances', async () => {
    const [a, b] = await instances(2)
    const seq = a!.s3db.stats().seq
    await a!.db.select().from(counters)
    await a!.db.query.counters.findMany()
    await a!.db.all(sql`select count(*) from ${counters}`)
    expect(a!.s3db.stats().seq).toBe(seq)
    await a!.db.insert(counters).values({ id: 1, n: 1 })
    // A write that drizzle runs with all(): SQLite says it is not read-only, so it commits.
    const returned = await a!.db.all(sql`insert into ${counters} (id, n) values (2, 2) returning n`)
    expect(returned).toEqual([{ n: 2 }])
    expect(a!.s3db.stats().seq).toBe(seq + 2)
    expect(await b!.db.select().from(counters).orderBy(counters.id)).toEqual([
      { id: 1, n: 1 },
      { id: 2, n: 2 },
    ])
  })

  it('DDL outside a transaction is published (a schema commit)', async () => {
    const [a, b] = await instances(2)
    await a!.db.run(sql`create table notes (id integer primary key, body text)`)
    await a!.db.run(sql`insert into notes values (1, 'hi')`)
    expect(await b!.db.all(sql`select * from notes`)).toEqual([{ id: 1, body: 'hi' }])
  })

  it('passes queries to the logger, and honours casing', async () => {
    const store = new MemoryBlobStore()
    const o = await openDrizzle(store)
    opened.push(o)
    const logged: [string, unknown[]][] = []
    const notes = sqliteTable('notes', { noteId: integer().primaryKey(), bodyText: text() })
    const db = drizzle(o.s3db, {
      casing: 'snake_case',
      logger: { logQuery: (q, p) => logged.push([q, p]) },
    })
    await db.run(sql`create table notes (note_id integer primary key, body_text text)`)
    await db.insert(notes).values({ noteId: 1, bodyText: 'x' })
    expect(await db.select().from(notes)).toEqual([{ noteId: 1, bodyText: 'x' }])
    expect(logged.at(-1)).toEqual(['select "note_id", "body_text" from "notes"', []])
    expect(logged.some(([q, p]) => q.startsWith('insert into "notes"') && p[1] === 'x')).toBe(true)
  })
})

describe('concurrency (memory store)', () => {
  it('10 concurrent read-then-write transactions from 2 instances on one row are exact', async () => {
    const dbs = (await instances(2)).map((o) => o.db)
    const { runs } = await incrementConcurrently(dbs, 10, 3)
    console.log(`memory: 30 increments from 2 instances took ${runs} callback runs`)
    expect(runs).toBeGreaterThanOrEqual(30)
  })

  it('12 concurrent bank transfers workers over 3 instances conserve money exactly', async () => {
    const dbs = (await instances(3)).map((o) => o.db)
    const { committed, skipped, runs } = await transferConcurrently(dbs, 12, 4)
    console.log(`memory: ${committed} transfers committed, ${skipped} skipped, ${runs} runs`)
    expect(committed + skipped).toBe(48)
    expect(committed).toBeGreaterThan(0)
  })
})
