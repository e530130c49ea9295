/**
 * Behavioural parity with drizzle's own better-sqlite3 driver: the same
 * queries on the same migrated schema give the same results (and the same
 * failures), step by step.
 */
import {
  and,
  asc,
  count,
  desc,
  eq,
  gt,
  inArray,
  isNull,
  like,
  or,
  type SQL,
  sql,
  sum,
  TransactionRollbackError,
} from 'drizzle-orm'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Opened, openBetterSqlite, openMigrated, type Schema, schema } from './support.js'

const { users, posts, comments, tags, postTags, accounts } = schema

/** Both drivers through one type: every call below is awaited, so sync results work too. */
// biome-ignore lint/suspicious/noExplicitAny: the run result type differs between the drivers
type AnyDb = BaseSQLiteDatabase<'async', any, Schema>

const t0 = new Date('2024-05-06T07:08:09.000Z')

/** Ordered steps; each returns what is compared between the drivers. */
const steps: [string, (db: AnyDb) => Promise<unknown>][] = [
  [
    'insert many users with returning (json, timestamps, bigint blob, custom type, enum, real)',
    (db) =>
      db
        .insert(users)
        .values([
          {
            name: 'Ada',
            email: 'ada@example.com',
            role: 'admin',
            createdAt: t0,
            seenAt: new Date('2024-05-06T07:08:09.123Z'),
            profile: { bio: 'first programmer', tags: ['math', 'engines'] },
            score: 99.5,
            big: 2n ** 63n - 1n,
            home: { x: 1.5, y: -2 },
          },
          { name: 'Brian', email: 'brian@example.com', createdAt: t0, score: 12 },
          { name: 'Chen', email: 'chen@example.com', createdAt: t0, active: false },
        ])
        .returning(),
  ],
  [
    'insert with partial returning',
    (db) =>
      db
        .insert(users)
        .values({ name: 'Dana', email: 'dana@example.com', createdAt: t0 })
        .returning({ id: users.id, email: users.email }),
  ],
  [
    'insert .run() result',
    (db) => db.insert(accounts).values({ id: 1, owner: 'Ada', balance: 100 }).run(),
  ],
  [
    'insert posts, comments, tags links',
    async (db) => {
      await db.insert(posts).values([
        { id: 1, authorId: 1, title: 'Notes on the engine', published: true },
        { id: 2, authorId: 1, title: 'Draft', published: false },
        { id: 3, authorId: 2, title: 'Hello', published: true },
      ])
      await db.insert(comments).values([
        { id: 1, postId: 1, authorId: 2, body: 'great', createdAt: '2024-01-01 00:00:00' },
        { id: 2, postId: 1, authorId: 3, body: 'indeed', createdAt: '2024-01-02 00:00:00' },
        { id: 3, postId: 3, authorId: 1, body: 'welcome', createdAt: '2024-01-03 00:00:00' },
      ])
      await db.insert(postTags).values([
        { postId: 1, tagId: 1 },
        { postId: 1, tagId: 2 },
        { postId: 3, tagId: 1 },
      ])
      return db.select().from(postTags).orderBy(postTags.postId, postTags.tagId)
    },
  ],
  ['select all ordered', (db) => db.select().from(users).orderBy(asc(users.id))],
  [
    'select where and/or/like/inArray/isNull, order desc, limit/offset',
    (db) =>
      db
        .select({ id: users.id, name: users.name })
        .from(users)
        .where(
          or(
            and(like(users.email, '%@example.com'), gt(users.id, 1)),
            inArray(users.name, ['Ada']),
            isNull(users.score),
          ),
        )
        .orderBy(desc(users.id))
        .limit(3)
        .offset(1),
  ],
  ['select .get()', (db) => db.select().from(users).where(eq(users.id, 1)).get()],
  ['select .get() of nothing', (db) => db.select().from(users).where(eq(users.id, 999)).get()],
  ['select .values()', (db) => db.select({ id: users.id, name: users.name }).from(users).values()],
  [
    'inner join with nested selection',
    (db) =>
      db
        .select({ post: posts.title, author: { name: users.name, home: users.home } })
        .from(posts)
        .innerJoin(users, eq(posts.authorId, users.id))
        .orderBy(posts.id),
  ],
  [
    'left join with a null side',
    (db) =>
      db
        .select()
        .from(users)
        .leftJoin(posts, eq(posts.authorId, users.id))
        .orderBy(users.id, posts.id),
  ],
  [
    'group by, count, sum, having',
    (db) =>
      db
        .select({ authorId: posts.authorId, posts: count(), ids: sum(posts.id) })
        .from(posts)
        .groupBy(posts.authorId)
        .having(({ posts }) => gt(posts, 0))
        .orderBy(posts.authorId),
  ],
  ['$count', (db) => db.$count(users, eq(users.active, true))],
  [
    'CTE and subquery',
    (db) => {
      const published = db
        .$with('published')
        .as(db.select().from(posts).where(eq(posts.published, true)))
      const perAuthor = db
        .select({ authorId: posts.authorId, n: count().as('n') })
        .from(posts)
        .groupBy(posts.authorId)
        .as('per_author')
      return db
        .with(published)
        .select({ title: published.title, n: perAuthor.n })
        .from(published)
        .innerJoin(perAuthor, eq(perAuthor.authorId, published.authorId))
        .orderBy(published.id)
    },
  ],
  [
    'onConflictDoUpdate upsert with returning',
    (db) =>
      db
        .insert(users)
        .values({ name: 'Ada L.', email: 'ada@example.com', createdAt: t0 })
        .onConflictDoUpdate({ target: users.email, set: { name: sql`excluded.name` } })
        .returning({ id: users.id, name: users.name }),
  ],
  [
    'onConflictDoNothing',
    (db) =>
      db
        .insert(users)
        .values({ name: 'dup', email: 'brian@example.com', createdAt: t0 })
        .onConflictDoNothing()
        .returning(),
  ],
  [
    'update with sql expression and returning',
    (db) =>
      db
        .update(users)
        .set({ score: sql`coalesce(${users.score}, 0) + 1`, seenAt: new Date(1_700_000_000_123) })
        .where(inArray(users.id, [2, 3]))
        .returning({ id: users.id, score: users.score, seenAt: users.seenAt }),
  ],
  ['update .run() changes', (db) => db.update(users).set({ active: true }).run()],
  [
    'relational findMany with nested with, columns, where, orderBy',
    (db) =>
      db.query.users.findMany({
        columns: { id: true, name: true, profile: true, big: true },
        where: (u, { lt }) => lt(u.id, 4),
        orderBy: (u, { asc }) => [asc(u.id)],
        with: {
          posts: {
            orderBy: (p, { asc }) => [asc(p.id)],
            with: {
              comments: { with: { author: { columns: { name: true } } } },
              postTags: { with: { tag: true } },
            },
          },
        },
      }),
  ],
  [
    'relational findFirst with one relation and extras',
    (db) =>
      db.query.posts.findFirst({
        where: (p, { eq }) => eq(p.id, 3),
        with: { author: true },
        extras: { shout: sql<string>`upper(${posts.title})`.as('shout') },
      }),
  ],
  [
    'relational findFirst of nothing',
    (db) => db.query.posts.findFirst({ where: eq(posts.id, 42) }),
  ],
  ['sql template all', (db) => db.all(sql`select id, name from ${users} order by id`)],
  ['sql template get', (db) => db.get(sql`select count(*) as n from ${users}`)],
  ['sql template values', (db) => db.values(sql`select id, email from users order by id desc`)],
  [
    'sql template run',
    (db) => db.run(sql`update ${accounts} set balance = balance + ${5} where id = ${1}`),
  ],
  [
    'prepared select with placeholders, run twice',
    async (db) => {
      const q = db
        .select()
        .from(users)
        .where(eq(users.id, sql.placeholder('id')))
        .prepare()
      return [await q.get({ id: 1 }), await q.get({ id: 2 }), await q.all({ id: 3 })]
    },
  ],
  [
    'prepared insert with placeholders',
    async (db) => {
      const q = db
        .insert(tags)
        .values({ id: sql.placeholder('id'), name: sql.placeholder('name') })
        .returning()
        .prepare()
      return [await q.all({ id: 10, name: 'ten' }), await q.get({ id: 11, name: 'eleven' })]
    },
  ],
  [
    'prepared relational query with placeholder',
    async (db) => {
      const q = db.query.users
        .findMany({
          where: (u, { eq }) => eq(u.id, sql.placeholder('id')),
          with: { comments: true },
        })
        .prepare()
      return [await q.execute({ id: 2 }), await q.execute({ id: 3 })]
    },
  ],
  [
    'delete with returning and FK cascade',
    async (db) => {
      const deleted = await db.delete(posts).where(eq(posts.id, 1)).returning({ id: posts.id })
      return { deleted, comments: await db.select().from(comments).orderBy(comments.id) }
    },
  ],
  [
    'unique violation fails',
    (db) => db.insert(users).values({ name: 'x', email: 'ada@example.com', createdAt: t0 }),
  ],
  [
    'foreign key violation fails',
    (db) => db.insert(posts).values({ id: 9, authorId: 999, title: 'orphan' }),
  ],
  ['final users table', (db) => db.select().from(users).orderBy(users.id)],
]

