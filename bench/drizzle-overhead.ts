/**
 * Overhead of @s3db/drizzle over drizzle's own better-sqlite3 driver on reads:
 * a simple select by primary key and a relational query
 * (`db.query.users.findMany({ with: { posts } })`), same data, same queries.
 * s3db reads run as views with readConsistency { maxStalenessMs: large } on a
 * MemoryBlobStore, so no store request is made and what is measured is the
 * driver and view machinery. A raw `S3db.view` row separates core's share.
 *
 * Run: npm run build && node bench/drizzle-overhead.ts [seconds per case, default 3]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryBlobStore, S3db } from '@s3db/core'
import { drizzle } from '@s3db/drizzle'
import Database from 'better-sqlite3'
import { eq, relations, sql } from 'drizzle-orm'
import { drizzle as drizzleBetterSqlite } from 'drizzle-orm/better-sqlite3'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { median } from './lib/measure.ts'
import { report } from './lib/report.ts'

const users = sqliteTable('users', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  email: text('email').notNull(),
})
const posts = sqliteTable('posts', {
  id: integer('id').primaryKey(),
  authorId: integer('author_id').notNull(),
  title: text('title').notNull(),
})
const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }))
const postsRelations = relations(posts, ({ one }) => ({
  author: one(users, { fields: [posts.authorId], references: [users.id] }),
}))
const schema = { users, posts, usersRelations, postsRelations }

const USERS = 1_000
const POSTS_PER_USER = 5
// `--quick` (as bench/run.ts passes it) or a number of seconds per case.
const arg = process.argv[2]
const seconds = arg === '--quick' ? 1 : Number(arg ?? 3)
// Cases alternate in short rounds and report their median: the machine may be
// shared, and a load spike then hits every case instead of one.
const ROUNDS = 9

/** Calls `fn` repeatedly for `ms` and returns ops/s. */
async function measure(fn: (i: number) => unknown, ms: number): Promise<number> {
  const end = performance.now() + ms
  let ops = 0
  const start = performance.now()
  while (performance.now() < end) {
    for (let j = 0; j < 50; j++) await fn(ops++)
  }
  return ops / ((performance.now() - start) / 1000)
}

const dir = mkdtempSync(join(tmpdir(), 's3db-bench-drizzle-'))
try {
  // The local file: drizzle's better-sqlite3 driver reads it directly.
  const file = join(dir, 'local.sqlite')
  const client = new Database(file)
  client.pragma('journal_mode = WAL')
  client.exec(
    'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);' +
      'CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL, title TEXT NOT NULL);' +
      'CREATE INDEX posts_author ON posts (author_id);',
  )
  const local = drizzleBetterSqlite(client, { schema })
  client.transaction(() => {
    for (let u = 1; u <= USERS; u++) {
      local
        .insert(users)
        .values({ id: u, name: `user ${u}`, email: `u${u}@example.com` })
        .run()
      for (let p = 0; p < POSTS_PER_USER; p++) {
        local
          .insert(posts)
          .values({ authorId: u, title: `post ${p} of ${u}` })
          .run()
      }
    }
  })()
  client.pragma('wal_checkpoint(TRUNCATE)')

  // The same file as an s3db database on a memory store.
  const store = new MemoryBlobStore()
  await S3db.init(store, 'bench/db/', { from: file })
  const s3db = await S3db.open(store, 'bench/db/', {
    readConsistency: { maxStalenessMs: 3_600_000 },
  })
  const db = drizzle(s3db, { schema })

  const id = (i: number) => (i % USERS) + 1
  const byId = eq(users.id, sql.placeholder('id'))
  const localPrepared = local.select().from(users).where(byId).prepare()
  const s3dbPrepared = db.select().from(users).where(byId).prepare()
  const relational = { limit: 10, with: { posts: true } } as const
  const cases: { query: string; driver: string; run: (i: number) => unknown }[] = [
    {
      query: 'select by id',
      driver: 'drizzle better-sqlite3',
      run: (i) =>
        local
          .select()
          .from(users)
          .where(eq(users.id, id(i)))
          .get(),
    },
    {
      query: 'select by id',
      driver: 's3db raw view',
      run: (i) => s3db.view((tx) => tx.get('SELECT * FROM users WHERE id = ?', [id(i)])),
    },
    {
      query: 'select by id',
      driver: '@s3db/drizzle',
      run: (i) =>
        db
          .select()
          .from(users)
          .where(eq(users.id, id(i)))
          .get(),
    },
    {
      query: 'select by id, prepared',
      driver: 'drizzle better-sqlite3',
      run: (i) => localPrepared.get({ id: id(i) }),
    },
    {
      query: 'select by id, prepared',
      driver: '@s3db/drizzle',
      run: (i) => s3dbPrepared.get({ id: id(i) }),
    },
    {
      query: 'findMany with posts',
      driver: 'drizzle better-sqlite3',
      run: () => local.query.users.findMany(relational).sync(),
    },
    {
      query: 'findMany with posts',
      driver: '@s3db/drizzle',
      run: () => db.query.users.findMany(relational),
    },
  ]

  // Same results from both drivers before timing anything.
  const a = JSON.stringify(local.query.users.findMany(relational).sync())
  const b = JSON.stringify(await db.query.users.findMany(relational))
  if (a !== b) throw new Error('the drivers disagree on the relational query')

  for (const c of cases) await measure(c.run, 300) // warm-up
  const samples = cases.map(() => [] as number[])
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      samples[i]!.push(await measure(c.run, (seconds * 1000) / ROUNDS))
    }
  }
  const rows: Record<string, string | number>[] = []
  const baseline = new Map<string, number>()
  for (const [i, c] of cases.entries()) {
    const opsPerSec = median(samples[i]!)
    if (c.driver === 'drizzle better-sqlite3') baseline.set(c.query, opsPerSec)
    rows.push({
      query: c.query,
      driver: c.driver,
      'ops/s': Math.round(opsPerSec),
      'us/op': 1e6 / opsPerSec,
      'time vs better-sqlite3': baseline.get(c.query)! / opsPerSec,
    })
  }
  report('drizzle-overhead', rows, {
    users: USERS,
    postsPerUser: POSTS_PER_USER,
    secondsPerCase: seconds,
    rounds: ROUNDS,
    store: 'MemoryBlobStore',
    readConsistency: { maxStalenessMs: 3_600_000 },
    note: 'better-sqlite3 cases use the sync API; s3db cases are awaited views. drizzle-orm/better-sqlite3 prepares a new statement for every unprepared query; s3db caches statements',
  })
  await s3db.close()
  client.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
