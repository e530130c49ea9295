/** S3-store specifics against a real MinIO: error mapping and the SDK-retry ambiguity. */
import { isS3dbError, S3BlobStore, S3db } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const skip = s3SkipReason()
if (skip) console.log(`S3 store tests SKIPPED: ${skip}`)
const text = (s: string) => new TextEncoder().encode(s)

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  )
}

describe.skipIf(Boolean(skip))('S3BlobStore against MinIO', () => {
  it('maps a missing bucket to BucketNotFound', async () => {
    const client = s3Client(s3Endpoint()!)
    const store = new S3BlobStore({ client, bucket: 'no-such-bucket-s3db' })
    const err = await caught(store.get('db/manifest.json'))
    expect(isS3dbError(err, 'BucketNotFound')).toBe(true)
    expect((err as Error).message).toContain('no-such-bucket-s3db')
    // Conditional writes too (a create-only PUT into a missing bucket is a 404,
    // which must not read as a lost race), and S3db.init says so.
    for (const options of [{ ifNoneMatch: true }, { ifMatch: 'abc' }]) {
      const put = await caught(store.put('db/manifest.json', new Uint8Array([1]), options))
      expect(isS3dbError(put, 'BucketNotFound')).toBe(true)
    }
    expect(isS3dbError(await caught(S3db.init(store, 'db/')), 'BucketNotFound')).toBe(true)
    client.destroy()
  })

  it('maps bad credentials to AccessDenied without leaking the secret', async () => {
    const endpoint = s3Endpoint()!
    const good = s3Client(endpoint)
    const bucket = await freshBucket(good, 'creds')
    const secret = 'wrong-secret-value-123'
    const bad = s3Client({ ...endpoint, accessKeyId: 'nobody', secretAccessKey: secret })
    const store = new S3BlobStore({ client: bad, bucket })
    const err = await caught(store.put('db/x', text('x')))
    expect(isS3dbError(err, 'AccessDenied')).toBe(true)
    expect(JSON.stringify({ message: (err as Error).message })).not.toContain(secret)
    good.destroy()
    bad.destroy()
  })

  it('reports a conditional PUT that the SDK re-sent after a lost response as maybeApplied, not as a lost race', async () => {
    const endpoint = s3Endpoint()!
    const client = s3Client(endpoint, { maxAttempts: 3 })
    const bucket = await freshBucket(client, 'ambig')
    const store = new S3BlobStore({ client, bucket })
    const { etag } = await store.put('db/manifest.json', text('v1'))
    // Lose the response of the first PUT attempt after MinIO applied it, as a
    // dropped connection would; the SDK then retries the same conditional PUT.
    let dropNext = true
    client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args)
        const req = args.request as { method?: string }
        if (dropNext && req.method === 'PUT') {
          dropNext = false
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} })
        }
        return result
      },
      { step: 'deserialize', name: 'dropFirstPutResponse', priority: 'low' },
    )
    const err = await caught(store.put('db/manifest.json', text('v2'), { ifMatch: etag }))
    expect(isS3dbError(err, 'StoreUnavailable')).toBe(true)
    expect((err as { maybeApplied?: boolean }).maybeApplied).toBe(true)
    // The SDK did retry, and the retry itself lost its precondition.
    expect((err as Error).message).toMatch(/after the SDK retried/)
    // And indeed the first attempt was applied.
    const now = await store.get('db/manifest.json')
    expect(now.notModified).toBe(false)
    if (!now.notModified) expect(Buffer.from(now.body).toString()).toBe('v2')
    client.destroy()
  })

  it('maps a refused connection to StoreUnavailable (not sent, so not maybeApplied)', async () => {
    const client = s3Client(
      { ...s3Endpoint()!, endpoint: 'http://127.0.0.1:1' },
      { maxAttempts: 1 },
    )
    const store = new S3BlobStore({ client, bucket: 'b' })
    const err = await caught(store.put('db/x', text('x'), { ifNoneMatch: true }))
    expect(isS3dbError(err, 'StoreUnavailable')).toBe(true)
    expect((err as { maybeApplied?: boolean }).maybeApplied).toBe(false)
    client.destroy()
  })
})