/** The outcome of a step: its value, or that it failed (messages differ between drivers). */
async function outcome(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await fn() }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    return { failed: (err as { code?: string }).code ?? cause?.code ?? 'error' }
  }
}

describe('parity with drizzle-orm/better-sqlite3', () => {
  let s3: Opened
  const local = openBetterSqlite()
  const results: { s3db: unknown[]; local: unknown[] } = { s3db: [], local: [] }

  beforeAll(async () => {
    s3 = await openMigrated()
    for (const [, step] of steps) {
      results.local.push(await outcome(() => step(local.db as unknown as AnyDb)))
      results.s3db.push(await outcome(() => step(s3.db as AnyDb)))
    }
  })
  afterAll(async () => {
    await s3.close()
    local.client.close()
  })

  it.each(steps.map(([name], i) => [name, i] as const))('%s', (_name, i) => {
    const [mine, theirs] = [results.s3db[i], results.local[i]]
    expect(mine).toEqual(theirs)
    // Guard against both drivers failing the same way where success is expected.
    if (!steps[i]![0].endsWith('fails')) expect(mine).toHaveProperty('ok')
    else expect(mine).toHaveProperty('failed')
  })

  it('keeps value types: bigint blob, dates, json, custom type, booleans', () => {
    const [ada] = (results.s3db[0] as { ok: (typeof users.$inferSelect)[] }).ok
    expect(ada).toMatchObject({
      big: 2n ** 63n - 1n,
      createdAt: t0,
      seenAt: new Date('2024-05-06T07:08:09.123Z'),
      profile: { bio: 'first programmer', tags: ['math', 'engines'] },
      home: { x: 1.5, y: -2 },
      active: true,
      role: 'admin',
    })
  })
})

