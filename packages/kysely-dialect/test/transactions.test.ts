/**
 * Transaction semantics of the dialect on the memory store: re-runs on
 * conflict, read-only views, savepoints, held (non-replayable) transactions,
 * reentrancy, routing of statements outside transactions.
 */
import {
  type MemoryBlobStore,
  ReadOnlyError,
  ReentrantTransactionError,
  S3db,
  type S3dbEvent,
  WriteConflictError,
} from '@s3db/core'
import { S3dbDialect, S3dbKysely } from '@s3db/kysely'
import { CamelCasePlugin, Kysely, type LogEvent, sql, type Transaction } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSchema, type Database as DB, openMemory, PREFIX } from './fixtures.js'

let store: MemoryBlobStore
let a: S3db
let b: S3db
let events: S3dbEvent[]
let db: S3dbKysely<DB>

beforeEach(async () => {
  events = []
  ;({ store, s3db: a } = await openMemory({ onEvent: (e) => events.push(e) }))
  db = new S3dbKysely<DB>({ s3db: a })
  await createSchema(db)
  await db.insertInto('counter').values({ id: 1, n: 0 }).execute()
  b = await S3db.open(store, PREFIX)
})

afterEach(async () => {
  await b.close()
  await a.close()
})

/** Adds `by` to counter 1 through the other instance (a commit this one does not know of). */
function bumpElsewhere(by: number): Promise<unknown> {
  return b.update((tx) => tx.run('UPDATE counter SET n = n + ? WHERE id = 1', [by]))
}

async function counter(k: Kysely<DB> = db): Promise<number> {
  const row = await k
    .selectFrom('counter')
    .select('n')
    .where('id', '=', 1)
    .executeTakeFirstOrThrow()
  return row.n
}

/** Increments counter 1 from the value it read, forcing a conflict on the first run. */
async function incrementWithConflict(k: Kysely<DB>): Promise<{ runs: number; value: number }> {
  let runs = 0
  const value = await k.transaction().execute(async (trx) => {
    runs++
    const n = await counter(trx)
    if (runs === 1) await bumpElsewhere(100)
    await trx
      .updateTable('counter')
      .set({ n: n + 1 })
      .where('id', '=', 1)
      .execute()
    return n + 1
  })
  return { runs, value }
}

