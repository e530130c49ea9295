import type {
  BlobData,
  BlobInfo,
  BlobStore,
  BlobStream,
  CallOptions,
  GetOptions,
  ListEntry,
  ListOptions,
  NotModified,
  PutBody,
  PutOptions,
} from './blob-store.js'
import { listPageOf } from './blob-store.js'
import { bodySize } from './body.js'
import { deleteListed } from './store-util.js'

/** Store requests by kind, and bytes moved: what S3 bills and what latency is made of. */
export interface RequestCounts {
  get: number
  put: number
  list: number
  delete: number
  head: number
  bytesIn: number
  bytesOut: number
}

export function zeroCounts(): RequestCounts {
  return { get: 0, put: 0, list: 0, delete: 0, head: 0, bytesIn: 0, bytesOut: 0 }
}

/** `a - b`, field by field. */
export function diffCounts(a: RequestCounts, b: RequestCounts): RequestCounts {
  return {
    get: a.get - b.get,
    put: a.put - b.put,
    list: a.list - b.list,
    delete: a.delete - b.delete,
    head: a.head - b.head,
    bytesIn: a.bytesIn - b.bytesIn,
    bytesOut: a.bytesOut - b.bytesOut,
  }
}

/** Total requests of any kind. */
export function totalRequests(c: RequestCounts): number {
  return c.get + c.put + c.list + c.delete + c.head
}

/**
 * Wraps a store and counts every request it sends (a list counts one request per
 * 1000 keys, as S3 pages; a deleteMany one per 1000 keys).
 */
export class CountingBlobStore implements BlobStore {
  readonly inner: BlobStore
  readonly counts: RequestCounts = zeroCounts()

  constructor(inner: BlobStore) {
    this.inner = inner
  }

  snapshot(): RequestCounts {
    return { ...this.counts }
  }

  async get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    this.counts.get++
    const res = await this.inner.get(key, options)
    if (!res.notModified) this.counts.bytesIn += res.body.byteLength
    return res
  }

  async getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    this.counts.get++
    const res = await this.inner.getStream(key, options)
    if (res.notModified) return res
    const counts = this.counts
    const inner = res.body
    const counted = {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner) {
          counts.bytesIn += chunk.byteLength
          yield chunk
        }
      },
      destroy: (err?: Error) => inner.destroy?.(err),
    }
    return { ...res, body: counted }
  }

  stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    this.counts.head++
    return this.inner.stat(key, options)
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }> {
    this.counts.put++
    this.counts.bytesOut += bodySize(body)
    return this.inner.put(key, body, options)
  }

  /** A server-side copy: billed as a PUT-class request (S3 prices COPY like PUT), no bytes moved. */
  get copy():
    | ((from: string, to: string, options?: CallOptions) => Promise<{ etag: string }>)
    | undefined {
    const inner = this.inner
    if (!inner.copy) return undefined
    return (from, to, options) => {
      this.counts.put++
      return inner.copy!(from, to, options)
    }
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    this.counts.list++
    const page = listPageOf(options)
    let n = 0
    for await (const entry of this.inner.list(prefix, options)) {
      // The first entry of each later page took a request of its own.
      if (n > 0 && n % page === 0) this.counts.list++
      n++
      yield entry
    }
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    this.counts.delete++
    return this.inner.delete(key, options)
  }

  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    this.counts.delete += Math.ceil(keys.length / 1000)
    return this.inner.deleteMany(keys, options)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }
}
