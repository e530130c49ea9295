/**
 * Kysely's own SQLite behaviour: the same query shapes on the same schema and
 * data give the same results through S3dbKysely as through Kysely's
 * SqliteDialect on a plain better-sqlite3 database (the oracle).
 */
import { type MemoryBlobStore, S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import Database from 'better-sqlite3'
import {
  CamelCasePlugin,
  type Kysely,
  NoResultError,
  ParseJSONResultsPlugin,
  Kysely as PlainKysely,
  SqliteDialect,
  sql,
} from 'kysely'
import { jsonArrayFrom, jsonBuildObject, jsonObjectFrom } from 'kysely/helpers/sqlite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSchema, type Database as DB, insertData, openMemory, PREFIX } from './fixtures.js'

type Shape = (db: Kysely<DB>) => Promise<unknown>

/** Read-only query shapes: each is run on both databases and the results compared. */
const reads: Record<string, Shape> = {
  'select all ordered': (db) => db.selectFrom('person').selectAll().orderBy('id').execute(),
  'where, order by, limit, offset': (db) =>
    db
      .selectFrom('person')
      .select(['id', 'first_name'])
      .where('age', '>', 18)
      .where((eb) => eb.or([eb('last_name', 'is', null), eb('last_name', 'like', 'A%')]))
      .orderBy('age', 'desc')
      .limit(2)
      .offset(0)
      .execute(),
  'inner join': (db) =>
    db
      .selectFrom('person')
      .innerJoin('pet', 'pet.owner_id', 'person.id')
      .select(['person.first_name', 'pet.name as pet_name'])
      .orderBy('pet.name')
      .execute(),
  'left join with aggregate, group by, having': (db) =>
    db
      .selectFrom('person')
      .leftJoin('pet', 'pet.owner_id', 'person.id')
      .select((eb) => ['person.id', eb.fn.count<number>('pet.id').as('pets')])
      .groupBy('person.id')
      .having((eb) => eb.fn.count('pet.id'), '>=', 0)
      .orderBy('person.id')
      .execute(),
  cte: (db) =>
    db
      .with('cats', (qb) =>
        qb.selectFrom('pet').select(['id', 'owner_id']).where('species', '=', 'cat'),
      )
      .selectFrom('cats')
      .innerJoin('person', 'person.id', 'cats.owner_id')
      .select(['person.first_name', 'cats.id'])
      .orderBy('cats.id')
      .execute(),
  'recursive cte': (db) =>
    db
      .withRecursive('seq(n)', (qb) =>
        qb
          .selectNoFrom(sql<number>`1`.as('n'))
          .unionAll((qb2) =>
            qb2.selectFrom('seq').select(sql<number>`n + 1`.as('n')).where('n', '<', 10),
          ),
      )
      .selectFrom('seq')
      .select((eb) => eb.fn.sum<number>('n').as('total'))
      .execute(),
  'json helpers: jsonArrayFrom, jsonObjectFrom, jsonBuildObject': (db) =>
    db
      .selectFrom('person')
      .select((eb) => [
        'person.id',
        jsonArrayFrom(
          eb
            .selectFrom('pet')
            .select(['pet.id', 'pet.name'])
            .whereRef('pet.owner_id', '=', 'person.id')
            .orderBy('pet.id'),
        ).as('pets'),
        jsonObjectFrom(
          eb
            .selectFrom('pet')
            .select(['pet.name'])
            .whereRef('pet.owner_id', '=', 'person.id')
            .limit(1),
        ).as('first_pet'),
        jsonBuildObject({ first: eb.ref('first_name'), age: eb.ref('age') }).as('obj'),
      ])
      .orderBy('person.id')
      .execute(),
  'json path reference': (db) =>
    db
      .selectFrom('person')
      .select((eb) => [
        'id',
        eb
          .ref('meta', '->>')
          .key('n' as never)
          .as('n'),
      ])
      .where('meta', 'is not', null)
      .orderBy('id')
      .execute(),
  'subquery, exists, case, coalesce': (db) =>
    db
      .selectFrom('person')
      .select((eb) => [
        'id',
        eb.case().when('age', '<', 18).then('minor').else('adult').end().as('kind'),
        eb.fn.coalesce('last_name', sql<string>`'?'`).as('last'),
        eb
          .exists(eb.selectFrom('pet').select('pet.id').whereRef('pet.owner_id', '=', 'person.id'))
          .as('has_pet'),
        eb
          .selectFrom('toy')
          .select((e) => e.fn.max('price').as('m'))
          .as('max_toy_price'),
      ])
      .orderBy('id')
      .execute(),
  'union and distinct': (db) =>
    db
      .selectFrom('pet')
      .select(sql<string>`species`.as('v'))
      .union(db.selectFrom('person').select('first_name as v'))
      .orderBy('v')
      .execute(),
  view: (db) =>
    db
      .selectFrom('adult' as never)
      .selectAll()
      .orderBy('id' as never)
      .execute(),
  'raw sql': (db) => sql<{ n: number }>`select count(*) as n, sum(price) as s from toy`.execute(db),
  'executeTakeFirst on no rows': (db) =>
    db.selectFrom('person').selectAll().where('id', '=', -1).executeTakeFirst(),
  'executeTakeFirstOrThrow error': async (db) => {
    try {
      await db.selectFrom('person').selectAll().where('id', '=', -1).executeTakeFirstOrThrow()
      return 'no error'
    } catch (err) {
      return err instanceof NoResultError ? 'NoResultError' : String(err)
    }
  },
  'stream with chunk size': async (db) => {
    const rows: unknown[] = []
    for await (const row of db.selectFrom('toy').selectAll().orderBy('id').stream(2)) rows.push(row)
    return rows
  },
  'stream stopped early': async (db) => {
    const rows: unknown[] = []
    for await (const row of db.selectFrom('person').selectAll().orderBy('id').stream(1)) {
      rows.push(row)
      if (rows.length === 2) break
    }
    // The connection is usable afterwards.
    return [rows, await db.selectFrom('person').select('id').orderBy('id').execute()]
  },
  'plugins: ParseJSONResultsPlugin and CamelCasePlugin': (db) =>
    db
      .withPlugin(new ParseJSONResultsPlugin())
      .withPlugin(new CamelCasePlugin())
      .selectFrom('person')
      .select((eb) => [
        'firstName' as never,
        jsonArrayFrom(
          eb.selectFrom('pet').select('pet.name').whereRef('pet.owner_id', '=', 'person.id'),
        ).as('petNames'),
      ])
      .orderBy('id')
      .execute(),
  'withSchema(main)': (db) =>
    db.withSchema('main').selectFrom('pet').select(['id', 'name']).orderBy('id').execute(),
  'introspection: tables': (db) => db.introspection.getTables(),
  'introspection: schemas': (db) => db.introspection.getSchemas(),
  'read-only transaction': (db) =>
    db
      .transaction()
      .setAccessMode('read only')
      .execute((trx) => trx.selectFrom('pet').select(['name']).orderBy('name').execute()),
}

/** Write shapes, run in order on both databases; results and the table contents after each compared. */
const writes: Record<string, Shape> = {
  'insert without returning (insertId)': (db) =>
    db
      .insertInto('person')
      .values({ first_name: 'New', last_name: 'Person', age: 30, meta: null })
      .execute(),
  'insert returning': (db) =>
    db
      .insertInto('pet')
      .values({ owner_id: 5, name: 'Newpet', species: 'dog' })
      .returning(['id', 'name'])
      .executeTakeFirstOrThrow(),
  'insert many returningAll': (db) =>
    db
      .insertInto('toy')
      .values([
        { pet_id: 5, name: 'stick', price: 0 },
        { pet_id: 5, name: 'rope', price: 4.5 },
      ])
      .returningAll()
      .execute(),
  'upsert: onConflict doUpdateSet': (db) =>
    db
      .insertInto('pet')
      .values({ owner_id: 2, name: 'Catto', species: 'dog' })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet((eb) => ({ species: eb.ref('excluded.species') })),
      )
      .returning(['id', 'species'])
      .execute(),
  'upsert: onConflict doNothing': (db) =>
    db
      .insertInto('pet')
      .values({ owner_id: 2, name: 'Doggo', species: 'cat' })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst(),
  'update with numUpdatedRows': (db) =>
    db
      .updateTable('person')
      .set((eb) => ({ age: eb('age', '+', 1) }))
      .where('age', '>', 50)
      .executeTakeFirst(),
  'update returning': (db) =>
    db
      .updateTable('toy')
      .set({ price: 9.5 })
      .where('name', '=', 'ball')
      .returning(['id', 'price'])
      .execute(),
  'update from join (subquery)': (db) =>
    db
      .updateTable('toy')
      .set({ name: sql`name || '!'` })
      .where('pet_id', 'in', (eb) => eb.selectFrom('pet').select('id').where('species', '=', 'cat'))
      .executeTakeFirst(),
  'delete with numDeletedRows': (db) =>
    db.deleteFrom('toy').where('price', '<', 1).executeTakeFirst(),
  'delete returning (cascade)': (db) =>
    db.deleteFrom('person').where('first_name', '=', 'Kid').returning('id').execute(),
  'unique violation error': async (db) => {
    try {
      await db.insertInto('pet').values({ owner_id: 1, name: 'Catto', species: 'cat' }).execute()
      return 'no error'
    } catch (err) {
      const e = err as { name: string; code?: string; message: string }
      return { name: e.name, code: e.code, message: e.message }
    }
  },
  'transaction commit': (db) =>
    db.transaction().execute(async (trx) => {
      const p = await trx
        .insertInto('person')
        .values({ first_name: 'Trx', last_name: null, age: 1, meta: null })
        .returning('id')
        .executeTakeFirstOrThrow()
      await trx
        .insertInto('pet')
        .values({ owner_id: p.id, name: 'Trxpet', species: 'cat' })
        .execute()
      return p
    }),
  'transaction rollback on throw': async (db) => {
    try {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('toy').execute()
        throw new Error('boom')
      })
    } catch (err) {
      return (err as Error).message
    }
    return 'no error'
  },
  'controlled transaction with savepoints': async (db) => {
    const trx = await db.startTransaction().execute()
    await trx
      .insertInto('person')
      .values({ first_name: 'Ctl', last_name: null, age: 2, meta: null })
      .execute()
    const afterCtl = await trx.savepoint('after_ctl').execute()
    await afterCtl
      .insertInto('person')
      .values({ first_name: 'Gone', last_name: null, age: 3, meta: null })
      .execute()
    const back = await afterCtl.rollbackToSavepoint('after_ctl').execute()
    await back.releaseSavepoint('after_ctl').execute()
    await trx.commit().execute()
    return [trx.isCommitted, trx.isRolledBack]
  },
  'controlled transaction rollback': async (db) => {
    const trx = await db.startTransaction().execute()
    await trx.deleteFrom('toy').execute()
    await trx.rollback().execute()
    return [trx.isCommitted, trx.isRolledBack]
  },
  'connection(): statements on one connection': (db) =>
    db.connection().execute(async (conn) => {
      await conn
        .updateTable('person')
        .set({ last_name: 'Conn' })
        .where('last_name', 'is', null)
        .execute()
      return conn.selectFrom('person').select(['id', 'last_name']).orderBy('id').execute()
    }),
  'ddl: alter table add column, then use it': async (db) => {
    await db.schema.alterTable('person').addColumn('nick', 'text').execute()
    await db
      .updateTable('person')
      .set({ nick: 'n' } as never)
      .where('id', '<', 3)
      .execute()
    return db
      .selectFrom('person')
      .select(['id', 'nick' as never])
      .orderBy('id')
      .execute()
  },
}

