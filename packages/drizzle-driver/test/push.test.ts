/**
 * pushSchema(): drizzle-kit's push (programmatic API) through the driver, in
 * one update: creates the schema, is idempotent, refuses data loss unless
 * allowed, and concurrent pushes apply once.
 */
import { MemoryBlobStore } from '@s3db/core'
import { pushSchema } from '@s3db/drizzle'
import { sql } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, describe, expect, it } from 'vitest'
import { type Opened, openDrizzle, schema } from './support.js'

const opened: Opened[] = []
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()))
})

async function open(store = new MemoryBlobStore()): Promise<Opened> {
  const o = await openDrizzle(store)
  opened.push(o)
  return o
}

const tables = (o: Opened) =>
  o.db
    .all<{ name: string }>(
      sql`select name from sqlite_schema where type = 'table' and name not like 'sqlite_%' order by name`,
    )
    .then((rows) => rows.map((r) => r.name))

describe('pushSchema', { timeout: 120_000 }, () => {
  it('creates the schema in one commit, then finds nothing to do', async () => {
    const store = new MemoryBlobStore()
    const a = await open(store)
    const seq = a.s3db.stats().seq
    const dry = await pushSchema(a.db, schema, { dryRun: true })
    expect(dry.applied).toBe(false)
    expect(dry.statements.some((s) => s.includes('CREATE TABLE `users`'))).toBe(true)
    expect(a.s3db.stats().seq).toBe(seq)

    const result = await pushSchema(a.db, schema)
    expect(result).toMatchObject({ applied: true, hasDataLoss: false })
    expect(a.s3db.stats().seq).toBe(seq + 1)
    const b = await open(store)
    expect(await tables(b)).toEqual([
      'accounts',
      'comments',
      'counters',
      'post_tags',
      'posts',
      'tags',
      'users',
    ])
    await b.db.insert(schema.tags).values({ id: 1, name: 'pushed' })
    expect(await b.db.select().from(schema.tags)).toEqual([{ id: 1, name: 'pushed' }])
    expect(await pushSchema(b.db, schema)).toMatchObject({ statements: [], applied: false })
  })

  it('refuses a push that loses data unless allowDataLoss', async () => {
    const a = await open()
    const notes = sqliteTable('notes', { id: integer().primaryKey(), body: text() })
    const counters = sqliteTable('counters', { id: integer().primaryKey() })
    await pushSchema(a.db, { notes, counters })
    await a.db.insert(notes).values({ id: 1, body: 'b' })
    const seq = a.s3db.stats().seq
    // Dropping a table that holds rows is data loss.
    await expect(pushSchema(a.db, { counters })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/allowDataLoss/),
    })
    expect(a.s3db.stats().seq).toBe(seq)
    expect(await tables(a)).toEqual(['counters', 'notes'])
    const forced = await pushSchema(a.db, { counters }, { allowDataLoss: true })
    expect(forced).toMatchObject({ applied: true, hasDataLoss: true })
    expect(await tables(a)).toEqual(['counters'])
  })

  it('3 instances pushing at once apply the schema once', async () => {
    const store = new MemoryBlobStore()
    const all = await Promise.all([open(store), open(store), open(store)])
    const results = await Promise.all(all.map((o) => pushSchema(o.db, schema)))
    expect(results.filter((r) => r.applied)).toHaveLength(1)
    for (const o of all) expect(await tables(o)).toContain('users')
  })
})
