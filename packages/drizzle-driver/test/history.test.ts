/** The driver on a past state (S3db.open with `at`): reads work unchanged, writes are ReadOnly. */
import { isS3dbError, MemoryBlobStore, S3db } from '@s3db/core'
import { drizzle } from '@s3db/drizzle'
import { eq } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { expect, it } from 'vitest'

const person = sqliteTable('person', { id: integer('id').primaryKey(), name: text('name') })

it('reads a past seq through Drizzle, and refuses writes and transactions on it', async () => {
  const store = new MemoryBlobStore()
  const live = await S3db.open(store, 'app/db/', { history: { retain: '1d' } })
  await live.update((tx) => tx.exec('CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)'))
  await live.update((tx) => tx.run("INSERT INTO person VALUES (1, 'ann'), (2, 'bob')"))
  const seq = live.stats().seq
  await live.update((tx) => tx.run('DELETE FROM person'))
  const past = await S3db.open(store, 'app/db/', { at: { time: Date.now() } })
  expect(past.pinnedSeq).toBe(seq + 1)
  await past.close()
  const at = await S3db.open(store, 'app/db/', { at: { seq } })
  const db = drizzle(at, { schema: { person } })
  expect(await db.select().from(person).orderBy(person.id)).toEqual([
    { id: 1, name: 'ann' },
    { id: 2, name: 'bob' },
  ])
  expect(await db.query.person.findFirst({ where: eq(person.id, 2) })).toEqual({
    id: 2,
    name: 'bob',
  })
  const write = await db
    .insert(person)
    .values({ id: 3, name: 'cat' })
    .catch((e: unknown) => e)
  expect(isS3dbError(write, 'ReadOnly')).toBe(true)
  const tx = await db
    .transaction(async (t) => {
      await t.delete(person)
    })
    .catch((e: unknown) => e)
  expect(isS3dbError(tx, 'ReadOnly')).toBe(true)
  await at.close()
  await live.close()
})