describe('transaction().execute(fn)', () => {
  it('re-runs fn on the newer state after a conflict and commits exactly once', async () => {
    const { runs, value } = await incrementWithConflict(db)
    expect(runs).toBe(2)
    expect(value).toBe(101)
    expect(await counter()).toBe(101)
    await b.view(() => {}) // b is current with the store
    expect(await counter(new S3dbKysely<DB>({ s3db: b }))).toBe(101)
    expect(events.filter((e) => e.type === 'conflict').length).toBeGreaterThanOrEqual(1)
  })

  it('derived instances are S3dbKysely and re-run too', async () => {
    const derived: Array<[string, Kysely<DB>]> = [
      ['withPlugin', db.withPlugin(new CamelCasePlugin())],
      ['withoutPlugins', db.withPlugin(new CamelCasePlugin()).withoutPlugins()],
      ['withSchema', db.withSchema('main')],
      ['withTables', db.withTables<{ extra: { id: number } }>() as unknown as Kysely<DB>],
      ['$extendTables', db.$extendTables<{ extra: { id: number } }>() as unknown as Kysely<DB>],
      ['$omitTables', db.$omitTables<'toy'>() as unknown as Kysely<DB>],
      ['$pickTables', db.$pickTables<'counter'>() as unknown as Kysely<DB>],
    ]
    let expected = await counter()
    for (const [name, k] of derived) {
      expect(k, name).toBeInstanceOf(S3dbKysely)
      const { runs, value } = await incrementWithConflict(k)
      expected += 101
      expect({ name, runs, value }).toEqual({ name, runs: 2, value: expected })
    }
    expect(await counter()).toBe(expected)
  })

  it('rolls back and rethrows when fn throws; nothing is published', async () => {
    const seq = a.stats().seq
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.updateTable('counter').set({ n: 42 }).execute()
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await counter()).toBe(0)
    expect(a.stats().seq).toBe(seq)
  })

  it('rethrows the error of an fn that created a table and wrote to it; nothing is published', async () => {
    const seq = a.stats().seq
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.schema
          .createTable('scratch')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .execute()
        await sql`INSERT INTO scratch VALUES (1)`.execute(trx)
        throw new Error('validation failed')
      }),
    ).rejects.toThrow('validation failed')
    expect(a.stats().seq).toBe(seq)
    expect((await db.introspection.getTables()).map((t) => t.name)).not.toContain('scratch')
  })

  it("setAccessMode('read only') runs as a view: consistent reads, writes rejected", async () => {
    const read = await db
      .transaction()
      .setAccessMode('read only')
      .execute(async (trx) => {
        const before = await counter(trx)
        await bumpElsewhere(5) // committed elsewhere meanwhile: the snapshot does not move
        return [before, await counter(trx)]
      })
    expect(read).toEqual([0, 0])
    expect(await counter()).toBe(5)
    await expect(
      db
        .transaction()
        .setAccessMode('read only')
        .execute((trx) => trx.updateTable('counter').set({ n: 1 }).execute()),
    ).rejects.toBeInstanceOf(ReadOnlyError)
  })

  it('accepts every Kysely isolation level (runs serializable) and rejects unknown ones', async () => {
    const levels = [
      'read uncommitted',
      'read committed',
      'repeatable read',
      'snapshot',
      'serializable',
    ] as const
    for (const level of levels) {
      const { runs } = await (async () => {
        let runs = 0
        await db
          .transaction()
          .setIsolationLevel(level)
          .setAccessMode('read write')
          .execute(async (trx) => {
            runs++
            const n = await counter(trx)
            if (runs === 1) await bumpElsewhere(1)
            await trx
              .updateTable('counter')
              .set({ n: n + 1 })
              .execute()
          })
        return { runs }
      })()
      expect({ level, runs }).toEqual({ level, runs: 2 })
    }
    expect(await counter()).toBe(levels.length * 2)
    await expect(
      db
        .transaction()
        .setIsolationLevel('bogus' as never)
        .execute(async () => {}),
    ).rejects.toThrow(/isolation level "bogus"/)
    await expect(
      db
        .transaction()
        .setAccessMode('read-only' as never)
        .execute(async () => {}),
    ).rejects.toThrow(/access mode "read-only"/)
  })

  it('savepoints inside the callback work (raw SAVEPOINT, ROLLBACK TO, RELEASE)', async () => {
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('counter').set({ n: 1 }).execute()
      await sql`SAVEPOINT sp1`.execute(trx)
      await trx.updateTable('counter').set({ n: 2 }).execute()
      await sql`ROLLBACK TO sp1`.execute(trx)
      expect(await counter(trx)).toBe(1)
      await trx.insertInto('account').values({ id: 1, balance: 10 }).execute()
      await sql`RELEASE sp1`.execute(trx)
    })
    expect(await counter()).toBe(1)
    expect(await db.selectFrom('account').selectAll().execute()).toEqual([{ id: 1, balance: 10 }])
  })

  it('using the outer instance inside the callback throws an error naming trx (no deadlock)', async () => {
    const outer = (fn: (trx: Transaction<DB>) => Promise<unknown>) => db.transaction().execute(fn)
    await expect(outer(() => counter(db))).rejects.toThrow(/`trx`/)
    await expect(outer(() => db.updateTable('counter').set({ n: 9 }).execute())).rejects.toThrow(
      ReentrantTransactionError,
    )
    await expect(
      db
        .transaction()
        .setAccessMode('read only')
        .execute(() => counter(db.withPlugin(new CamelCasePlugin()))),
    ).rejects.toThrow(ReentrantTransactionError)
    await expect(
      outer(async () => {
        for await (const _ of db.selectFrom('counter').selectAll().stream()) {
        }
      }),
    ).rejects.toThrow(ReentrantTransactionError)
    await expect(outer(() => db.transaction().execute(async () => {}))).rejects.toThrow(
      ReentrantTransactionError,
    )
    await expect(outer(() => db.startTransaction().execute())).rejects.toThrow(/`trx`/)
    await expect(outer(() => db.connection().execute(async () => {}))).rejects.toThrow(/`trx`/)
    expect(await counter()).toBe(0)
  })

  it('a trx used after its callback returned fails instead of running on its own', async () => {
    let leaked: Transaction<DB> | undefined
    await db.transaction().execute(async (trx) => {
      leaked = trx
    })
    await expect(leaked!.updateTable('counter').set({ n: 7 }).execute()).rejects.toThrow(
      /has ended/,
    )
    expect(await counter()).toBe(0)
  })

  it('streams rows inside a transaction', async () => {
    await db
      .insertInto('account')
      .values(Array.from({ length: 25 }, (_, i) => ({ id: i + 1, balance: i })))
      .execute()
    const seen = await db.transaction().execute(async (trx) => {
      let sum = 0
      for await (const row of trx.selectFrom('account').select('balance').stream(4)) {
        sum += row.balance
      }
      return sum
    })
    expect(seen).toBe((24 * 25) / 2)
  })

  it('logs queries run inside transactions through Kysely `log`', async () => {
    const logged: string[] = []
    const k = new S3dbKysely<DB>({
      s3db: a,
      log: (e: LogEvent) => {
        logged.push(e.query.sql)
      },
    })
    await k.transaction().execute((trx) => trx.selectFrom('counter').select('n').execute())
    await k.selectFrom('account').selectAll().execute()
    expect(logged).toEqual(['select "n" from "counter"', 'select * from "account"'])
  })
})