/** The sync driver's transaction takes a sync callback; ours an async one: same logic, both styles. */
describe('transaction parity', () => {
  type Done = (label: string) => void
  let s3: Opened
  const local = openBetterSqlite()

  beforeAll(async () => {
    s3 = await openMigrated()
    await s3.db.insert(accounts).values([
      { id: 1, owner: 'a', balance: 100 },
      { id: 2, owner: 'b', balance: 0 },
    ])
    local.db
      .insert(accounts)
      .values([
        { id: 1, owner: 'a', balance: 100 },
        { id: 2, owner: 'b', balance: 0 },
      ])
      .run()
  })
  afterAll(async () => {
    await s3.close()
    local.client.close()
  })

  const move = (n: number): [SQL, SQL] => [
    sql`${accounts.balance} - ${n}`,
    sql`${accounts.balance} + ${n}`,
  ]

  it('commit, nested savepoint rollback, tx.rollback() and a throwing callback end in the same state', async () => {
    const log: string[] = []
    const note: Done = (label) => log.push(label)
    // Committed transfer with a nested savepoint that rolls back.
    const value = await s3.db.transaction(async (tx) => {
      const [from, to] = move(30)
      await tx.update(accounts).set({ balance: from }).where(eq(accounts.id, 1))
      await tx.update(accounts).set({ balance: to }).where(eq(accounts.id, 2))
      await expect(
        tx.transaction(async (inner) => {
          await inner.update(accounts).set({ balance: 0 }).where(eq(accounts.id, 1))
          inner.rollback()
        }),
      ).rejects.toThrow('Rollback')
      return 'committed'
    })
    note(value)
    const localValue = local.db.transaction((tx) => {
      const [from, to] = move(30)
      tx.update(accounts).set({ balance: from }).where(eq(accounts.id, 1)).run()
      tx.update(accounts).set({ balance: to }).where(eq(accounts.id, 2)).run()
      expect(() =>
        tx.transaction((inner) => {
          inner.update(accounts).set({ balance: 0 }).where(eq(accounts.id, 1)).run()
          inner.rollback()
        }),
      ).toThrow('Rollback')
      return 'committed'
    })
    expect(localValue).toBe(value)

    // tx.rollback(): both reject with drizzle's TransactionRollbackError, nothing written.
    const mine = await s3.db
      .transaction(async (tx) => {
        await tx.update(accounts).set({ balance: 1_000 })
        tx.rollback()
      })
      .catch((e: Error) => e)
    let theirs: unknown
    try {
      local.db.transaction((tx) => {
        tx.update(accounts).set({ balance: 1_000 }).run()
        tx.rollback()
      })
    } catch (e) {
      theirs = e
    }
    expect(mine).toBeInstanceOf(Error)
    expect((mine as Error).constructor).toBe((theirs as Error).constructor)
    expect(mine).toBeInstanceOf(TransactionRollbackError)

    // A throwing callback: rejected with that error, nothing written.
    const boom = new Error('boom')
    await expect(
      s3.db.transaction(async (tx) => {
        await tx.delete(accounts)
        throw boom
      }),
    ).rejects.toBe(boom)
    expect(() =>
      local.db.transaction((tx) => {
        tx.delete(accounts).run()
        throw boom
      }),
    ).toThrow(boom)

    const state = await s3.db.select().from(accounts).orderBy(accounts.id)
    expect(state).toEqual(local.db.select().from(accounts).orderBy(accounts.id).all())
    expect(state).toEqual([
      { id: 1, owner: 'a', balance: 70 },
      { id: 2, owner: 'b', balance: 30 },
    ])
    expect(log).toEqual(['committed'])
  })
})
