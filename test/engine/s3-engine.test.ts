/** The engine over real S3 (MinIO): the full protocol path against conditional writes on the wire. */
import { isS3dbError, S3BlobStore, S3db } from '@s3db/core'
import { CountingBlobStore, diffCounts } from '@s3db/core/internal'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectReplayMatches } from '../../packages/core/test/helpers.js'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const skip = s3SkipReason()
if (skip) console.log(`S3 engine tests SKIPPED: ${skip}`)

describe.skipIf(Boolean(skip))('S3db on MinIO', () => {
  let client: ReturnType<typeof s3Client>
  let store: S3BlobStore
  beforeAll(async () => {
    client = s3Client(s3Endpoint()!)
    store = new S3BlobStore({ client, bucket: await freshBucket(client, 'engine') })
  })
  afterAll(() => client?.destroy())

  it('commits with 2 requests, reads with 1, and stays exact under 8 concurrent writers from 2 instances', async () => {
    const counting = new CountingBlobStore(store)
    const prefix = 'engine/counter/'
    const a = await S3db.open(counting, prefix, { autoCompact: false })
    const b = await S3db.open(store, prefix, { autoCompact: false })
    await a.update((tx) =>
      tx.exec('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)'),
    )
    await a.update((tx) => tx.run('INSERT INTO counter VALUES (1, 0)'))
    let before = counting.snapshot()
    await a.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1'))
    expect(diffCounts(counting.snapshot(), before)).toMatchObject({ put: 2, get: 0 })
    before = counting.snapshot()
    await a.view((tx) => tx.get('SELECT n FROM counter'))
    expect(diffCounts(counting.snapshot(), before)).toMatchObject({ put: 0, get: 1 })
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 ? a : b).update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')),
      ),
    )
    expect(await b.view((tx) => tx.get('SELECT n FROM counter'))).toEqual({ n: 9 })
    await expectReplayMatches(store, prefix, [a, b])
    await a.close()
    await b.close()
  })

  it('compacts, collects garbage, and migrates on MinIO', async () => {
    const prefix = 'engine/ops/'
    const db = await S3db.open(store, prefix, {
      autoCompact: false,
      migrations: [
        {
          version: 1,
          name: 'init',
          up: (tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'),
        },
      ],
    })
    for (let i = 0; i < 5; i++)
      await db.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, 'x'.repeat(100)]))
    const compacted = await db.compact()
    expect(compacted).toMatchObject({ compacted: true, folded: 5 })
    const gc = await db.gc({ gracePeriod: 0, minAge: 0 })
    expect(gc.deleted.length).toBeGreaterThanOrEqual(6)
    const other = await S3db.open(store, prefix)
    expect(await other.view((tx) => tx.get('SELECT count(*) AS n FROM t'))).toEqual({ n: 5 })
    expect(other.stats()).toMatchObject({ schemaVersion: 1, logLength: 0 })
    await expectReplayMatches(store, prefix, [db, other])
    await db.close()
    await other.close()
  })

  it('keeps databases with prefixes that are prefixes of each other apart, gc included', async () => {
    const one = await S3db.open(store, 'app/db/', { autoCompact: false })
    const two = await S3db.open(store, 'app/db2/', { autoCompact: false })
    await one.update((tx) => tx.exec('CREATE TABLE only_one (id INTEGER PRIMARY KEY)'))
    await two.update((tx) => tx.exec('CREATE TABLE only_two (id INTEGER PRIMARY KEY)'))
    await one.compact()
    await one.gc({ gracePeriod: 0, minAge: 0 })
    expect(
      await two.view((tx) => tx.all("SELECT name FROM sqlite_schema WHERE type = 'table'")),
    ).toEqual([{ name: 'only_two' }])
    const reopened = await S3db.open(store, 'app/db2/')
    expect(
      await reopened.view((tx) => tx.all("SELECT name FROM sqlite_schema WHERE type = 'table'")),
    ).toEqual([{ name: 'only_two' }])
    await Promise.all([one.close(), two.close(), reopened.close()])
  })

  it('reports a missing bucket clearly', async () => {
    const bad = new S3BlobStore({ client, bucket: 'no-such-bucket-engine' })
    const err = await S3db.open(bad, 'db/').catch((e: unknown) => e)
    expect(isS3dbError(err, 'BucketNotFound')).toBe(true)
  })
})
