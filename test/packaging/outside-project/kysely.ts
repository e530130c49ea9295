/** A typed Kysely transaction on the installed packages: moves 30 from ann to bob. */
import { S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import { openStore } from './store.ts'

interface Database {
  accounts: { id: number; owner: string; balance: number }
}

const s3db = await S3db.open(await openStore(), 'bank/', {
  migrations: [
    {
      version: 1,
      name: 'accounts',
      up: (tx) =>
        tx.exec(
          'CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER NOT NULL)',
        ),
    },
  ],
})
const db = new S3dbKysely<Database>({ s3db })
await db
  .insertInto('accounts')
  .values([
    { id: 1, owner: 'ann', balance: 100 },
    { id: 2, owner: 'bob', balance: 0 },
  ])
  .execute()

// A serializable transaction; the callback re-runs if another writer commits first.
await db.transaction().execute(async (trx) => {
  const from = await trx
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', 1)
    .executeTakeFirstOrThrow()
  await trx
    .updateTable('accounts')
    .set({ balance: from.balance - 30 })
    .where('id', '=', 1)
    .execute()
  await trx
    .updateTable('accounts')
    .set((eb) => ({ balance: eb('balance', '+', 30) }))
    .where('id', '=', 2)
    .execute()
})

// The types come from the installed packages: a column that does not exist is an error.
// @ts-expect-error 'email' is not a column of accounts
db.selectFrom('accounts').select('email')

const rows = await db.selectFrom('accounts').selectAll().orderBy('id').execute()
console.log(JSON.stringify(rows))
await s3db.close()
