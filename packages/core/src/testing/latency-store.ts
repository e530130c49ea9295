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
} from '../store/blob-store.js'
import { listPageOf } from '../store/blob-store.js'
import { bodySize } from '../store/body.js'
import { deleteListed } from '../store/store-util.js'
import { sleep } from '../util/sleep.js'

/** Options of {@link LatencyBlobStore}. */
export interface LatencyOptions {
  /** Round-trip time added to every request (ms). Default 20. */
  latencyMs?: number
  /** Bytes per second of the simulated link; 0 = unlimited. Default 0. */
  bytesPerSecond?: number
}

/**
 * Shapes another store like a network store: each request waits one round trip
 * plus its transfer time. For benchmarks: results become multiples of the round
 * trip, comparable across machines.
 */
export class LatencyBlobStore implements BlobStore {
  readonly inner: BlobStore
  readonly latencyMs: number
  readonly bytesPerSecond: number

  constructor(inner: BlobStore, options: LatencyOptions = {}) {
    this.inner = inner
    this.latencyMs = options.latencyMs ?? 20
    this.bytesPerSecond = options.bytesPerSecond ?? 0
  }

  #transfer(bytes: number): number {
    return this.bytesPerSecond > 0 ? (bytes / this.bytesPerSecond) * 1000 : 0
  }

  async get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    await sleep(this.latencyMs, options?.signal)
    const res = await this.inner.get(key, options)
    if (!res.notModified) await sleep(this.#transfer(res.body.byteLength), options?.signal)
    return res
  }

  async getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    await sleep(this.latencyMs, options?.signal)
    const res = await this.inner.getStream(key, options)
    if (res.notModified || this.bytesPerSecond === 0) return res
    const inner = res.body
    const perByte = 1000 / this.bytesPerSecond
    const shaped = {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner) {
          await sleep(chunk.byteLength * perByte)
          yield chunk
        }
      },
      destroy: (err?: Error) => inner.destroy?.(err),
    }
    return { ...res, body: shaped }
  }

  async stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    await sleep(this.latencyMs, options?.signal)
    return this.inner.stat(key, options)
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }> {
    await sleep(this.latencyMs + this.#transfer(bodySize(body)), options?.signal)
    return this.inner.put(key, body, options)
  }

  /** A server-side copy: one round trip, no bytes through the client. */
  get copy():
    | ((from: string, to: string, options?: CallOptions) => Promise<{ etag: string }>)
    | undefined {
    const inner = this.inner
    if (!inner.copy) return undefined
    return async (from, to, options) => {
      await sleep(this.latencyMs, options?.signal)
      return inner.copy!(from, to, options)
    }
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    await sleep(this.latencyMs, options?.signal)
    const page = listPageOf(options)
    let n = 0
    for await (const entry of this.inner.list(prefix, options)) {
      // Each later page is a round trip of its own.
      if (n > 0 && n % page === 0) await sleep(this.latencyMs, options?.signal)
      n++
      yield entry
    }
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    await sleep(this.latencyMs, options?.signal)
    return this.inner.delete(key, options)
  }

  async deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    await sleep(this.latencyMs * Math.max(1, Math.ceil(keys.length / 1000)), options?.signal)
    return this.inner.deleteMany(keys, options)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }
}
