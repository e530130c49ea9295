import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type BlobStore,
  checkStore,
  FileSystemBlobStore,
  MemoryBlobStore,
  S3BlobStore,
} from '@s3db/core'
import { IgnoreConditionsStore } from '@s3db/core/internal'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

async function allKeys(store: BlobStore): Promise<string[]> {
  const keys: string[] = []
  for await (const e of store.list('')) keys.push(e.key)
  return keys
}

describe('checkStore', () => {
  it('passes a store with real conditional writes and leaves nothing behind', async () => {
    const store = new MemoryBlobStore()
    await store.put('other/keep', new Uint8Array([1]))
    const report = await checkStore(store, 'app/db/')
    expect(report.ok).toBe(true)
    expect(report.checks.map((c) => c.name)).toEqual([
      'write and read back',
      'create-only write (If-None-Match: *)',
      'compare-and-swap with a stale ETag (If-Match)',
      '8 concurrent compare-and-swap writers',
      'conditional read (If-None-Match)',
    ])
    expect(report.checks.every((c) => c.ok)).toBe(true)
    expect(await allKeys(store)).toEqual(['other/keep'])
  })

  it('reports a store that ignores If-Match and If-None-Match', async () => {
    const store = new IgnoreConditionsStore(new MemoryBlobStore())
    const report = await checkStore(store, 'app/db/')
    expect(report.ok).toBe(false)
    const failed = report.checks.filter((c) => !c.ok && c.required).map((c) => c.name)
    expect(failed).toEqual([
      'create-only write (If-None-Match: *)',
      'compare-and-swap with a stale ETag (If-Match)',
      '8 concurrent compare-and-swap writers',
    ])
    expect(report.checks.find((c) => c.name.includes('stale'))?.detail).toMatch(
      /ignores conditional writes/,
    )
    expect(await allKeys(store)).toEqual([])
  })

  it('reports an unreachable store instead of throwing', async () => {
    const store = new MemoryBlobStore()
    store.put = async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:1')
    }
    const report = await checkStore(store, 'db/')
    expect(report.ok).toBe(false)
    expect(report.checks).toContainEqual(
      expect.objectContaining({
        name: 'store reachable',
        ok: false,
        detail: expect.stringContaining('ECONNREFUSED'),
      }),
    )
  })

  it('passes the filesystem store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3db-check-'))
    const store = await FileSystemBlobStore.open(dir)
    try {
      const report = await checkStore(store, 'db/')
      expect(report.ok).toBe(true)
      expect(await allKeys(store)).toEqual([])
    } finally {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it.skipIf(Boolean(s3SkipReason()))('passes MinIO', async () => {
    const client = s3Client(s3Endpoint()!)
    const store = new S3BlobStore({ client, bucket: await freshBucket(client, 'check') })
    const report = await checkStore(store, 'db/')
    expect(report.checks.filter((c) => !c.ok)).toEqual([])
    expect(await allKeys(store)).toEqual([])
    client.destroy()
  })
})
