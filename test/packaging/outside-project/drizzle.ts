/** Drizzle on the installed packages: the drizzle-kit migrations, a transaction, a relational query. */
import { S3db } from '@s3db/core'
import { drizzle, migrate } from '@s3db/drizzle'
import * as schema from './schema.ts'
import { openStore } from './store.ts'

const s3db = await S3db.open(await openStore(), 'blog/')
const db = drizzle(s3db, { schema })
await migrate(db, { migrationsFolder: './drizzle' })

// One serializable update: may run more than once, so it only touches tx.
await db.transaction(async (tx) => {
  const [ann] = await tx.insert(schema.users).values({ name: 'ann' }).returning()
  await tx.insert(schema.posts).values([
    { userId: ann!.id, title: 'first' },
    { userId: ann!.id, title: 'second' },
  ])
})

const users = await db.query.users.findMany({
  with: { posts: { orderBy: (p, { asc }) => asc(p.id) } },
})
console.log(JSON.stringify(users))
await s3db.close()
