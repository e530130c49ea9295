/**
 * migrate() with drizzle-kit's migrations (0000 init, 0001 rebuilding posts,
 * which comments references, to add a foreign key, 0002 data only): one
 * update, each migration once under concurrency, foreign keys off for the
 * rebuild but checked before commit, compatible with drizzle's own migrator.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryBlobStore, MigrationFailedError, S3db } from '@s3db/core'
import { migrate } from '@s3db/drizzle'
import Database from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import { drizzle as drizzleBetterSqlite } from 'drizzle-orm/better-sqlite3'
import { migrate as migrateBetterSqlite } from 'drizzle-orm/better-sqlite3/migrator'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir } from '../../core/test/helpers.js'
import { migrationsFolder, type Opened, openDrizzle, PREFIX, schema } from './support.js'

const journal = JSON.parse(
  readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8'),
) as {
  entries: { idx: number; tag: string; when: number }[]
}
const TAGS = journal.entries.map((e) => e.tag)

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** A copy of the migrations folder with only the first `n` migrations (an older app version). */
async function firstMigrations(n: number, extraSql?: string): Promise<string> {
  const { dir, cleanup } = await tempDir('drizzle-migrations')
  cleanups.push(cleanup)
  mkdirSync(join(dir, 'meta'))
  const entries = journal.entries.slice(0, n)
  for (const e of entries)
    copyFileSync(join(migrationsFolder, `${e.tag}.sql`), join(dir, `${e.tag}.sql`))
  if (extraSql !== undefined) {
    const tag = '0099_extra'
    writeFileSync(join(dir, `${tag}.sql`), extraSql)
    entries.push({ ...journal.entries[0]!, tag, idx: n, when: journal.entries.at(-1)!.when + 1000 })
  }
  writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries }))
  return dir
}

async function open(store = new MemoryBlobStore()): Promise<Opened> {
  const o = await openDrizzle(store)
  cleanups.push(o.close)
  return o
}

const tableNames = (o: Opened) =>
  o.db
    .all<{ name: string }>(
      sql`select name from sqlite_schema where type = 'table' and name not like 'sqlite_%' order by name`,
    )
    .then((rows) => rows.map((r) => r.name))

