/** The dialect on a past state (S3db.open with `at`): reads work unchanged, writes are ReadOnly. */
import { isS3dbError, MemoryBlobStore, S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import { expect, it } from 'vitest'
import { PREFIX } from './fixtures.js'

interface Db {
  person: { id: number; name: string }
}

it('reads a past seq through Kysely, and refuses writes and transactions on it', async () => {
  const store = new MemoryBlobStore()
  const live = await S3db.open(store, PREFIX, { history: { retain: '1d' } })
  await live.update((tx) => tx.exec('CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT)'))
  await live.update((tx) => tx.run("INSERT INTO person VALUES (1, 'ann')"))
  const seq = live.stats().seq
  await live.update((tx) => tx.run("UPDATE person SET name = 'dropped'"))
  const past = await S3db.open(store, PREFIX, { at: { seq } })
  const db = new S3dbKysely<Db>({ s3db: past })
  expect(await db.selectFrom('person').selectAll().execute()).toEqual([{ id: 1, name: 'ann' }])
  // Introspection works on it too.
  expect((await db.introspection.getTables()).map((t) => t.name)).toEqual(['person'])
  const write = await db
    .insertInto('person')
    .values({ id: 2, name: 'bob' })
    .execute()
    .catch((e: unknown) => e)
  expect(isS3dbError(write, 'ReadOnly')).toBe(true)
  const tx = await db
    .transaction()
    .execute((t) => t.deleteFrom('person').execute())
    .catch((e: unknown) => e)
  expect(isS3dbError(tx, 'ReadOnly')).toBe(true)
  expect(await db.selectFrom('person').select('name').execute()).toEqual([{ name: 'ann' }])
  await db.destroy()
  await past.close()
  await live.close()
})
