/**
 * @s3db/drizzle against MinIO (real conditional PUTs): several instances
 * migrating at once, concurrent read-then-write transactions on one row and
 * bank transfers with exact results, and relational queries after commits.
 */
import { MemoryBlobStore, S3BlobStore } from '@s3db/core'
import { migrate } from '@s3db/drizzle'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  migrationsFolder,
  type Opened,
  openDrizzle,
  schema,
} from '../../packages/drizzle-driver/test/support.js'
import {
  incrementConcurrently,
  transferConcurrently,
} from '../../packages/drizzle-driver/test/workloads.js'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const skip = s3SkipReason()
if (skip) console.log(`drizzle MinIO tests SKIPPED: ${skip}`)

describe.skipIf(Boolean(skip))('drizzle on MinIO', { timeout: 180_000 }, () => {
  let client: ReturnType<typeof s3Client>
  let bucket: string
  const opened: Opened[] = []
  let n = 0

  beforeAll(async () => {
    client = s3Client(s3Endpoint()!)
    bucket = await freshBucket(client, 'drizzle')
  })
  afterAll(async () => {
    await Promise.all(opened.map((o) => o.close()))
    client?.destroy()
  })

  /** `count` instances of a fresh database in the bucket, migrated concurrently. */
  async function instances(count: number): Promise<Opened[]> {
    const prefix = `db${n++}/`
    const store = new S3BlobStore({ client, bucket })
    const all = await Promise.all(
      Array.from({ length: count }, () => openDrizzle(store, {}, prefix)),
    )
    opened.push(...all)
    const results = await Promise.all(all.map((o) => migrate(o.db, { migrationsFolder })))
    expect(results.flatMap((r) => r.applied).length).toBe(3)
    return all
  }

  it('10 concurrent read-then-write transactions from 2 instances on one row are exact', async () => {
    const all = await instances(2)
    const { runs } = await incrementConcurrently(
      all.map((o) => o.db),
      10,
      3,
    )
    console.log(`MinIO: 30 increments from 2 instances took ${runs} callback runs`)
  })

  it('bank transfers: 8 concurrent workers over 2 instances conserve money exactly', async () => {
    const all = await instances(2)
    const { committed, skipped, runs } = await transferConcurrently(
      all.map((o) => o.db),
      8,
      4,
    )
    expect(committed + skipped).toBe(32)
    console.log(`MinIO: ${committed} transfers committed, ${skipped} skipped, ${runs} runs`)
  })

  it('relational queries on one instance see commits from another, like on the memory store', async () => {
    const [a, b] = await instances(2)
    const mem = await openDrizzle(new MemoryBlobStore())
    opened.push(mem)
    await migrate(mem.db, { migrationsFolder })
    for (const db of [a!.db, mem.db]) {
      await db.transaction(async (tx) => {
        await tx
          .insert(schema.users)
          .values({ id: 1, name: 'Ada', email: 'a@x', createdAt: new Date(0) })
        await tx.insert(schema.posts).values({ id: 1, authorId: 1, title: 'p1' })
        await tx.insert(schema.postTags).values({ postId: 1, tagId: 2 })
      })
    }
    const query = (db: Opened['db']) =>
      db.query.users.findMany({ with: { posts: { with: { postTags: { with: { tag: true } } } } } })
    const seen = await query(b!.db)
    expect(seen).toEqual(await query(mem.db))
    expect(seen[0]?.posts[0]?.postTags[0]?.tag.name).toBe('howto')
  })
})