describe('migrate', () => {
  it('applies every migration in one commit; a second run applies and publishes nothing', async () => {
    const store = new MemoryBlobStore()
    const a = await open(store)
    const seq = a.s3db.stats().seq
    const first = await migrate(a.db, { migrationsFolder })
    expect(first.applied.map((m) => m.tag)).toEqual(TAGS)
    expect(a.s3db.stats().seq).toBe(seq + 1)
    const again = await migrate(a.db, { migrationsFolder })
    expect(again.applied).toEqual([])
    expect(a.s3db.stats().seq).toBe(seq + 1)

    const b = await open(store)
    expect(await tableNames(b)).toEqual([
      '__drizzle_migrations',
      'accounts',
      'comments',
      'counters',
      'post_tags',
      'posts',
      'tags',
      'users',
    ])
    expect(await b.db.select().from(schema.tags)).toEqual([
      { id: 1, name: 'news' },
      { id: 2, name: 'howto' },
    ])
    expect((await migrate(b.db, { migrationsFolder })).applied).toEqual([])
  })

  it('rebuilds a referenced table with foreign keys off: referencing rows survive, the new FK exists', async () => {
    const store = new MemoryBlobStore()
    const a = await open(store)
    await migrate(a.db, { migrationsFolder: await firstMigrations(1) })
    await a.db.batch([
      a.db.insert(schema.users).values({ id: 1, name: 'u', email: 'u@x', createdAt: new Date(0) }),
      a.db.insert(schema.posts).values({ id: 1, authorId: 1, title: 'p' }),
      a.db.insert(schema.comments).values({ id: 1, postId: 1, authorId: 1, body: 'c' }),
    ])
    const result = await migrate(a.db, { migrationsFolder })
    expect(result.applied.map((m) => m.tag)).toEqual(TAGS.slice(1))
    const b = await open(store)
    // DROP TABLE posts with foreign keys on would have cascaded to comments.
    expect(await b.db.select({ body: schema.comments.body }).from(schema.comments)).toEqual([
      { body: 'c' },
    ])
    expect(
      await b.db.all(sql`select "table", "from", "to" from pragma_foreign_key_list('posts')`),
    ).toEqual([{ table: 'users', from: 'author_id', to: 'id' }])
    // Enforcement is back on after the migration.
    await expect(
      b.db.insert(schema.posts).values({ id: 2, authorId: 404, title: 'orphan' }),
    ).rejects.toMatchObject({ cause: { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' } })
  })

  it('fails, publishing nothing, when the rebuilt table violates its new foreign key', async () => {
    const a = await open()
    await migrate(a.db, { migrationsFolder: await firstMigrations(1) })
    // Allowed before 0001: posts.author_id has no foreign key yet.
    await a.db.insert(schema.posts).values({ id: 1, authorId: 404, title: 'orphan' })
    const seq = a.s3db.stats().seq
    await expect(migrate(a.db, { migrationsFolder })).rejects.toThrow(/foreign key check failed/)
    expect(a.s3db.stats().seq).toBe(seq)
    expect(await a.db.all(sql`select count(*) as n from __drizzle_migrations`)).toEqual([{ n: 1 }])
  })

  it('a failing migration rejects with MigrationFailedError naming it, publishing nothing', async () => {
    const a = await open()
    await migrate(a.db, { migrationsFolder: await firstMigrations(1) })
    const seq = a.s3db.stats().seq
    const err = await migrate(a.db, {
      migrationsFolder: await firstMigrations(1, 'CREATE TABLE broken (;'),
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MigrationFailedError)
    expect((err as Error).message).toMatch(/0099_extra/)
    expect(a.s3db.stats().seq).toBe(seq)
  })

  it('a failure after earlier migrations of the same call publishes none of them', async () => {
    const a = await open()
    const seq = a.s3db.stats().seq
    const err = await migrate(a.db, {
      migrationsFolder: await firstMigrations(3, 'CREATE TABLE broken (;'),
    }).catch((e: unknown) => e)
    // (@s3db/core alone would report "no such table" here: the driver keeps the real error.)
    expect(err).toBeInstanceOf(MigrationFailedError)
    expect((err as Error).message).toMatch(/0099_extra/)
    expect(a.s3db.stats().seq).toBe(seq)
    expect(await tableNames(a)).toEqual([])
  })

  it('4 instances migrating at once: each migration is applied exactly once', async () => {
    const store = new MemoryBlobStore()
    const all = await Promise.all(Array.from({ length: 4 }, () => open(store)))
    const results = await Promise.all(all.map((o) => migrate(o.db, { migrationsFolder })))
    const applied = results.flatMap((r) => r.applied.map((m) => m.tag)).sort()
    expect(applied).toEqual([...TAGS].sort())
    for (const o of all) {
      expect(
        await o.db.all(sql`select id, hash from __drizzle_migrations order by created_at`),
      ).toHaveLength(TAGS.length)
      expect(await o.db.$count(schema.tags)).toBe(2)
    }
  })

  it('is compatible with drizzle-orm/better-sqlite3 migrate, both ways', async () => {
    const { dir, cleanup } = await tempDir('drizzle-compat')
    cleanups.push(cleanup)
    // A file migrated by drizzle's own migrator up to 0001, then imported into s3db.
    const file = join(dir, 'local.sqlite')
    const local = new Database(file)
    migrateBetterSqlite(drizzleBetterSqlite(local), {
      migrationsFolder: await firstMigrations(2),
    })
    local.close()
    const store = new MemoryBlobStore()
    await S3db.init(store, PREFIX, { from: file })
    const a = await open(store)
    expect((await migrate(a.db, { migrationsFolder })).applied.map((m) => m.tag)).toEqual([TAGS[2]])
    // And back: drizzle's migrator finds nothing to do on a database s3db migrated.
    const pulled = join(dir, 'pulled.sqlite')
    await S3db.pull(store, PREFIX, pulled)
    const back = new Database(pulled)
    migrateBetterSqlite(drizzleBetterSqlite(back), { migrationsFolder })
    expect(back.prepare('select count(*) as n from tags').get()).toEqual({ n: 2 })
    expect(back.prepare('select count(*) as n from __drizzle_migrations').get()).toEqual({ n: 3 })
    back.close()
  })
})
