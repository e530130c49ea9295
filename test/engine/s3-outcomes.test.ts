/**
 * Exact outcomes through the real S3 client (MinIO): an abort while the
 * manifest CAS is on the wire, an error after S3 applied the CAS, and GC run
 * from a host whose clock is ahead (ages come from S3's Date header).
 */
import { type BlobStore, isS3dbError, S3BlobStore, S3db } from '@s3db/core'
import { collectGarbage, DatabaseKeys, epochOf, parseManifest } from '@s3db/core/internal'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { wrapStore } from '../../packages/core/test/helpers.js'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const skip = s3SkipReason()
if (skip) console.log(`S3 outcome tests SKIPPED: ${skip}`)

/** `store` with its manifest CASes intercepted (same identity as the store). */
function interceptCas(
  store: BlobStore,
  around: (put: () => Promise<{ etag: string }>) => Promise<{ etag: string }>,
): BlobStore {
  return wrapStore(store, {
    put: (k, b, o) =>
      k.endsWith('manifest.json') && o?.ifMatch
        ? around(() => store.put(k, b, o))
        : store.put(k, b, o),
  })
}

describe.skipIf(Boolean(skip))('exact outcomes on MinIO', () => {
  let client: ReturnType<typeof s3Client>
  let store: S3BlobStore
  beforeAll(async () => {
    client = s3Client(s3Endpoint()!)
    store = new S3BlobStore({ client, bucket: await freshBucket(client, 'outcomes') })
  })
  afterAll(() => client?.destroy())

  async function counterDb(prefix: string, via: BlobStore = store): Promise<S3db> {
    const db = await S3db.open(via, prefix, { autoCompact: false })
    await db.update((tx) =>
      tx.exec(
        'CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT OR IGNORE INTO counter VALUES (1, 0)',
      ),
    )
    return db
  }
  const count = (db: S3db) =>
    db.view((tx) => tx.get<{ n: number }>('SELECT n FROM counter WHERE id = 1')!.n)

  it('an abort while the CAS is on the wire resolves with the true outcome, never Aborted', async () => {
    for (let round = 0; round < 5; round++) {
      const prefix = `abort/${round}/`
      const controller = new AbortController()
      let armed = false
      const db = await counterDb(
        prefix,
        interceptCas(store, (put) => {
          const sent = put()
          if (armed) setImmediate(() => controller.abort())
          return sent
        }),
      )
      armed = true
      let runs = 0
      const outcome = await db
        .update(
          (tx) => {
            runs++
            tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
          },
          { signal: controller.signal },
        )
        .then(
          () => 'ok',
          (e: unknown) => (isS3dbError(e) ? e.code : String(e)),
        )
      expect(outcome).toBe('ok')
      expect(runs).toBe(1)
      const check = await S3db.open(store, prefix)
      expect(await count(check)).toBe(1)
      await check.close()
      await db.close()
    }
  })

  it('an error after S3 applied the CAS does not fail the write, nor apply it twice', async () => {
    const prefix = 'applied-then-error/'
    let armed = false
    const db = await counterDb(
      prefix,
      interceptCas(store, async (put) => {
        const res = await put()
        if (armed) {
          armed = false
          throw new TypeError('socket hang up')
        }
        return res
      }),
    )
    armed = true
    let runs = 0
    await db.update((tx) => {
      runs++
      tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
    })
    expect(runs).toBe(1)
    const check = await S3db.open(store, prefix)
    expect(await count(check)).toBe(1)
    await check.close()
    await db.close()
  })

  it('gc on a host almost the grace period ahead keeps an upload a writer is about to publish', async () => {
    const prefix = 'gc-skew/'
    const db = await counterDb(prefix)
    const keys = new DatabaseKeys(prefix)
    const res = await store.get(keys.manifest)
    if (res.notModified) throw new Error('notModified')
    const manifest = parseManifest(res.body, keys.manifest, prefix)
    const inFlight = keys.changeset(epochOf(manifest.snapshot.key), 'in-flight')
    await store.put(inFlight, new Uint8Array([1, 2, 3]))
    // The writer is still within its publish window (3 s after the upload); the
    // GC host's clock is ahead by just under the grace period, which the docs
    // of the old engine allowed: by its clock the upload is past the grace.
    await new Promise((r) => setTimeout(r, 3000))
    const result = await collectGarbage(store, keys, {
      gracePeriodMs: 5 * 60_000,
      now: () => Date.now() + 5 * 60_000 - 2000,
    })
    expect(result.deleted).not.toContain(inFlight)
    expect((await store.stat(inFlight)).size).toBe(3)
    await db.close()
  })
})