async function dump(db: Kysely<DB>) {
  const out: Record<string, unknown[]> = {}
  for (const t of ['person', 'pet', 'toy'] as const) {
    out[t] = await db.selectFrom(t).selectAll().orderBy('id').execute()
  }
  return out
}

describe('S3dbKysely behaves like Kysely on SQLite', () => {
  let store: MemoryBlobStore
  let s3db: S3db
  let ours: S3dbKysely<DB>
  let oracle: Kysely<DB>

  beforeAll(async () => {
    ;({ store, s3db } = await openMemory())
    ours = new S3dbKysely<DB>({ s3db })
    oracle = new PlainKysely<DB>({
      dialect: new SqliteDialect({ database: new Database(':memory:') }),
    })
    for (const db of [ours, oracle]) {
      await createSchema(db)
      await insertData(db)
    }
  })

  afterAll(async () => {
    await oracle.destroy()
    await ours.destroy()
    await s3db.close()
  })

  for (const [name, shape] of Object.entries(reads)) {
    it(`read: ${name}`, async () => {
      const expected = await shape(oracle)
      const actual = await shape(ours)
      expect(actual).toEqual(expected)
      // A shape that returns nothing would compare nothing.
      expect(expected === undefined ? 'undefined' : 'value').toBe(
        name.includes('no rows') ? 'undefined' : 'value',
      )
    })
  }

  for (const [name, shape] of Object.entries(writes)) {
    it(`write: ${name}`, async () => {
      const expected = await shape(oracle)
      const actual = await shape(ours)
      expect(actual).toEqual(expected)
      expect(await dump(ours)).toEqual(await dump(oracle))
    })
  }

  it('a second S3db over the same store sees the same data', async () => {
    const second = await S3db.open(store, PREFIX)
    try {
      expect(await dump(new S3dbKysely<DB>({ s3db: second }))).toEqual(await dump(oracle))
    } finally {
      await second.close()
    }
  })
})
