/** Shared schema, data and helpers of the Kysely dialect tests. */
import { MemoryBlobStore, S3db, type S3dbOptions } from '@s3db/core'
import { type Generated, type Kysely, sql } from 'kysely'

export interface Database {
  person: {
    id: Generated<number>
    first_name: string
    last_name: string | null
    age: number
    meta: string | null
  }
  pet: {
    id: Generated<number>
    owner_id: number
    name: string
    species: 'cat' | 'dog' | 'hamster'
  }
  toy: {
    id: Generated<number>
    pet_id: number
    name: string
    price: number
  }
  account: {
    id: number
    balance: number
  }
  counter: {
    id: number
    n: number
  }
}

export const PREFIX = 'kysely/db/'

/** Creates the test schema through Kysely (works on any dialect). */
export async function createSchema(db: Kysely<Database>): Promise<void> {
  await db.schema
    .createTable('person')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('first_name', 'text', (c) => c.notNull())
    .addColumn('last_name', 'text')
    .addColumn('age', 'integer', (c) => c.notNull())
    .addColumn('meta', 'text')
    .execute()
  await db.schema
    .createTable('pet')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('owner_id', 'integer', (c) =>
      c.notNull().references('person.id').onDelete('cascade'),
    )
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('species', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('toy')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('pet_id', 'integer', (c) => c.notNull().references('pet.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('price', 'real', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('pet_owner').on('pet').column('owner_id').execute()
  await db.schema
    .createTable('account')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('balance', 'integer', (c) => c.notNull())
    .execute()
  await db.schema
    .createTable('counter')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('n', 'integer', (c) => c.notNull())
    .execute()
  await sql`CREATE VIEW adult AS SELECT id, first_name FROM person WHERE age >= 18`.execute(db)
}

/** Inserts the same rows on any dialect. */
export async function insertData(db: Kysely<Database>): Promise<void> {
  await db
    .insertInto('person')
    .values([
      { first_name: 'Jennifer', last_name: 'Aniston', age: 54, meta: '{"tags":["a","b"],"n":1}' },
      { first_name: 'Arnold', last_name: 'Schwarzenegger', age: 76, meta: null },
      { first_name: 'Sylvester', last_name: null, age: 77, meta: '{"tags":[],"n":2}' },
      { first_name: 'Kid', last_name: 'Doe', age: 9, meta: null },
    ])
    .execute()
  await db
    .insertInto('pet')
    .values([
      { owner_id: 1, name: 'Catto', species: 'cat' },
      { owner_id: 1, name: 'Doggo', species: 'dog' },
      { owner_id: 2, name: 'Hammo', species: 'hamster' },
      { owner_id: 3, name: 'Kitty', species: 'cat' },
    ])
    .execute()
  await db
    .insertInto('toy')
    .values([
      { pet_id: 1, name: 'ball', price: 1.5 },
      { pet_id: 1, name: 'mouse', price: 2.25 },
      { pet_id: 2, name: 'bone', price: 3 },
      { pet_id: 4, name: 'yarn', price: 0.75 },
    ])
    .execute()
}

/** Opens an S3db on a fresh (or given) memory store. */
export async function openMemory(
  options: S3dbOptions = {},
  store = new MemoryBlobStore(),
): Promise<{ store: MemoryBlobStore; s3db: S3db }> {
  const s3db = await S3db.open(store, PREFIX, options)
  return { store, s3db }
}
