/**
 * A listing's page size (`ListOptions.pageSize`) is what the request counts
 * and the injected latency follow: a caller that asks for a small page and
 * stops early pays one request, one that reads on pays one per page.
 */
import { MemoryBlobStore } from '@s3db/core'
import { CountingBlobStore, LatencyBlobStore } from '@s3db/core/internal'
import { describe, expect, it } from 'vitest'

async function storeWith(n: number): Promise<MemoryBlobStore> {
  const store = new MemoryBlobStore()
  for (let i = 0; i < n; i++) await store.put(`p/${String(i).padStart(3, '0')}`, new Uint8Array(1))
  return store
}

async function take(it: AsyncIterable<unknown>, n: number): Promise<number> {
  let got = 0
  for await (const _ of it) if (++got >= n) break
  return got
}

describe('paged listings', () => {
  it('count one request per page of the size asked for, and none beyond where the caller stopped', async () => {
    const counting = new CountingBlobStore(await storeWith(5))
    expect(await take(counting.list('p/', { pageSize: 2 }), 99)).toBe(5)
    expect(counting.counts.list).toBe(3)
    expect(await take(counting.list('p/', { pageSize: 2 }), 2)).toBe(2)
    expect(counting.counts.list).toBe(4)
    expect(await take(counting.list('p/'), 99)).toBe(5)
    expect(counting.counts.list).toBe(5)
  })

  it('wait one round trip per page read', async () => {
    const slow = new LatencyBlobStore(await storeWith(5), { latencyMs: 40 })
    let t0 = performance.now()
    await take(slow.list('p/', { pageSize: 2 }), 2)
    const onePage = performance.now() - t0
    t0 = performance.now()
    await take(slow.list('p/', { pageSize: 2 }), 99)
    const threePages = performance.now() - t0
    // Timers never fire early: three pages are at least three round trips.
    expect(threePages).toBeGreaterThanOrEqual(115)
    expect(onePage).toBeLessThan(threePages)
  })
})