describe('statements outside a transaction', () => {
  it('reads run as views (no commit); writes run as their own update (one commit each)', async () => {
    const commits = () => events.filter((e) => e.type === 'commit').length
    const before = commits()
    await counter()
    await db.selectFrom('counter').selectAll().execute()
    expect(commits()).toBe(before)
    await db.updateTable('counter').set({ n: 3 }).execute()
    await db.updateTable('counter').set({ n: 4 }).execute()
    expect(commits()).toBe(before + 2)
    // Reads are strongly consistent: a commit from elsewhere is visible at once.
    await bumpElsewhere(10)
    expect(await counter()).toBe(14)
  })

  it('insertId and numAffectedRows come from the single-statement update', async () => {
    const r = await db
      .insertInto('person')
      .values({ first_name: 'A', last_name: null, age: 1, meta: null })
      .executeTakeFirst()
    expect(r.insertId).toBe(1n)
    expect(r.numInsertedOrUpdatedRows).toBe(1n)
    const u = await db.updateTable('person').set({ age: 2 }).executeTakeFirst()
    expect(u.numUpdatedRows).toBe(1n)
  })

  it('destroy() leaves the S3db open', async () => {
    const k = new S3dbKysely<DB>({ s3db: a })
    await counter(k)
    await k.destroy()
    expect(await counter(db)).toBe(0)
  })
})

describe('transactions that cannot replay', () => {
  it('startTransaction(): commits when nothing interferes', async () => {
    const trx = await db.startTransaction().execute()
    await trx.updateTable('counter').set({ n: 5 }).execute()
    await trx.commit().execute()
    expect(trx.isCommitted).toBe(true)
    expect(await counter()).toBe(5)
  })

  it('startTransaction(): a lost commit race fails with WriteConflictError and commits nothing', async () => {
    const trx = await db.startTransaction().execute()
    const n = await counter(trx)
    await trx
      .updateTable('counter')
      .set({ n: n + 1 })
      .execute()
    await bumpElsewhere(100)
    const err = await trx
      .commit()
      .execute()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(err).toBeInstanceOf(WriteConflictError)
    expect((err as WriteConflictError).message).toMatch(/cannot be re-run/)
    expect(trx.isRolledBack).toBe(true)
    await trx.rollback().execute() // the usual catch-and-rollback pattern still works
    expect(await counter()).toBe(100)
  })

  it("startTransaction() with 'read only' runs as a view", async () => {
    const trx = await db.startTransaction().setAccessMode('read only').execute()
    expect(await counter(trx)).toBe(0)
    await expect(trx.updateTable('counter').set({ n: 1 }).execute()).rejects.toBeInstanceOf(
      ReadOnlyError,
    )
    await trx.commit().execute()
  })

  it('connection(): atomic; rolled back on throw; WriteConflictError on a lost race', async () => {
    await db.connection().execute(async (conn) => {
      await conn.updateTable('counter').set({ n: 1 }).execute()
      await conn.insertInto('account').values({ id: 1, balance: 1 }).execute()
    })
    expect(await counter()).toBe(1)
    await expect(
      db.connection().execute(async (conn) => {
        await conn.updateTable('counter').set({ n: 2 }).execute()
        throw new Error('nope')
      }),
    ).rejects.toThrow('nope')
    expect(await counter()).toBe(1)
    await expect(
      db.connection().execute(async (conn) => {
        await conn.updateTable('counter').set({ n: 3 }).execute()
        await bumpElsewhere(100)
      }),
    ).rejects.toBeInstanceOf(WriteConflictError)
    expect(await counter()).toBe(101)
    await expect(
      db.connection().execute(() => db.selectFrom('counter').selectAll().execute()),
    ).rejects.toThrow(ReentrantTransactionError)
  })

  it('connection(): Kysely transactions inside it are savepoints', async () => {
    await db.connection().execute(async (conn) => {
      await conn.transaction().execute((trx) => trx.updateTable('counter').set({ n: 1 }).execute())
      await expect(
        conn.transaction().execute(async (trx) => {
          await trx.updateTable('counter').set({ n: 2 }).execute()
          throw new Error('inner')
        }),
      ).rejects.toThrow('inner')
      expect(await counter(conn)).toBe(1)
    })
    expect(await counter()).toBe(1)
  })

  it('plain Kysely with S3dbDialect: transaction() is atomic and fails with WriteConflictError on a lost race', async () => {
    const plain = new Kysely<DB>({ dialect: new S3dbDialect({ s3db: a }) })
    await plain.transaction().execute((trx) => trx.updateTable('counter').set({ n: 1 }).execute())
    expect(await counter(plain)).toBe(1)
    let runs = 0
    await expect(
      plain.transaction().execute(async (trx) => {
        runs++
        await trx.updateTable('counter').set({ n: 2 }).execute()
        await bumpElsewhere(100)
      }),
    ).rejects.toBeInstanceOf(WriteConflictError)
    expect(runs).toBe(1)
    expect(await counter(plain)).toBe(101)
  })
})
